"""Send tasks (queue ``send``): the hourly planner, the batch sender and the reaper.

Tasks take ids only and are idempotent: every state change is a compare-and-set in ``service.digest.states``, so a
task delivered twice (``acks_late`` redelivery, a killed worker) finds its deliveries claimed or sent and does
nothing. ``send_batch`` is retried by Celery, with what it did so far carried along so nothing is sent twice:

* a dropped database connection (``BatchInterrupted``): the retry keeps this batch's claims and records the answers
  the provider already gave;
* deliveries the provider refused for now (429/5xx after the backend's own retries), with backoff.

Deliveries another sender holds are not waited for: that sender renews its lease while alive, and if it dies the
reaper (``reap_deliveries``, every 30 s from beat) sends them again. Permanent and unknown outcomes are recorded on
the delivery and never retried.
"""

from __future__ import annotations

import datetime as dt
import logging

from service.digest.batch import BatchInterrupted, Progress
from service.digest.batch import send_batch as send_batch_now
from service.digest.recovery import batches, reap
from service.digest.schedule import local_dates
from service.digest.send import prepare_date
from service.queue import PLAN_DUE_DIGESTS, REAP_DELIVERIES, SEND_BATCH
from workers.app import RETRY_OPTIONS, backoff_s, celery_app, get_runtime

log = logging.getLogger(__name__)

MAX_RETRIES = 8


@celery_app.task(name=PLAN_DUE_DIGESTS, acks_late=True, max_retries=MAX_RETRIES, **RETRY_OPTIONS)
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


@celery_app.task(name=SEND_BATCH, bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_RETRIES)
def send_batch(self, delivery_ids: list[int], progress: dict | None = None) -> dict:  # noqa: ANN001 - bound task
    """Send a batch of deliveries (ids); returns {sent, skipped, failed, retry, held, errors} over all its attempts."""
    rt = get_runtime()
    ids = [int(i) for i in delivery_ids]
    can_retry = self.request.retries < self.max_retries and not self.request.is_eager
    try:
        outcome = send_batch_now(rt, ids, progress=progress)
    except BatchInterrupted as exc:
        if not can_retry:
            raise
        log.warning("send_batch: %s; retrying", exc)
        countdown = backoff_s(rt.settings.TASK_RETRY_BASE_S, self.request.retries)
        raise self.retry(args=[ids], kwargs={"progress": exc.progress.to_json()}, countdown=countdown) from exc
    if outcome.retry and can_retry:  # refused for now: the same task, later, with the counts so far
        carried = Progress(counts={k: int(getattr(outcome, k)) for k in ("sent", "skipped", "failed")})
        log.info("send_batch: %d refused for now; retrying", len(outcome.retry))
        countdown = backoff_s(rt.settings.TASK_RETRY_BASE_S * 2, self.request.retries)
        raise self.retry(args=[list(outcome.retry)], kwargs={"progress": carried.to_json()}, countdown=countdown)
    return outcome.as_dict()


@celery_app.task(name=REAP_DELIVERIES, acks_late=True, max_retries=MAX_RETRIES, **RETRY_OPTIONS)
def reap_deliveries() -> dict[str, object]:
    """Every 30 s (beat): settle and send again what a dead worker left (``service.digest.recovery``)."""
    report = reap(get_runtime())
    return {"resolved": report["resolved"], "taken_back": len(report["taken_back"])}
