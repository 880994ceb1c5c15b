"""Sending the digests of a date: plan, then claim → rank → render → submit → send → record, in batches.

``send_due_digests`` is the one entry point for the CLI and the tests. With ``CELERY_BROKER_URL`` set it fans
the batches out to the workers (``workers.tasks.send.send_batch``) and waits for their counts; without it the
same ``send_batch`` runs in this process. Either way each delivery goes through the compare-and-set states
of ``claim.py``, so racing workers, redelivered tasks and repeated runs never send a digest twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select

from service.digest import claim as claims
from service.digest.backends import (
    Backend,
    OutcomeUnknownError,
    PermanentSendError,
    SendResult,
    TransientSendError,
    get_backend,
)
from service.digest.build import current_model_version_id, load_papers, rank_for, render_loaded
from service.digest.message import OutgoingMessage, outgoing
from service.digest.plan import SENDING, plan_deliveries
from service.models import Delivery, Subscriber
from service.runtime import Runtime

log = logging.getLogger(__name__)

BATCH_SIZE = 50
FANOUT_TIMEOUT_S = 6 * 3600


@dataclass
class BatchResult:
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    retry: list[int] = field(default_factory=list)  # known not accepted (429/5xx): may be tried again

    def as_dict(self) -> dict[str, object]:
        return {"sent": self.sent, "skipped": self.skipped, "failed": self.failed, "retry": list(self.retry)}


def send_batch(
    rt: Runtime, delivery_ids: Sequence[int], *, backend: Backend | None = None, now: dt.datetime | None = None
) -> BatchResult:
    """Send the given deliveries that this caller manages to claim; the rest belong to someone else."""
    result = BatchResult()
    own_backend = backend is None
    backend = backend or get_backend(rt.settings)
    try:
        with rt.db.session() as session:
            taken = [c for c in (claims.claim(session, i, now=now) for i in delivery_ids) if c is not None]
        if not taken:
            return result
        messages = _prepare(rt, taken, result)
        if not messages:
            return result
        to_send: list[tuple[claims.Claim, OutgoingMessage]] = []
        with rt.db.session() as session:
            for c, message in messages:
                verdict = claims.submit(session, c, message.message_id, now=now)
                if verdict is True:
                    to_send.append((c, message))
                elif isinstance(verdict, str):
                    result.skipped += 1
        outcomes = backend.send_many([m for _, m in to_send]) if to_send else []
        with rt.db.session() as session:
            for (c, _message), outcome in zip(to_send, outcomes, strict=True):
                _record(session, c, outcome, result, now)
    finally:
        if own_backend:
            backend.close()
    return result


def _prepare(rt: Runtime, taken: list[claims.Claim], result: BatchResult) -> list[tuple[claims.Claim, OutgoingMessage]]:
    """Rank and render the claimed deliveries; skips and failures are recorded, one bad item never stops the rest."""
    by_id = {c.delivery_id: c for c in taken}
    prepared: list[tuple[claims.Claim, OutgoingMessage]] = []
    with rt.db.session() as session:
        deliveries = list(session.scalars(select(Delivery).where(Delivery.id.in_(by_id)).order_by(Delivery.id)))
        subscribers = {
            s.id: s
            for s in session.scalars(select(Subscriber).where(Subscriber.id.in_({d.subscriber_id for d in deliveries})))
        }
        digest_dates = {d.digest_date for d in deliveries}
        picks: dict[int, list[dict]] = {}
        for day in digest_dates:
            subs = [subscribers[d.subscriber_id] for d in deliveries if d.digest_date == day]
            picks.update(rank_for(rt, session, subs, day))
        model_version_id = current_model_version_id(session)
        for delivery in deliveries:
            c = by_id[delivery.id]
            chosen = picks.get(delivery.subscriber_id, [])
            if not chosen:
                if claims.skip(session, c, "nothing new worth sending"):
                    result.skipped += 1
                continue
            if claims.store_picks(session, c, chosen, model_version_id):
                delivery.picks = chosen
        papers = load_papers(session, deliveries)
        for delivery in deliveries:
            if not delivery.picks:
                continue
            c = by_id[delivery.id]
            subscriber = subscribers[delivery.subscriber_id]
            try:
                rendered = render_loaded(rt, delivery, subscriber, papers, html=subscriber.email_format != "text")
                message = outgoing(rendered, to=subscriber.email, from_=rt.settings.MAIL_FROM, delivery_id=delivery.id)
            except Exception as exc:  # noqa: BLE001 - record and go on with the other deliveries
                log.exception("rendering delivery %s failed", delivery.id)
                if claims.mark_failed(
                    session, c, f"render failed: {exc.__class__.__name__}: {exc}", from_status=SENDING
                ):
                    result.failed += 1
                continue
            prepared.append((c, message))
        session.expunge_all()
    return prepared


def _record(session, c: claims.Claim, outcome: SendResult | Exception, result: BatchResult, now) -> None:  # noqa: ANN001
    if isinstance(outcome, SendResult):
        if claims.mark_sent(session, c, outcome.provider_message_id, now=now):
            result.sent += 1
    elif isinstance(outcome, TransientSendError):
        if claims.release(session, c, str(outcome)):
            result.retry.append(c.delivery_id)
    elif isinstance(outcome, (PermanentSendError, OutcomeUnknownError)):
        if claims.mark_failed(session, c, str(outcome)):
            result.failed += 1
    else:
        if claims.mark_failed(session, c, f"outcome unknown: {outcome}"):
            result.failed += 1


def prepare_date(
    rt: Runtime, digest_date: dt.date, *, respect_hour: bool = False, now: dt.datetime | None = None
) -> tuple[int, int, int, list[int]]:
    """Plan ``digest_date`` and settle dead workers' rows: (planned, skipped, failed, ids waiting to be sent)."""
    with rt.db.session() as session:
        plan = plan_deliveries(session, digest_date, respect_hour=respect_hour, now=now)
    backend = get_backend(rt.settings)
    try:
        with rt.db.session() as session:
            stale = claims.resolve_stale(session, backend.was_accepted, digest_date=digest_date, now=now)
    finally:
        backend.close()
    with rt.db.session() as session:
        ids = claims.pending_ids(session, digest_date, now=now)
    if plan.reasons:
        log.info("%s: skipped %s", digest_date, plan.reasons)
    return len(plan.planned), plan.skipped, stale["failed"], ids


def batches(ids: Sequence[int], size: int = BATCH_SIZE) -> list[list[int]]:
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


def send_due_digests(
    rt: Runtime, digest_date: dt.date, *, respect_hour: bool = False, now: dt.datetime | None = None
) -> dict[str, int]:
    """Send every digest due on ``digest_date``; returns this run's counts {planned, sent, skipped, failed}.

    Running it again for the same date sends nothing new. Deliveries refused for now (429/5xx after the
    backend's own retries) go back to ``planned`` and count as failed in this run; the next run retries them.
    """
    planned, skipped, failed, ids = prepare_date(rt, digest_date, respect_hour=respect_hour, now=now)
    totals = {"planned": planned, "sent": 0, "skipped": skipped, "failed": failed}
    if not ids:
        return totals
    if rt.settings.CELERY_BROKER_URL:
        outcomes = _fan_out(batches(ids))
    else:
        backend = get_backend(rt.settings)
        try:
            outcomes = [send_batch(rt, chunk, backend=backend, now=now).as_dict() for chunk in batches(ids)]
        finally:
            backend.close()
    for outcome in outcomes:
        totals["sent"] += int(outcome["sent"])
        totals["skipped"] += int(outcome["skipped"])
        totals["failed"] += int(outcome["failed"]) + len(outcome.get("retry") or [])
    return totals


def _fan_out(chunks: list[list[int]]) -> list[dict]:
    """Send the batches on the workers and wait for every count (retries included)."""
    from celery import group

    from workers.tasks.send import send_batch as send_batch_task

    job = group(send_batch_task.s(chunk) for chunk in chunks).apply_async()
    return list(job.get(timeout=FANOUT_TIMEOUT_S, propagate=True, disable_sync_subtasks=False))
