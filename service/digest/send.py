"""Sending the digests of a date: plan, then hand the batches to the workers (or send them here), then count.

``send_due_digests`` is the one entry point for ``paperboy send``; the hourly planner task runs ``prepare_date`` and
dispatches the same batches without waiting. With ``CELERY_BROKER_URL`` set, batches go to the workers as planning
commits them (``FanOut``), and this waits until every delivery has settled, reaping what a dead worker left meanwhile
(``recovery.reap``); without a broker the same ``batch.send_batch`` runs in this process.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence

import tenacity
from sqlalchemy import select

from service.digest import states
from service.digest.batch import BatchInterrupted, BatchResult, Progress, send_batch
from service.digest.plan import plan_deliveries
from service.digest.recovery import REAP_EVERY_S, batches, lease_of, reap, waiting_ids
from service.mail.backends import Backend, get_backend
from service.models import Delivery
from service.queue import SEND_BATCH
from service.runtime import Runtime

log = logging.getLogger(__name__)

MAX_ERRORS = 50  # reasons listed in a run's report; the counts cover every delivery
BATCH_ATTEMPTS = 4  # a batch in this process survives this many dropped database connections


def prepare_date(
    rt: Runtime,
    digest_date: dt.date,
    *,
    respect_hour: bool = False,
    now: dt.datetime | None = None,
    on_planned: Callable[[list[int]], None] | None = None,
) -> tuple[int, int, int, list[int]]:
    """Settle dead senders' rows and plan ``digest_date``: (planned, skipped, failed, ids waiting to be sent).

    With ``on_planned``, newly planned ids are committed and handed over chunk by chunk while planning goes on
    (see ``plan_deliveries``), and the ids returned are only those waiting from earlier runs.
    """
    lease = lease_of(rt)
    backend = get_backend(rt.settings)
    try:  # first: what dead senders left is from earlier runs, and planning creates nothing it would touch
        with rt.db.session() as session:
            stale = states.resolve_stale(session, backend.was_accepted, digest_date=digest_date, now=now, lease=lease)
    finally:
        backend.close()
    with rt.db.session() as session:
        plan = plan_deliveries(session, digest_date, respect_hour=respect_hour, now=now, on_chunk=on_planned)
    with rt.db.session() as session:
        ids = states.pending_ids(session, digest_date, now=now, lease=lease)
    if on_planned is not None:
        handed = set(plan.planned)
        ids = [i for i in ids if i not in handed]
    if plan.reasons:
        log.info("%s: skipped %s", digest_date, plan.reasons)
    return len(plan.planned), plan.skipped, stale["failed"], ids


def send_due_digests(
    rt: Runtime, digest_date: dt.date, *, respect_hour: bool = False, now: dt.datetime | None = None
) -> dict[str, object]:
    """Send every digest due on ``digest_date``; returns this run's counts and the reasons of what did not go.

    ``{planned, sent, skipped, failed, elsewhere, errors}``: ``failed`` counts deliveries that failed for good or
    were refused for now (429/5xx, a full disk: back to ``planned``, the next run retries them); ``elsewhere`` those
    another sender (a second ``paperboy send``, a worker) holds right now, which are in progress, not failed;
    ``errors`` the reason of each delivery that did not go (at most ``MAX_ERRORS``). Running it again for the same
    date sends nothing new.
    """
    if rt.dispatcher.enabled:
        fan_out = FanOut(rt, digest_date)  # batches go out as planning commits them: the workers start at once
        planned, skipped, failed, left = prepare_date(
            rt, digest_date, respect_hour=respect_hour, now=now, on_planned=fan_out.dispatch
        )
        fan_out.dispatch(left)
        counted = fan_out.wait()
    else:
        planned, skipped, failed, ids = prepare_date(rt, digest_date, respect_hour=respect_hour, now=now)
        backend = get_backend(rt.settings)
        try:
            results = [_send_here(rt, chunk, backend, now) for chunk in batches(ids, rt.settings.DIGEST_BATCH_SIZE)]
        finally:
            backend.close()
        counted = _counts_of(results)
    totals: dict[str, object] = {
        "planned": planned,
        "sent": counted["sent"],
        "skipped": skipped + counted["skipped"],
        "failed": failed + counted["failed"],
        "elsewhere": counted["elsewhere"],
        "errors": counted["errors"][:MAX_ERRORS],
    }
    log.info(
        "digests sent",
        extra={"pb_event": "digests_sent", "pb_date": digest_date.isoformat()}
        | {f"pb_{k}": v for k, v in totals.items() if k != "errors"},
    )
    return totals


def _send_here(rt: Runtime, chunk: list[int], backend: Backend, now: dt.datetime | None) -> BatchResult:
    """One batch in this process; a dropped database connection is retried with its progress (the pool
    reconnects), so nothing is sent twice."""
    progress: list[Progress | None] = [None]

    def attempt() -> BatchResult:
        try:
            return send_batch(rt, chunk, backend=backend, now=now, progress=progress[0])
        except BatchInterrupted as exc:
            progress[0] = exc.progress
            log.warning("batch of %d: %s", len(chunk), exc)
            raise

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(BatchInterrupted),
        stop=tenacity.stop_after_attempt(BATCH_ATTEMPTS),
        wait=tenacity.wait_exponential(multiplier=0.5, max=30),
        reraise=True,
    )
    try:
        return retrying(attempt)
    except BatchInterrupted:  # what earlier attempts did stays counted; the rest of the batch did not go
        done = progress[0].counts if progress[0] else {"sent": 0, "skipped": 0}
        lost = len(chunk) - done["sent"] - done["skipped"]
        return BatchResult(
            sent=done["sent"], skipped=done["skipped"], failed=lost,
            errors=dict.fromkeys(chunk, "not sent: the database stayed unreachable"),
        )  # fmt: skip


def _counts_of(results: Sequence[BatchResult]) -> dict:
    """This process's own counts: what its batches claimed and did (a concurrent sender's work is not ours);
    deliveries another sender held are ``elsewhere``; refused-for-now ones count as failed in this run."""
    counts: dict = {"sent": 0, "skipped": 0, "failed": 0, "elsewhere": 0, "errors": []}
    for result in results:
        counts["sent"] += result.sent
        counts["skipped"] += result.skipped
        counts["failed"] += result.failed + len(result.retry)
        counts["elsewhere"] += len(result.held)
        for delivery_id, error in sorted(result.errors.items()):
            status = states.PLANNED if delivery_id in result.retry else states.FAILED
            counts["errors"].append({"delivery_id": delivery_id, "status": str(status), "error": error})
    return counts


class FanOut:
    """Sends batches to the workers (queue ``send``) as planning hands them over, then waits until every delivery
    of the run has settled, up to ``DIGEST_FANOUT_TIMEOUT_S``, reaping every ``REAP_EVERY_S`` what a dead worker
    left (its deliveries go out again on the live workers, no second run needed)."""

    def __init__(self, rt: Runtime, digest_date: dt.date) -> None:
        self.rt = rt
        self.digest_date = digest_date
        self.ids: list[int] = []
        self.results: list = []  # celery AsyncResult, one per batch sent
        self.result_of: dict[int, object] = {}  # delivery id → the result of the last batch sent with it

    def dispatch(self, ids: Sequence[int]) -> None:
        for chunk in batches(ids, self.rt.settings.DIGEST_BATCH_SIZE):
            self._track(chunk, self.rt.dispatcher.send(SEND_BATCH, chunk))
            self.ids.extend(chunk)

    def _track(self, chunk: Sequence[int], result: object) -> None:
        self.results.append(result)
        self.result_of.update(dict.fromkeys(chunk, result))

    def _reap(self) -> None:
        for chunk, result in reap(self.rt, digest_date=self.digest_date)["dispatched"]:
            self._track(chunk, result)

    def wait(self) -> dict:
        """Wait for the run to settle, then count it from the rows (a batch cut short by a killed worker sent part
        of it; the rest went out in batches the reaper sent again)."""
        from celery.exceptions import TimeoutError as CeleryTimeout
        from celery.result import ResultSet

        deadline = time.monotonic() + self.rt.settings.DIGEST_FANOUT_TIMEOUT_S
        last_reap = time.monotonic()
        while self.ids and time.monotonic() < deadline:
            pending = [r for r in self.results if not r.ready()]
            if pending:
                with contextlib.suppress(CeleryTimeout):
                    ResultSet(pending).get(
                        timeout=min(REAP_EVERY_S, max(0.1, deadline - time.monotonic())),
                        propagate=False,
                        disable_sync_subtasks=False,
                    )
            else:
                time.sleep(1.0)  # every batch answered: rows the beat's reaper or a task's retry still owes
            if not self._unsettled():
                break
            if time.monotonic() - last_reap >= REAP_EVERY_S:
                self._reap()
                last_reap = time.monotonic()
        for result in self.results:
            if result.ready() and not result.successful():
                log.error("send batch %s failed: %r", result.id, result.result)
            result.forget()
        return counts_from_rows(self.rt, self.ids)

    def _unsettled(self) -> bool:
        """Whether a delivery of the run is still to be sent: in flight, or planned and not yet given up on."""
        for delivery_id, (status, error) in waiting_ids(self.rt, self.ids).items():
            if status != states.PLANNED or not error or not self.result_of[delivery_id].ready():  # type: ignore[attr-defined]
                return True
        return False


def counts_from_rows(rt: Runtime, ids: Sequence[int]) -> dict:
    """A run's deliveries as their rows say: sent, skipped, failed (for good, or refused for now and back to
    ``planned`` with the reason), in progress elsewhere (claimed by a sender that is still alive), and the reasons."""
    counts: dict = {"sent": 0, "skipped": 0, "failed": 0, "elsewhere": 0, "errors": []}
    with rt.db.session() as session:
        for start in range(0, len(ids), 5000):
            part = list(ids[start : start + 5000])
            rows = session.execute(
                select(Delivery.id, Delivery.status, Delivery.error).where(Delivery.id.in_(part)).order_by(Delivery.id)
            )
            for delivery_id, status, error in rows:
                if status in (states.SENT, states.SKIPPED):
                    counts[str(status)] += 1
                elif status in states.IN_FLIGHT and not error:
                    counts["elsewhere"] += 1
                else:
                    counts["failed"] += 1
                    if len(counts["errors"]) < MAX_ERRORS:
                        reason = error or "not sent yet: the run ended before this delivery's turn"
                        counts["errors"].append({"delivery_id": delivery_id, "status": str(status), "error": reason})
    return counts
