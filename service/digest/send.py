"""Sending the digests of a date: plan, then claim → rank → render → submit → send → record, in batches.

``send_due_digests`` is the one entry point for the CLI and the tests. With ``CELERY_BROKER_URL`` set it fans
the batches out to the workers (``workers.tasks.send.send_batch``) and waits for their counts; without it the
same ``send_batch`` runs in this process. Either way each delivery goes through the compare-and-set states
of ``claim.py``, so racing workers, redelivered tasks and repeated runs never send a digest twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import InterfaceError, OperationalError

from service.digest import claim as claims
from service.digest.assemble import DigestAssembler
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
from service.digest.plan import SENDING, SENT, SKIPPED, SUBMITTING, plan_deliveries
from service.digest.render import templates
from service.models import Delivery, Subscriber
from service.runtime import Runtime

log = logging.getLogger(__name__)

BATCH_SIZE = 50
FANOUT_TIMEOUT_S = 6 * 3600
# A lost or refused database connection: the work can go on once the database answers again.
TRANSIENT_DB_ERRORS = (OperationalError, InterfaceError)
COUNTS = ("sent", "skipped", "failed")


@dataclass
class BatchResult:
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    retry: list[int] = field(default_factory=list)  # known not accepted (429/5xx): may be tried again
    held: list[int] = field(default_factory=list)  # claimed by another worker that may be dead: try after the lease
    errors: dict[int, str] = field(default_factory=dict)  # delivery id → why it failed or was put back

    def as_dict(self) -> dict[str, object]:
        return {
            "sent": self.sent,
            "skipped": self.skipped,
            "failed": self.failed,
            "retry": list(self.retry),
            "held": list(self.held),
            "errors": {str(k): v for k, v in self.errors.items()},
        }


@dataclass
class Progress:
    """How far a batch got before the database went away (JSON, carried by the task's retry).

    ``owned``: our claims (delivery id → attempt, the fencing token); ``outcomes``: what the provider answered
    for messages not yet recorded (delivery id → ["sent", provider id] | ["failed", error] | ["retry", error]),
    so the retry records them instead of sending again; ``counts``: what earlier attempts already counted.
    """

    owned: dict[int, int] = field(default_factory=dict)
    stamps: list[str] = field(default_factory=list)  # claim times this batch wrote (ISO): finds lost claims
    outcomes: dict[int, list] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    retry: list[int] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict | None) -> Progress:
        data = data or {}
        return cls(
            owned={int(k): int(v) for k, v in (data.get("owned") or {}).items()},
            stamps=[str(t) for t in data.get("stamps") or []],
            outcomes={int(k): list(v) for k, v in (data.get("outcomes") or {}).items()},
            counts={k: int((data.get("counts") or {}).get(k, 0)) for k in COUNTS},
            retry=[int(i) for i in data.get("retry") or []],
        )

    def to_json(self) -> dict:
        return {
            "owned": {str(k): v for k, v in self.owned.items()},
            "stamps": list(self.stamps),
            "outcomes": {str(k): v for k, v in self.outcomes.items()},
            "counts": dict(self.counts),
            "retry": list(self.retry),
        }


class BatchInterrupted(Exception):
    """The database failed mid-batch; ``progress`` lets a retry finish the batch without sending twice."""

    def __init__(self, progress: Progress, cause: BaseException) -> None:
        super().__init__(f"database error mid-batch: {cause.__class__.__name__}: {cause}")
        self.progress = progress


def lease_of(rt: Runtime) -> dt.timedelta:
    return dt.timedelta(seconds=rt.settings.DIGEST_CLAIM_LEASE_S)


def send_batch(
    rt: Runtime,
    delivery_ids: Sequence[int],
    *,
    backend: Backend | None = None,
    now: dt.datetime | None = None,
    progress: dict | Progress | None = None,
) -> BatchResult:
    """Send the given deliveries that this caller manages to claim; the rest belong to someone else.

    Raises ``BatchInterrupted`` (carrying what was done) when the database fails on the way; passing its
    ``progress`` back in resumes the batch: claims kept, accepted messages recorded, nothing sent twice.
    """
    state = progress if isinstance(progress, Progress) else Progress.from_json(progress)
    result = BatchResult(**state.counts, retry=list(state.retry))
    own_backend = backend is None
    backend = backend or get_backend(rt.settings)
    try:
        if state.outcomes:
            _record_outcomes(rt, state, result, now)
        stamp = claims.claim_stamp(now)
        state.stamps.append(stamp.isoformat())  # noted before claiming: a retry knows it even if no answer came
        with rt.db.session() as session:
            taken, result.held = claims.claim_many(
                session,
                delivery_ids,
                now=now,
                lease=lease_of(rt),
                owned=state.owned,
                stamp=stamp,
                earlier_stamps=[dt.datetime.fromisoformat(t) for t in state.stamps],
            )
        state.owned = {c.delivery_id: c.attempt for c in taken}
        if not taken:
            return result
        messages = _prepare(rt, taken, result, backend)
        _remember_counts(state, result)
        if not messages:
            return result
        with rt.db.session() as session:
            ready, skipped = claims.screen_many(session, [p.claim for p in messages])
        result.skipped += len(skipped)
        for delivery_id in skipped:
            state.owned.pop(delivery_id, None)
        _remember_counts(state, result)
        ready_ids = {c.delivery_id for c in ready}
        to_send = [p for p in messages if p.claim.delivery_id in ready_ids]
        sender = _GroupSender(rt, backend, now)
        sender.run(to_send)
        result.sent += sender.counted.sent
        result.failed += sender.counted.failed
        result.retry.extend(sender.counted.retry)
        result.errors.update(sender.counted.errors)
        for delivery_id in sender.settled:
            state.owned.pop(delivery_id, None)
        state.outcomes = dict(sender.unrecorded)
        _remember_counts(state, result)
        if sender.error is not None:
            raise sender.error
    except TRANSIENT_DB_ERRORS as exc:
        _remember_counts(state, result)
        raise BatchInterrupted(state, exc) from exc
    finally:
        if own_backend:
            backend.close()
    return result


@dataclass(frozen=True)
class Prepared:
    claim: claims.Claim
    message: OutgoingMessage
    subscriber_id: int
    picks: list[dict]


class _GroupSender:
    """Sends a batch in groups of ``backend.in_flight`` messages, the number of requests in flight at once.

    One short transaction per group records the previous group's answers (``sent`` with the provider's ids and
    the ``sent`` interactions, or released/failed) and marks this group ``submitting``; then the group's requests
    go out together, their bodies already encoded. So a message is marked only right before its request leaves,
    and after a crash no more than the group in flight (its answers not yet recorded) is in doubt ("outcome
    unknown", never re-sent). A database error stops the batch: the group not yet marked stays ``sending`` and
    ours, and the answers not yet written are kept in ``unrecorded`` for the task's retry to write.
    """

    def __init__(self, rt: Runtime, backend: Backend, now: dt.datetime | None) -> None:
        self.rt, self.backend, self.now = rt, backend, now
        self.counted = BatchResult()
        self.settled: set[int] = set()  # recorded, or lost to another claim: no longer ours
        self.unrecorded: dict[int, list] = {}
        self.error: BaseException | None = None

    def run(self, items: Sequence[Prepared]) -> None:
        size = max(1, int(getattr(self.backend, "in_flight", 1)))
        answered: list[tuple[Prepared, str, str | None]] = []
        for start in range(0, len(items), size):
            group = items[start : start + size]
            try:
                with self.rt.db.session() as session:
                    done = self._record(session, answered)
                    marked = claims.mark_submitting_many(
                        session, [(p.claim, p.message.message_id) for p in group], now=self.now
                    )
            except TRANSIENT_DB_ERRORS as exc:
                self._stop(exc, answered)
                return
            self._count(answered, done)
            self.settled.update(p.claim.delivery_id for p in group if p.claim.delivery_id not in marked)
            going = [p for p in group if p.claim.delivery_id in marked]
            outcomes = self.backend.send_many([p.message for p in going]) if going else []
            answered = [(p, *_outcome_json(outcome)) for p, outcome in zip(going, outcomes, strict=True)]
        try:
            with self.rt.db.session() as session:
                done = self._record(session, answered)
        except TRANSIENT_DB_ERRORS as exc:
            self._stop(exc, answered)
            return
        self._count(answered, done)

    def _record(self, session, answered: list[tuple[Prepared, str, str | None]]) -> set[int]:  # noqa: ANN001
        sent = [(p.claim, detail, p.subscriber_id, p.picks) for p, kind, detail in answered if kind == "sent"]
        done = set(claims.record_sent_many(session, sent, now=self.now))
        for p, kind, detail in answered:
            if (kind == "retry" and claims.release(session, p.claim, str(detail))) or (
                kind == "failed" and claims.mark_failed(session, p.claim, str(detail))
            ):
                done.add(p.claim.delivery_id)
        return done

    def _count(self, answered: list[tuple[Prepared, str, str | None]], done: set[int]) -> None:
        for p, kind, detail in answered:
            self.settled.add(p.claim.delivery_id)
            if p.claim.delivery_id not in done:
                continue
            if kind == "sent":
                self.counted.sent += 1
                continue
            if kind == "failed":
                self.counted.failed += 1
            else:
                self.counted.retry.append(p.claim.delivery_id)
            self.counted.errors[p.claim.delivery_id] = str(detail)

    def _stop(self, exc: BaseException, answered: list[tuple[Prepared, str, str | None]]) -> None:
        self.error = exc
        self.unrecorded.update({p.claim.delivery_id: [kind, detail] for p, kind, detail in answered})


def _remember_counts(state: Progress, result: BatchResult) -> None:
    state.counts = {k: int(getattr(result, k)) for k in COUNTS}
    state.retry = list(result.retry)


def _outcome_json(outcome: SendResult | Exception) -> list:
    if isinstance(outcome, SendResult):
        return ["sent", outcome.provider_message_id]
    if isinstance(outcome, TransientSendError):
        return ["retry", str(outcome)]
    if isinstance(outcome, (PermanentSendError, OutcomeUnknownError)):
        return ["failed", str(outcome)]
    return ["failed", f"outcome unknown: {outcome}"]


def _record_outcomes(rt: Runtime, state: Progress, result: BatchResult, now: dt.datetime | None) -> None:
    """Write the provider's answers in one transaction; counted only once they are committed."""
    outcomes = state.outcomes
    counted = BatchResult()
    with rt.db.session() as session:
        sent_ids = [i for i, (kind, *_rest) in outcomes.items() if kind == "sent"]
        rows = {}
        if sent_ids:
            rows = {
                i: (sub, picks)
                for i, sub, picks in session.execute(
                    select(Delivery.id, Delivery.subscriber_id, Delivery.picks).where(Delivery.id.in_(sent_ids))
                )
            }
        sent = [
            (claims.Claim(i, state.owned.get(i, -1)), outcomes[i][1], rows[i][0], rows[i][1] or [])
            for i in sent_ids
            if i in rows
        ]
        counted.sent = len(claims.record_sent_many(session, sent, now=now))
        for delivery_id, (kind, detail) in outcomes.items():
            c = claims.Claim(delivery_id, state.owned.get(delivery_id, -1))
            if kind == "retry" and claims.release(session, c, str(detail)):
                counted.retry.append(delivery_id)
                counted.errors[delivery_id] = str(detail)
            elif kind == "failed" and claims.mark_failed(session, c, str(detail)):
                counted.failed += 1
                counted.errors[delivery_id] = str(detail)
    result.sent += counted.sent
    result.failed += counted.failed
    result.retry.extend(counted.retry)
    result.errors.update(counted.errors)
    state.outcomes = {}
    for delivery_id in outcomes:
        state.owned.pop(delivery_id, None)
    _remember_counts(state, result)


def _prepare(rt: Runtime, taken: list[claims.Claim], result: BatchResult, backend: Backend) -> list[Prepared]:
    """Rank and render the claimed deliveries; skips and failures are recorded, one bad item never stops the rest."""
    by_id = {c.delivery_id: c for c in taken}
    prepared: list[Prepared] = []
    with rt.db.session() as session:
        deliveries = list(session.scalars(select(Delivery).where(Delivery.id.in_(by_id)).order_by(Delivery.id)))
        for delivery in deliveries:
            session.expunge(delivery)  # read-only copies: rows change only through the claim's compare-and-set
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
        to_store: list[tuple[claims.Claim, list[dict]]] = []
        for delivery in deliveries:
            c = by_id[delivery.id]
            chosen = picks.get(delivery.subscriber_id, [])
            if chosen:
                to_store.append((c, chosen))
            elif claims.skip(session, c, "nothing new worth sending"):
                result.skipped += 1
        stored = claims.store_picks_many(session, to_store, model_version_id)
        chosen_by_id = {c.delivery_id: chosen for c, chosen in to_store}
        for delivery in deliveries:
            delivery.picks = chosen_by_id[delivery.id] if delivery.id in stored else []
        papers = load_papers(session, deliveries)
        views: dict[int, dict] = {}  # what the batch's digests show of each paper, computed once
        assembler = DigestAssembler(templates())  # each card and layout rendered once per batch
        for delivery in deliveries:
            if not delivery.picks:
                continue
            c = by_id[delivery.id]
            subscriber = subscribers[delivery.subscriber_id]
            try:
                rendered = render_loaded(
                    rt,
                    delivery,
                    subscriber,
                    papers,
                    html=subscriber.email_format != "text",
                    views=views,
                    assembler=assembler,
                )
                message = backend.prepare(
                    outgoing(rendered, to=subscriber.email, from_=rt.settings.MAIL_FROM, delivery_id=delivery.id)
                )
            except Exception as exc:  # noqa: BLE001 - record and go on with the other deliveries
                log.warning("delivery %s cannot be built: %s: %s", delivery.id, exc.__class__.__name__, exc)
                reason = f"could not build the message: {exc.__class__.__name__}: {exc}"
                if claims.mark_failed(session, c, reason, from_status=SENDING):
                    result.failed += 1
                    result.errors[delivery.id] = reason
                continue
            prepared.append(Prepared(c, message, delivery.subscriber_id, list(delivery.picks)))
        session.expunge_all()
    return prepared


def prepare_date(
    rt: Runtime,
    digest_date: dt.date,
    *,
    respect_hour: bool = False,
    now: dt.datetime | None = None,
    on_planned: Callable[[list[int]], None] | None = None,
) -> tuple[int, int, int, list[int]]:
    """Settle dead workers' rows and plan ``digest_date``: (planned, skipped, failed, ids waiting to be sent).

    With ``on_planned``, newly planned ids are committed and handed over chunk by chunk while planning goes on
    (see ``plan_deliveries``), and the ids returned are only those waiting from earlier runs.
    """
    lease = lease_of(rt)
    backend = get_backend(rt.settings)
    try:  # first: what dead workers left is from earlier runs, and planning creates nothing it would touch
        with rt.db.session() as session:
            stale = claims.resolve_stale(session, backend.was_accepted, digest_date=digest_date, now=now, lease=lease)
    finally:
        backend.close()
    with rt.db.session() as session:
        plan = plan_deliveries(session, digest_date, respect_hour=respect_hour, now=now, on_chunk=on_planned)
    with rt.db.session() as session:
        ids = claims.pending_ids(session, digest_date, now=now, lease=lease)
    if on_planned is not None:
        handed = set(plan.planned)
        ids = [i for i in ids if i not in handed]
    if plan.reasons:
        log.info("%s: skipped %s", digest_date, plan.reasons)
    return len(plan.planned), plan.skipped, stale["failed"], ids


def batches(ids: Sequence[int], size: int = BATCH_SIZE) -> list[list[int]]:
    size = max(1, int(size))
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


def send_due_digests(
    rt: Runtime, digest_date: dt.date, *, respect_hour: bool = False, now: dt.datetime | None = None
) -> dict[str, object]:
    """Send every digest due on ``digest_date``; returns this run's counts and the reasons of what did not go.

    ``{planned, sent, skipped, failed, elsewhere, errors}``: ``failed`` counts deliveries that failed for good or
    were refused for now (429/5xx, a full disk: back to ``planned``, the next run retries them); ``elsewhere`` those
    another sender (a second ``paperboy send``, a worker) holds right now, which are in progress, not failed;
    ``errors`` the reason of each delivery that did not go (at most ``MAX_ERRORS``, newest reasons first by id).
    Running it again for the same date sends nothing new. With ``CELERY_BROKER_URL`` set the batches go to the
    workers (queue ``send``) and this waits for them, up to ``DIGEST_FANOUT_TIMEOUT_S``, then counts from the rows.
    """
    if rt.settings.CELERY_BROKER_URL:
        fan_out = FanOut(rt)  # batches go out as planning commits them: the workers start within a second
        planned, skipped, failed, left = prepare_date(
            rt, digest_date, respect_hour=respect_hour, now=now, on_planned=fan_out.dispatch
        )
        fan_out.dispatch(left)
        fan_out.wait()
        # the rows are the truth: a batch cut short by a killed worker sent part of it before its redelivery ran
        counted = _counts_from_rows(rt, fan_out.ids)
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
        "errors": counted["errors"],
    }
    log.info(
        "digests sent",
        extra={"pb_event": "digests_sent", "pb_date": digest_date.isoformat(), **_prefixed(totals)},
    )
    return totals


def _prefixed(counts: dict[str, object]) -> dict[str, object]:
    return {f"pb_{k}": v for k, v in counts.items() if k != "errors"}


def _send_here(
    rt: Runtime, chunk: list[int], backend: Backend, now: dt.datetime | None, attempts: int = 4
) -> BatchResult | dict:
    """One batch in this process; a dropped database connection is retried (the pool reconnects). What it did,
    or, when the database never came back, what the rows say."""
    progress: Progress | None = None
    for attempt in range(1, attempts + 1):
        try:
            return send_batch(rt, chunk, backend=backend, now=now, progress=progress)
        except BatchInterrupted as exc:
            progress = exc.progress
            log.warning("batch of %d: %s (attempt %d of %d)", len(chunk), exc, attempt, attempts)
            time.sleep(min(30.0, 0.5 * 2**attempt))
    return _counts_from_rows(rt, chunk)


def _counts_of(results: Sequence[BatchResult | dict]) -> dict:
    """This process's own counts: what its batches claimed and did (a concurrent sender's work is not ours);
    deliveries another sender held are ``elsewhere``; refused-for-now ones count as failed in this run."""
    counts: dict = {"sent": 0, "skipped": 0, "failed": 0, "elsewhere": 0, "errors": []}
    for result in results:
        if isinstance(result, dict):  # counted from the rows
            for key in ("sent", "skipped", "failed", "elsewhere"):
                counts[key] += result[key]
            counts["errors"].extend(result["errors"])
            continue
        counts["sent"] += result.sent
        counts["skipped"] += result.skipped
        counts["failed"] += result.failed + len(result.retry)
        counts["elsewhere"] += len(result.held)
        for delivery_id, error in sorted(result.errors.items()):
            status = "planned" if delivery_id in result.retry else "failed"
            counts["errors"].append({"delivery_id": delivery_id, "status": status, "error": error})
    counts["errors"] = counts["errors"][:MAX_ERRORS]
    return counts


class FanOut:
    """Sends batches on the workers (queue ``send``) as they come, then waits for every count (their retries
    included), up to ``DIGEST_FANOUT_TIMEOUT_S``."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.ids: list[int] = []
        self.results: list = []  # celery AsyncResult, one per batch

    def dispatch(self, ids: Sequence[int]) -> None:
        from workers.tasks.send import send_batch as send_batch_task

        for chunk in batches(ids, self.rt.settings.DIGEST_BATCH_SIZE):
            self.results.append(send_batch_task.apply_async((chunk,)))
            self.ids.extend(chunk)

    def wait(self) -> None:
        """Until every dispatched batch has answered (their retries included), or the fan-out timeout."""
        from celery.exceptions import TimeoutError as CeleryTimeout
        from celery.result import ResultSet

        if not self.results:
            return
        job = ResultSet(self.results)
        try:
            job.get(timeout=self.rt.settings.DIGEST_FANOUT_TIMEOUT_S, propagate=False, disable_sync_subtasks=False)
        except CeleryTimeout:
            log.warning("timed out waiting for the send workers; unfinished batches are counted from the database")
        for result in job.results:
            if result.ready() and not result.successful():
                log.error("send batch %s failed: %r", result.id, result.result)
            result.forget()


MAX_ERRORS = 50  # reasons listed in a run's report; the counts cover every delivery


def _counts_from_rows(rt: Runtime, ids: Sequence[int]) -> dict:
    """This run's deliveries as their rows say: sent, skipped, failed (for good, or refused for now and back to
    ``planned`` with the reason), in progress elsewhere (claimed by another sender), and the reasons."""
    counts: dict = {"sent": 0, "skipped": 0, "failed": 0, "elsewhere": 0, "errors": []}
    with rt.db.session() as session:
        for start in range(0, len(ids), 5000):
            part = list(ids[start : start + 5000])
            rows = session.execute(
                select(Delivery.id, Delivery.status, Delivery.error).where(Delivery.id.in_(part)).order_by(Delivery.id)
            )
            for delivery_id, status, error in rows:
                if status in (SENT, SKIPPED):
                    counts[status] += 1
                elif status in (SENDING, SUBMITTING) and not error:
                    counts["elsewhere"] += 1
                else:
                    counts["failed"] += 1
                    if len(counts["errors"]) < MAX_ERRORS:
                        reason = error or "not sent yet: the run ended before this delivery's turn"
                        counts["errors"].append({"delivery_id": delivery_id, "status": status, "error": reason})
    return counts
