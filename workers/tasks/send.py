"""Send tasks: the hourly planner and the batch sender (queue ``send``).

Tasks take ids only and are idempotent: every state change is a compare-and-set in ``service.digest.claim``,
so a task delivered twice (``acks_late`` redelivery, a killed worker) finds its deliveries already claimed or
sent and does nothing. Only "not accepted, try later" errors are retried; permanent and unknown outcomes are
recorded on the delivery and never retried.
"""

from __future__ import annotations

import datetime as dt

from service.digest.schedule import local_dates
from service.digest.send import batches, prepare_date
from service.digest.send import send_batch as send_batch_now
from workers.app import MAX_COUNTDOWN_S, celery_app, get_runtime

MAX_RETRIES = 5
RETRY_BASE_S = 60


@celery_app.task(name="workers.tasks.send.plan_due_digests", acks_late=True)
def plan_due_digests(now_iso: str | None = None) -> dict[str, int]:
    """Hourly (beat): plan the digests whose send hour has come in each subscriber's time zone, fan out batches."""
    rt = get_runtime()
    now = dt.datetime.fromisoformat(now_iso) if now_iso else dt.datetime.now(dt.UTC)
    totals = {"planned": 0, "skipped": 0, "failed": 0, "batches": 0}
    for day in local_dates(now):
        planned, skipped, failed, ids = prepare_date(rt, day, respect_hour=True, now=now)
        totals["planned"] += planned
        totals["skipped"] += skipped
        totals["failed"] += failed
        for chunk in batches(ids):
            send_batch.delay(chunk)
            totals["batches"] += 1
    return totals


def _send(task, delivery_ids: list[int], carried: dict | None) -> dict:  # noqa: ANN001 - a bound Celery task
    outcome = send_batch_now(get_runtime(), [int(i) for i in delivery_ids]).as_dict()
    for key in ("sent", "skipped", "failed"):
        outcome[key] = int(outcome[key]) + int((carried or {}).get(key, 0))
    retry_ids = outcome["retry"]
    if retry_ids and task.request.retries < task.max_retries and not task.request.is_eager:
        countdown = min(MAX_COUNTDOWN_S, RETRY_BASE_S * 2**task.request.retries)
        carry = {k: outcome[k] for k in ("sent", "skipped", "failed")}
        raise task.retry(args=[retry_ids], kwargs={"carried": carry}, countdown=countdown)
    return outcome


@celery_app.task(
    name="workers.tasks.send.send_batch", bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_RETRIES
)
def send_batch(self, delivery_ids: list[int], carried: dict | None = None) -> dict:
    """Send a batch of deliveries; the ones refused for now (429/5xx) are retried later, counts carried along."""
    return _send(self, delivery_ids, carried)


@celery_app.task(
    name="workers.tasks.send.send_delivery",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=MAX_RETRIES,
)
def send_delivery(self, delivery_id: int | list[int], carried: dict | None = None) -> dict:
    """One delivery by id (a batch of one)."""
    ids = delivery_id if isinstance(delivery_id, list) else [delivery_id]
    return _send(self, ids, carried)
