"""One batch of digests: claim → rank → render → screen → submit → record, exactly once whatever fails.

``send_batch`` is what a send task runs (and ``paperboy send`` without a broker). Every change of a delivery goes
through the compare-and-set transitions of ``states.py``, so racing workers, redelivered tasks and repeated runs
never send a digest twice; its claims are leases that a ``LeaseKeeper`` renews while the batch runs, so a batch
whose worker dies is taken over within a lease (``recovery.py``), and a live one never is.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select

from service.db import TRANSIENT_DB_ERRORS
from service.digest import states
from service.digest.assemble import DigestAssembler
from service.digest.build import current_model_version_id, load_papers, rank_for, render_loaded
from service.digest.recovery import LeaseKeeper, lease_of
from service.mail.backends import (
    Backend,
    PermanentSendError,
    SendResult,
    TransientSendError,
    get_backend,
)
from service.mail.message import OutgoingMessage, outgoing
from service.mail.render import templates
from service.models import Delivery, Subscriber
from service.runtime import Runtime

log = logging.getLogger(__name__)

COUNTS = ("sent", "skipped", "failed")


@dataclass
class BatchResult:
    """What one batch did: counts, the ids to try again later (refused for now), the ids another sender held, and
    the reason of each delivery that did not go."""

    sent: int = 0
    skipped: int = 0
    failed: int = 0
    retry: list[int] = field(default_factory=list)  # known not accepted (429/5xx, a full disk): try again later
    held: list[int] = field(default_factory=list)  # claimed by another sender, in progress there
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

    def add(self, other: BatchResult) -> None:
        self.sent += other.sent
        self.skipped += other.skipped
        self.failed += other.failed
        self.retry.extend(other.retry)
        self.errors.update(other.errors)


@dataclass
class Progress:
    """How far a batch got before the database went away (JSON, carried by the task's retry).

    ``owned``: our claims (delivery id → attempt, the fencing token); ``stamps``: claim times this batch wrote (finds
    claims whose commit answer was lost); ``outcomes``: what the provider answered for messages not yet recorded
    (delivery id → ["sent", provider id] | ["failed", error] | ["retry", error]), so the retry records them instead
    of sending again; ``counts``: what earlier attempts already counted.
    """

    owned: dict[int, int] = field(default_factory=dict)
    stamps: list[str] = field(default_factory=list)
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

    def remember(self, result: BatchResult) -> None:
        self.counts = {k: int(getattr(result, k)) for k in COUNTS}
        self.retry = list(result.retry)


class BatchInterrupted(Exception):
    """The database failed mid-batch; ``progress`` lets a retry finish the batch without sending twice."""

    def __init__(self, progress: Progress, cause: BaseException) -> None:
        super().__init__(f"database error mid-batch: {cause.__class__.__name__}: {cause}")
        self.progress = progress


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
    keeper = LeaseKeeper(rt, lambda: dict(state.owned))
    try:
        if state.outcomes:
            _record_outcomes(rt, state, result, now)
        stamp = states.claim_stamp(now)
        state.stamps.append(stamp.isoformat())  # noted before claiming: a retry knows it even if no answer came
        with rt.db.session() as session:
            taken, result.held = states.claim(
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
        keeper.start()
        _send_claimed(rt, backend, taken, state, result, now)
    except TRANSIENT_DB_ERRORS as exc:
        state.remember(result)
        raise BatchInterrupted(state, exc) from exc
    finally:
        keeper.stop()
        if own_backend:
            backend.close()
    return result


def _send_claimed(
    rt: Runtime, backend: Backend, taken: list[states.Claim], state: Progress, result: BatchResult, now
) -> None:  # noqa: ANN001
    messages = _prepare(rt, taken, result, backend)
    state.remember(result)
    if not messages:
        return
    with rt.db.session() as session:
        ready, skipped = states.screen(session, [p.claim for p in messages])
    result.skipped += len(skipped)
    for delivery_id in skipped:
        state.owned.pop(delivery_id, None)
    state.remember(result)
    ready_ids = {c.delivery_id for c in ready}
    sender = _GroupSender(rt, backend, now)
    sender.run([p for p in messages if p.claim.delivery_id in ready_ids])
    result.add(sender.counted)
    for delivery_id in sender.settled:
        state.owned.pop(delivery_id, None)
    state.outcomes = dict(sender.unrecorded)
    state.remember(result)
    if sender.error is not None:
        raise sender.error


@dataclass(frozen=True)
class Prepared:
    """A claimed delivery and its message, ready to go (``message`` None: an answer recorded after a retry)."""

    claim: states.Claim
    message: OutgoingMessage | None


Answer = tuple[Prepared, str, str | None]  # a message, what the provider said ("sent"/"failed"/"retry"), the detail


class _GroupSender:
    """Sends a batch in groups of ``backend.in_flight`` messages, the number of requests in flight at once.

    One short transaction per group records the previous group's answers (``sent`` with the provider's ids, or
    released/failed) and marks this group ``submitting``; then the group's requests go out together, their bodies
    already encoded. So a message is marked only right before its request leaves, and after a crash no more than the
    group in flight is in doubt ("outcome unknown", never re-sent). A database error stops the batch: the group not
    yet marked stays ``sending`` and ours, and the answers not yet written are kept in ``unrecorded`` for the task's
    retry to write.
    """

    def __init__(self, rt: Runtime, backend: Backend, now: dt.datetime | None) -> None:
        self.rt, self.backend, self.now = rt, backend, now
        self.counted = BatchResult()
        self.settled: set[int] = set()  # recorded, or lost to another claim: no longer ours
        self.unrecorded: dict[int, list] = {}
        self.error: BaseException | None = None

    def run(self, items: Sequence[Prepared]) -> None:
        size = max(1, int(getattr(self.backend, "in_flight", 1)))
        answered: list[Answer] = []
        for start in range(0, len(items), size):
            group = items[start : start + size]
            try:
                with self.rt.db.session() as session:
                    done = record_answers(session, answered, self.now)
                    marked = states.mark_submitting(
                        session, [(p.claim, p.message.message_id) for p in group], now=self.now
                    )
            except TRANSIENT_DB_ERRORS as exc:
                self._stop(exc, answered)
                return
            self._count(answered, done)
            self.settled.update(p.claim.delivery_id for p in group if p.claim.delivery_id not in marked)
            going = [p for p in group if p.claim.delivery_id in marked]
            outcomes = self.backend.send_many([p.message for p in going]) if going else []
            answered = [(p, *_outcome(outcome)) for p, outcome in zip(going, outcomes, strict=True)]
        try:
            with self.rt.db.session() as session:
                done = record_answers(session, answered, self.now)
        except TRANSIENT_DB_ERRORS as exc:
            self._stop(exc, answered)
            return
        self._count(answered, done)

    def _count(self, answered: list[Answer], done: set[int]) -> None:
        self.settled.update(p.claim.delivery_id for p, _kind, _detail in answered)
        tally(answered, done, self.counted)

    def _stop(self, exc: BaseException, answered: list[Answer]) -> None:
        self.error = exc
        self.unrecorded.update({p.claim.delivery_id: [kind, detail] for p, kind, detail in answered})


def tally(answered: Sequence[Answer], done: set[int], into: BatchResult) -> None:
    """Count the answers that were written (``done``): sent, failed, or to try again, with their reasons."""
    for p, kind, detail in answered:
        if p.claim.delivery_id not in done:
            continue
        if kind == "sent":
            into.sent += 1
            continue
        if kind == "failed":
            into.failed += 1
        else:
            into.retry.append(p.claim.delivery_id)
        into.errors[p.claim.delivery_id] = str(detail)


def record_answers(session, answered: Sequence[Answer], now: dt.datetime | None) -> set[int]:  # noqa: ANN001
    """Write the provider's answers for a group: sent, released (retry later) or failed; the ids written."""
    done = states.record_sent(session, [(p.claim, detail) for p, kind, detail in answered if kind == "sent"], now=now)
    done |= states.release(session, [(p.claim, str(detail)) for p, kind, detail in answered if kind == "retry"])
    done |= states.fail(session, [(p.claim, str(detail)) for p, kind, detail in answered if kind == "failed"])
    return done


def _outcome(outcome: SendResult | Exception) -> tuple[str, str | None]:
    """(what to record, its detail): a message whose fate the backend cannot tell fails as ``states.UNKNOWN``, which
    the provider's webhook can still settle as sent (``states.confirm_accepted``)."""
    if isinstance(outcome, SendResult):
        return "sent", outcome.provider_message_id
    if isinstance(outcome, TransientSendError):
        return "retry", str(outcome)
    if isinstance(outcome, PermanentSendError):
        return "failed", str(outcome)
    return "failed", f"{states.UNKNOWN}: {outcome}"  # OutcomeUnknownError, or anything a backend did not foresee


def _record_outcomes(rt: Runtime, state: Progress, result: BatchResult, now: dt.datetime | None) -> None:
    """Write the answers an interrupted attempt could not, in one transaction; counted once committed."""
    outcomes = state.outcomes
    answered = [
        (Prepared(states.Claim(i, state.owned.get(i, -1)), None), kind, detail)
        for i, (kind, detail) in outcomes.items()
    ]
    with rt.db.session() as session:
        done = record_answers(session, answered, now)
    counted = BatchResult()
    tally(answered, done, counted)
    result.add(counted)
    state.outcomes = {}
    for delivery_id in outcomes:
        state.owned.pop(delivery_id, None)
    state.remember(result)


def _prepare(rt: Runtime, taken: list[states.Claim], result: BatchResult, backend: Backend) -> list[Prepared]:
    """Rank and render the claimed deliveries; skips and failures are recorded, one bad item never stops the rest."""
    by_id = {c.delivery_id: c for c in taken}
    prepared: list[Prepared] = []
    with rt.db.session() as session:
        deliveries = list(session.scalars(select(Delivery).where(Delivery.id.in_(by_id)).order_by(Delivery.id)))
        for delivery in deliveries:
            session.expunge(delivery)  # read-only copies: rows change only through the transitions of states.py
        subscribers = {
            s.id: s
            for s in session.scalars(select(Subscriber).where(Subscriber.id.in_({d.subscriber_id for d in deliveries})))
        }
        picks: dict[int, list[dict]] = {}
        for day in {d.digest_date for d in deliveries}:
            subs = [subscribers[d.subscriber_id] for d in deliveries if d.digest_date == day]
            picks.update(rank_for(rt, session, subs, day))
        chosen = {d.id: picks.get(d.subscriber_id, []) for d in deliveries}
        nothing = [(by_id[i], "nothing new worth sending") for i, rows in chosen.items() if not rows]
        result.skipped += len(states.skip(session, nothing))
        to_store = [(by_id[i], rows) for i, rows in chosen.items() if rows]
        stored = states.store_picks(session, to_store, current_model_version_id(session))
        for delivery in deliveries:
            delivery.picks = chosen[delivery.id] if delivery.id in stored else []
        papers = load_papers(session, deliveries)
        views: dict[int, dict] = {}  # what the batch's digests show of each paper, computed once
        assembler = DigestAssembler(templates())  # each card and layout rendered once per batch
        unbuildable: list[tuple[states.Claim, str]] = []
        for delivery in deliveries:
            if not delivery.picks:
                continue
            subscriber = subscribers[delivery.subscriber_id]
            try:
                rendered = render_loaded(
                    rt, delivery, subscriber, papers, html=subscriber.email_format != "text", views=views,
                    assembler=assembler,
                )  # fmt: skip
                message = backend.prepare(
                    outgoing(rendered, to=subscriber.email, from_=rt.settings.MAIL_FROM, delivery_id=delivery.id)
                )
            except Exception as exc:  # noqa: BLE001 - record and go on with the other deliveries
                log.warning("delivery %s cannot be built: %s: %s", delivery.id, exc.__class__.__name__, exc)
                unbuildable.append(
                    (by_id[delivery.id], f"could not build the message: {exc.__class__.__name__}: {exc}")
                )
                continue
            prepared.append(Prepared(by_id[delivery.id], message))
        failed = states.fail(session, unbuildable, from_status=states.SENDING)
        result.failed += len(failed)
        result.errors.update({c.delivery_id: reason for c, reason in unbuildable if c.delivery_id in failed})
        session.expunge_all()
    return prepared
