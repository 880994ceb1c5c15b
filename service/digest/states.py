"""The delivery state machine: every change of a delivery's status, each a batched compare-and-set.

States (``models.DeliveryStatus``)::

    planned ──claim──► sending ──mark_submitting──► submitting ──record_sent──► sent
       ▲                  │  └──skip──► skipped          │  └──fail──► failed (refused for good, or outcome unknown)
       └──── release ─────┴──────── (known not accepted: 429/5xx, connection refused, a full disk) ◄┘

* ``claim`` moves ``planned`` (or ``sending`` under a lapsed lease) to ``sending`` and bumps ``attempts``; the new
  ``attempts`` is the claim's fencing token: every later transition requires it, so a worker whose claim was taken
  over can change nothing. A claim is a lease: its worker ``renew``s it while the batch runs (``recovery.py``); a
  claim not renewed for ``DIGEST_CLAIM_LEASE_S`` belongs to a dead worker.
* While ``sending`` nothing has left the building (we rank and render), so a lapsed ``sending`` claim is simply
  taken over. From ``submitting`` on the provider may have the message, so a lapsed ``submitting`` row is never
  taken over: ``resolve_stale`` asks the backend whether it was accepted (the outbox can tell; SendGrid cannot, but
  its webhook events carry our delivery id: ``confirm_accepted``) and otherwise marks it failed, outcome unknown.
  Never twice beats always once.

One function per transition, each for a whole batch in one statement; who may still be mailed is decided in one
place (``why_not_mailable``). PostgreSQL runs the hot statements as array statements (``states_pg.py``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import String, and_, bindparam, case, literal, or_, select, tuple_, update
from sqlalchemy.orm import Session

from service.db import on_postgresql
from service.digest import states_pg
from service.models import (
    IN_FLIGHT,
    Delivery,
    DeliveryStatus,
    Subscriber,
    SubscriptionStatus,
    Suppression,
    utcnow,
)

PLANNED, SENDING, SUBMITTING, SENT, SKIPPED, FAILED = (
    DeliveryStatus.PLANNED, DeliveryStatus.SENDING, DeliveryStatus.SUBMITTING, DeliveryStatus.SENT,
    DeliveryStatus.SKIPPED, DeliveryStatus.FAILED,
)  # fmt: skip
LEASE = dt.timedelta(seconds=60)
UNKNOWN = "outcome unknown"  # the start of every error of a delivery the provider may have: a webhook can settle it
OUTCOME_UNKNOWN = f"{UNKNOWN}: the worker stopped after submitting; not sent again to avoid a duplicate"


@dataclass(frozen=True)
class Claim:
    """A delivery this sender holds: its id and the attempt that is the fencing token."""

    delivery_id: int
    attempt: int


def naive(now: dt.datetime | None) -> dt.datetime:
    """``now`` (default: the current time) as naive UTC, as the rows store it."""
    if now is None:
        return utcnow()
    return now.astimezone(dt.UTC).replace(tzinfo=None) if now.tzinfo else now


def _ours(claims: Iterable[Claim]):  # noqa: ANN202 - a SQL condition
    """Rows still under these claims: (id, attempts) pairs, the fencing tokens, in one condition."""
    return tuple_(Delivery.id, Delivery.attempts).in_([(c.delivery_id, c.attempt) for c in claims])


def _per_row(values: Mapping[int, str | None]):  # noqa: ANN202 - a SQL expression
    """A value per delivery id, for an UPDATE of many rows at once."""
    return case({i: literal(v, String()) for i, v in values.items()}, value=Delivery.id)


_PER_ROW = object()  # stands for "each row's own text" in ``_transition``


def _transition(
    session: Session, items: Sequence[tuple[Claim, str | None]], from_status: str | tuple[str, ...], **values: object
) -> set[int]:
    """Move the rows of ``items`` from ``from_status`` under their claims, each with its own text (the ``per_row``
    column named in ``values`` as ``...=_PER_ROW``); the ids moved."""
    if not items:
        return set()
    statuses = (from_status,) if isinstance(from_status, str) else from_status
    texts = {c.delivery_id: text for c, text in items}
    filled = {k: (_per_row(texts) if v is _PER_ROW else v) for k, v in values.items()}
    stmt = (
        update(Delivery)
        .where(_ours(c for c, _ in items), Delivery.status.in_(statuses))
        .values(**filled)
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    )
    return set(session.scalars(stmt))


# --- claiming ------------------------------------------------------------------------------------------------


def claim(
    session: Session,
    delivery_ids: Iterable[int],
    *,
    now: dt.datetime | None = None,
    lease: dt.timedelta = LEASE,
    owned: Mapping[int, int] | None = None,
    stamp: dt.datetime | None = None,
    earlier_stamps: Iterable[dt.datetime] = (),
) -> tuple[list[Claim], list[int]]:
    """Claim a batch in one statement: (claims, ids held by another sender's live claim).

    ``owned`` maps delivery id → attempt of claims this caller made before (a task retried after a database
    error): such a claim is still ours while the row is in flight with that attempt, and is kept rather than
    waited out. A row of ours found ``submitting`` is one whose marking committed while its answer was lost: the
    sender posts a group only after the mark's commit returns, and every message it did post is either recorded or
    carried in the retry's outcomes (settled, and dropped from ``owned``, before claiming). So it was never sent,
    and it goes back to ``sending`` under the same claim.

    ``stamp`` is the claim time this caller writes (``now`` if not given). A caller whose earlier claim statement
    may have committed without the answer reaching it (the connection dropped during COMMIT) passes the stamps it
    wrote then as ``earlier_stamps``: rows still ``sending`` with exactly such a ``claimed_at`` are its own lost
    claims, taken back at once instead of waited out as if another sender held them.
    """
    now = naive(now)
    written = naive(stamp) if stamp is not None else now
    ours = {naive(t) for t in earlier_stamps}
    ids = list(dict.fromkeys(int(i) for i in delivery_ids))
    owned = {int(k): int(v) for k, v in (owned or {}).items() if int(k) in set(ids)}
    claims: list[Claim] = []
    if owned:
        kept = [Claim(i, a) for i, a in owned.items()]
        renewed = _transition(session, [(c, None) for c in kept], IN_FLIGHT, status=SENDING, claimed_at=now)
        claims.extend(c for c in kept if c.delivery_id in renewed)
    rest = [i for i in ids if i not in owned]
    held: list[int] = []
    if rest:
        taken = session.execute(
            update(Delivery)
            .where(
                Delivery.id.in_(rest),
                or_(Delivery.status == PLANNED, and_(Delivery.status == SENDING, Delivery.claimed_at < now - lease)),
            )
            .values(status=SENDING, attempts=Delivery.attempts + 1, claimed_at=written, error=None)
            .returning(Delivery.id, Delivery.attempts)
            .execution_options(synchronize_session=False)
        ).all()
        claims.extend(Claim(i, a) for i, a in taken)
        got = {i for i, _ in taken}
        others = [i for i in rest if i not in got]
        if others:
            sending = session.execute(
                select(Delivery.id, Delivery.attempts, Delivery.claimed_at).where(
                    Delivery.id.in_(others), Delivery.status == SENDING
                )
            ).all()
            claims.extend(Claim(i, a) for i, a, at in sending if at in ours)  # ours, committed unbeknownst to us
            held = [i for i, _a, at in sending if at not in ours]
    return sorted(claims, key=lambda c: c.delivery_id), sorted(held)


def claim_stamp(now: dt.datetime | None = None) -> dt.datetime:
    """A claim time (naive UTC, microseconds): what ``claim(stamp=...)`` writes and later recognises."""
    return naive(now)


def renew(session: Session, claims: Sequence[Claim], *, now: dt.datetime | None = None) -> set[int]:
    """Extend the leases of claims still held (in flight under their attempt): the ids renewed."""
    return _transition(session, [(c, None) for c in claims], IN_FLIGHT, claimed_at=naive(now))


# --- one transition each, for a whole batch ------------------------------------------------------------------


def store_picks(session: Session, items: Sequence[tuple[Claim, list[dict]]], model_version_id: int | None) -> set[int]:
    """Save each claimed delivery's picks (what its email shows) before rendering: the ids still ours."""
    if not items:
        return set()
    if on_postgresql(session):
        return states_pg.store_picks(session, items, model_version_id)
    table = Delivery.__table__
    statement = (
        update(table)
        .where(table.c.id == bindparam("_id"), table.c.attempts == bindparam("_attempt"), table.c.status == SENDING)
        .values(picks=bindparam("_picks", type_=table.c.picks.type), model_version_id=model_version_id)
    )
    rows = [{"_id": c.delivery_id, "_attempt": c.attempt, "_picks": picks} for c, picks in items]
    session.connection().execute(statement, rows)  # one executemany
    stored = session.execute(
        select(Delivery.id, Delivery.status, Delivery.attempts).where(Delivery.id.in_([r["_id"] for r in rows]))
    )  # our UPDATEs hold the row locks until commit: what we read is what we wrote
    attempts = {c.delivery_id: c.attempt for c, _ in items}
    return {i for i, status, attempt in stored if status == SENDING and attempt == attempts[i]}


def skip(session: Session, items: Sequence[tuple[Claim, str]]) -> set[int]:
    """Nothing to send after all (no picks, unsubscribed meanwhile): recorded with the reason, never retried."""
    return _transition(session, items, SENDING, status=SKIPPED, skip_reason=_PER_ROW)


def mark_submitting(
    session: Session, items: Sequence[tuple[Claim, str]], *, now: dt.datetime | None = None
) -> set[int]:
    """``sending`` → ``submitting`` (with each message's Message-ID) for the group about to go out together.

    Marked only right before the group's requests leave, so after a crash no more than the messages actually in
    flight are in doubt."""
    if not items:
        return set()
    if on_postgresql(session):
        return states_pg.mark_submitting(session, items, naive(now))
    return _transition(session, items, SENDING, status=SUBMITTING, message_id=_PER_ROW, claimed_at=naive(now))


def record_sent(
    session: Session, items: Sequence[tuple[Claim, str | None]], *, now: dt.datetime | None = None
) -> set[int]:
    """Accepted by the provider: (claim, provider message id) → ``sent``. What the digest showed is its picks
    (``service.impressions``): nothing else is written. The ids recorded."""
    if not items:
        return set()
    stamp = naive(now)
    if on_postgresql(session):
        return states_pg.record_sent(session, items, stamp)
    return _transition(session, items, SUBMITTING, status=SENT, provider_message_id=_PER_ROW, sent_at=stamp, error=None)


def release(
    session: Session, items: Sequence[tuple[Claim, str]], *, from_status: str | tuple[str, ...] = SUBMITTING
) -> set[int]:
    """Known *not* accepted (429/5xx, connection refused, a full disk, or never submitted): back to ``planned``
    with the reason, for a later attempt."""
    return _transition(session, [(c, text[:2000]) for c, text in items], from_status, status=PLANNED, error=_PER_ROW,
                       claimed_at=None)  # fmt: skip


def fail(
    session: Session, items: Sequence[tuple[Claim, str]], *, from_status: str | tuple[str, ...] = SUBMITTING
) -> set[int]:
    """Refused for good, unbuildable, or outcome unknown: ``failed`` with the reason; never sent again."""
    return _transition(session, [(c, text[:2000]) for c, text in items], from_status, status=FAILED, error=_PER_ROW)


# --- who may still be mailed ---------------------------------------------------------------------------------


def why_not_mailable(status: str | None, email: str | None, suppressed: Collection[str]) -> str | None:
    """The one eligibility rule, for planning and for the last check before sending: None when the subscriber may
    be mailed, else the reason not to. Addresses are compared in their stored, canonical form (``mail.addresses``:
    subscribers and suppressions are both stored so), which keeps this off the validator on the hot paths."""
    if status is None:
        return "subscriber deleted"
    if status != SubscriptionStatus.CONFIRMED:
        return f"subscription {status}"
    if email is not None and email in suppressed:
        return "address suppressed"
    return None


def suppressed_among(session: Session, emails: Iterable[str]) -> set[str]:
    """Which of these stored addresses are suppressed, in one query."""
    wanted = {e for e in emails if e}
    if not wanted:
        return set()
    return set(session.scalars(select(Suppression.email).where(Suppression.email.in_(wanted))))


def screen(session: Session, taken: Sequence[Claim]) -> tuple[list[Claim], dict[int, str]]:
    """Skip the claims whose subscriber left or was suppressed since planning: (still mailable, id → reason)."""
    ids = [c.delivery_id for c in taken]
    rows = {
        i: (status, email)
        for i, status, email in session.execute(
            select(Delivery.id, Subscriber.status, Subscriber.email)
            .join(Subscriber, Delivery.subscriber_id == Subscriber.id, isouter=True)
            .where(Delivery.id.in_(ids))
        )
    }
    suppressed = suppressed_among(session, [email for _, email in rows.values() if email])
    reasons = {i: why_not_mailable(*rows.get(i, (None, None)), suppressed) for i in ids}
    skipped = skip(session, [(c, f"{reasons[c.delivery_id]} before sending") for c in taken if reasons[c.delivery_id]])
    ready = [c for c in taken if not reasons[c.delivery_id]]
    return ready, {i: f"{reasons[i]} before sending" for i in skipped}


# --- what the senders left ------------------------------------------------------------------------------------


def resolve_stale(
    session: Session,
    was_accepted: Callable[[int], bool | None],
    *,
    digest_date: dt.date | None = None,
    now: dt.datetime | None = None,
    lease: dt.timedelta = LEASE,
) -> dict[str, int]:
    """Settle ``submitting`` rows whose sender died: sent if the backend knows it accepted the message, planned again
    if it knows it did not, failed ("outcome unknown") if it cannot tell."""
    now = naive(now)
    query = select(Delivery.id, Delivery.attempts).where(
        Delivery.status == SUBMITTING, or_(Delivery.claimed_at.is_(None), Delivery.claimed_at < now - lease)
    )
    if digest_date is not None:
        query = query.where(Delivery.digest_date == digest_date)
    accepted, not_accepted, unknown = [], [], []
    for delivery_id, attempts in session.execute(query).all():
        verdict = was_accepted(delivery_id)
        c = Claim(delivery_id, attempts)
        if verdict is True:
            accepted.append((c, None))
        elif verdict is False:
            not_accepted.append((c, "the sender stopped before the provider accepted the message"))
        else:
            unknown.append((c, OUTCOME_UNKNOWN))
    return {
        "sent": len(record_sent(session, accepted, now=now)),
        "planned": len(release(session, not_accepted)),
        "failed": len(fail(session, unknown)),
    }


def confirm_accepted(session: Session, delivery_id: int, provider_message_id: str | None) -> bool:
    """A provider event proves a ``submitting`` (or outcome-unknown ``failed``) delivery was accepted."""
    row = session.execute(
        select(Delivery.status, Delivery.attempts, Delivery.error, Delivery.message_id).where(
            Delivery.id == delivery_id
        )
    ).first()
    if row is None or row.status not in (SUBMITTING, FAILED) or not row.message_id:
        return False
    if row.status == FAILED and not (row.error or "").startswith(UNKNOWN):
        return False
    c = Claim(delivery_id, row.attempts)
    if row.status == FAILED and not _transition(session, [(c, None)], FAILED, status=SUBMITTING):
        return False
    return bool(record_sent(session, [(c, provider_message_id)]))


def pending_ids(
    session: Session, digest_date: dt.date, *, now: dt.datetime | None = None, lease: dt.timedelta = LEASE
) -> list[int]:
    """Deliveries of ``digest_date`` waiting to be sent: planned, or claimed by a sender whose lease lapsed."""
    now = naive(now)
    return list(
        session.scalars(
            select(Delivery.id)
            .where(
                Delivery.digest_date == digest_date,
                or_(Delivery.status == PLANNED, and_(Delivery.status == SENDING, Delivery.claimed_at < now - lease)),
            )
            .order_by(Delivery.id)
        )
    )
