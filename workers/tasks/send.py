"""Send tasks: the hourly planner and the batch sender (queue ``send``).

Tasks take ids only and are idempotent: every state change is a compare-and-set in ``service.digest.claim``,
so a task delivered twice (``acks_late`` redelivery, a killed worker) finds its deliveries already claimed or
sent and does nothing. Retried, with the counts so far carried along so the caller's totals stay exact:

* deliveries the provider refused for now (429/5xx after the backend's own retries), with backoff;
* a dropped database connection (``BatchInterrupted``): the retry keeps this batch's claims and records the
  answers the provider already gave, so nothing is sent twice;
* deliveries claimed by another worker that may have died (``held``): tried again once its lease has run out.

Permanent and unknown outcomes are recorded on the delivery and never retried.
"""

from __future__ import annotations

import datetime as dt
import logging

from service.digest.schedule import local_dates
from service.digest.send import BatchInterrupted, Progress, batches, prepare_date
from service.digest.send import send_batch as send_batch_now
from workers.app import MAX_COUNTDOWN_S, backoff_s, celery_app, get_runtime

log = logging.getLogger(__name__)

MAX_RETRIES = 8


@celery_app.task(name="workers.tasks.send.plan_due_digests", acks_late=True)
def plan_due_digests(now_iso: str | None = None) -> dict[str, int]:
    """Hourly (beat): plan the digests whose send hour has come in each subscriber's time zone, fan out batches."""
    rt = get_runtime()
    now = dt.datetime.fromisoformat(now_iso) if now_iso else dt.datetime.now(dt.UTC)
    totals = {"planned": 0, "skipped": 0, "failed": 0, "batches": 0}

    def dispatch(ids: list[int]) -> None:  # called as planning commits each chunk: sending starts at once
        for chunk in batches(ids, rt.settings.DIGEST_BATCH_SIZE):
            send_batch.delay(chunk)
            totals["batches"] += 1

    for day in local_dates(now):
        planned, skipped, failed, left = prepare_date(rt, day, respect_hour=True, now=now, on_planned=dispatch)
        dispatch(left)
        totals["planned"] += planned
        totals["skipped"] += skipped
        totals["failed"] += failed
    log.info("planned due digests", extra={f"pb_{k}": v for k, v in totals.items()})
    return totals


def _send(task, delivery_ids: list[int], progress: dict | None) -> dict:  # noqa: ANN001 - a bound Celery task
    rt = get_runtime()
    ids = [int(i) for i in delivery_ids]
    can_retry = task.request.retries < task.max_retries and not task.request.is_eager
    try:
        outcome = send_batch_now(rt, ids, progress=progress)
    except BatchInterrupted as exc:
        if not can_retry:
            raise
        log.warning("send_batch: %s; retrying", exc)
        countdown = backoff_s(rt.settings.TASK_RETRY_BASE_S, task.request.retries)
        raise task.retry(args=[ids], kwargs={"progress": exc.progress.to_json()}, countdown=countdown) from exc
    later = list(outcome.retry) + list(outcome.held)
    if later and can_retry:
        carried = Progress(counts={k: int(getattr(outcome, k)) for k in ("sent", "skipped", "failed")})
        if outcome.held:  # the other claim is stale once its lease has run out
            countdown = min(float(MAX_COUNTDOWN_S), rt.settings.DIGEST_CLAIM_LEASE_S + 1.0)
        else:
            countdown = backoff_s(rt.settings.TASK_RETRY_BASE_S * 2, task.request.retries)
        log.info("send_batch: %d refused for now, %d held elsewhere; retrying", len(outcome.retry), len(outcome.held))
        raise task.retry(args=[later], kwargs={"progress": carried.to_json()}, countdown=countdown)
    return outcome.as_dict()


@celery_app.task(
    name="workers.tasks.send.send_batch", bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_RETRIES
)
def send_batch(self, delivery_ids: list[int], progress: dict | None = None) -> dict:
    """Send a batch of deliveries (ids); returns {sent, skipped, failed, retry, held} over all its attempts."""
    return _send(self, delivery_ids, progress)


@celery_app.task(
    name="workers.tasks.send.send_delivery",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=MAX_RETRIES,
)
def send_delivery(self, delivery_id: int, progress: dict | None = None) -> dict:
    """One delivery by id (a batch of one)."""
    ids = delivery_id if isinstance(delivery_id, list) else [delivery_id]
    return _send(self, ids, progress)
