"""Exactly once: every state change of a delivery is a conditional UPDATE (compare-and-set).

States::

    planned ──claim──► sending ──submit──► submitting ──► sent
       ▲                  │                    │  └────► failed (refused for good, or outcome unknown)
       └──── release ─────┴──── (known not accepted: 429/5xx, connection refused) ◄┘

* ``claim`` moves ``planned`` → ``sending`` and bumps ``attempts``; the new ``attempts`` value is the claim's
  fencing token: every later update also requires it, so a worker whose claim was taken over can change nothing.
* While ``sending`` nothing has left the building (we rank and render), so a ``sending`` claim older than the
  lease belongs to a dead worker and may be reclaimed.
* ``submit`` moves ``sending`` → ``submitting`` immediately before the request to the provider (the sender marks
  each group of messages that goes out together in one statement, ``mark_submitting_many``). From then on the
  provider may have the message, so a stale ``submitting`` row is never simply reclaimed: ``resolve_stale``
  asks the backend whether it was accepted (the outbox can tell; SendGrid cannot, but its webhook events carry
  our delivery id) and otherwise marks it failed with "outcome unknown". Never twice beats always once.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import String, and_, bindparam, case, insert, literal, or_, select, text, tuple_, update
from sqlalchemy.orm import Session

from service.db import on_postgresql
from service.digest.plan import FAILED, PLANNED, SENDING, SENT, SKIPPED, SUBMITTING
from service.models import Delivery, Interaction, Subscriber, Suppression, utcnow
from service.subscribers.addresses import normalise_email
from service.subscribers.suppression import is_suppressed

LEASE = dt.timedelta(minutes=10)
_INTERACTIONS = Interaction.__table__


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    attempt: int


def _naive(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return utcnow()
    return now.astimezone(dt.UTC).replace(tzinfo=None) if now.tzinfo else now


def claim_stamp(now: dt.datetime | None = None) -> dt.datetime:
    """A claim time (naive UTC, microseconds): what ``claim_many(stamp=...)`` writes and later recognises."""
    return _naive(now)


def claim(
    session: Session, delivery_id: int, *, now: dt.datetime | None = None, lease: dt.timedelta = LEASE
) -> Claim | None:
    """Take ``delivery_id`` for sending, or None when someone else has it (or it is done)."""
    now = _naive(now)
    row = session.execute(
        select(Delivery.status, Delivery.attempts, Delivery.claimed_at).where(Delivery.id == delivery_id)
    ).one_or_none()
    if row is None:
        return None
    status, attempts, claimed_at = row
    stale = status == SENDING and claimed_at is not None and claimed_at < now - lease
    if status != PLANNED and not stale:
        return None
    result = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == status, Delivery.attempts == attempts)
        .values(status=SENDING, attempts=attempts + 1, claimed_at=now, error=None)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    return Claim(delivery_id, attempts + 1)


def claim_many(
    session: Session,
    delivery_ids: Iterable[int],
    *,
    now: dt.datetime | None = None,
    lease: dt.timedelta = LEASE,
    owned: Mapping[int, int] | None = None,
    stamp: dt.datetime | None = None,
    earlier_stamps: Iterable[dt.datetime] = (),
) -> tuple[list[Claim], list[int]]:
    """Claim a batch in one statement: (claims, ids held by another worker's claim that is not stale yet).

    ``owned`` maps delivery id → attempt of claims this caller made before (a task retried after a database
    error): such a claim is still ours while the row is ``sending`` with that attempt (the fencing token), so it
    is kept rather than waited out. A row of ours found ``submitting`` is one whose marking committed while its
    answer was lost: the sender posts a group only after the mark's commit returns, and every message it did
    post is either recorded or carried in the retry's outcomes (which the caller settles, and drops from
    ``owned``, before claiming). So it was never sent, and it goes back to ``sending`` under the same claim.

    ``stamp`` is the claim time this caller writes (``now`` if not given). A caller whose earlier claim
    statement may have committed without the answer reaching it (the connection dropped during COMMIT) passes
    the stamps it wrote then as ``earlier_stamps``: rows still ``sending`` with exactly such a ``claimed_at``
    are its own lost claims, taken back at once instead of waited out as if another worker held them.
    """
    now = _naive(now)
    written = _naive(stamp) if stamp is not None else now
    ours = {_naive(t) for t in earlier_stamps}
    ids = list(dict.fromkeys(int(i) for i in delivery_ids))
    owned = {int(k): int(v) for k, v in (owned or {}).items() if int(k) in set(ids)}
    claims: list[Claim] = []
    if owned:
        rows = session.execute(select(Delivery.id, Delivery.status, Delivery.attempts).where(Delivery.id.in_(owned)))
        kept = [i for i, status, attempts in rows if status in (SENDING, SUBMITTING) and attempts == owned[i]]
        if kept:
            renewed = session.scalars(
                update(Delivery)
                .where(_ours(Claim(i, owned[i]) for i in kept), Delivery.status.in_((SENDING, SUBMITTING)))
                .values(status=SENDING, claimed_at=now)
                .returning(Delivery.id)
                .execution_options(synchronize_session=False)
            ).all()
            claims.extend(Claim(i, owned[i]) for i in renewed)
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


def ineligible(session: Session, delivery_ids: Iterable[int]) -> dict[int, str]:
    """delivery id → why its subscriber may no longer be mailed, for a whole batch in two queries."""
    ids = list(delivery_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(Delivery.id, Subscriber.status, Subscriber.email)
        .join(Subscriber, Delivery.subscriber_id == Subscriber.id, isouter=True)
        .where(Delivery.id.in_(ids))
    ).all()
    emails = {normalise_email(email) for _, status, email in rows if email}
    suppressed = (
        set(session.scalars(select(Suppression.email).where(Suppression.email.in_(emails)))) if emails else set()
    )
    reasons: dict[int, str] = {}
    for delivery_id, status, email in rows:
        if status is None:
            reasons[delivery_id] = "subscriber deleted"
        elif status != "confirmed":
            reasons[delivery_id] = f"subscription {status} before sending"
        elif normalise_email(email) in suppressed:
            reasons[delivery_id] = "address suppressed before sending"
    reasons.update({i: "subscriber deleted" for i in ids if i not in {r[0] for r in rows}})
    return reasons


def screen_many(session: Session, taken: Sequence[Claim]) -> tuple[list[Claim], dict[int, str]]:
    """Skip the claims whose subscriber left or was suppressed since planning: (still eligible, id → reason)."""
    reasons = ineligible(session, [c.delivery_id for c in taken])
    ready: list[Claim] = []
    skipped: dict[int, str] = {}
    for c in taken:
        reason = reasons.get(c.delivery_id)
        if reason is None:
            ready.append(c)
        elif skip(session, c, reason):
            skipped[c.delivery_id] = reason
    return ready, skipped


# --- PostgreSQL: one statement per group, whatever its size -----------------------------------------------
# The rows of a group travel as a few bound arrays (``unnest``): the same compare-and-set on (id, attempts,
# status) as the portable statements below, without a CASE arm and two IN-list parameters per row for the driver
# to bind and the server to parse, and with the ``sent`` interactions inserted by the same statement that records
# the deliveries (one row per pick, only for the deliveries that statement actually moved to ``sent``).


def pg_array(values: Iterable[str | None]) -> str:
    """A text array literal (``{"a\\"b",NULL}``) for one text parameter cast to an array type.

    The driver would otherwise adapt a Python list element by element: seven times the CPU of the statement.
    """
    quoted = ("NULL" if v is None else '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(quoted) + "}"


def pg_int_array(values: Iterable[int]) -> str:
    """An integer array literal (``{1,2,3}``); ``int()`` refuses anything that is not a whole number."""
    return "{" + ",".join([str(int(v)) for v in values]) + "}"


def _fencing(claims: Iterable[Claim]) -> dict[str, str]:
    """The ``ids`` and ``attempts`` arrays of the array statements: which rows, under which claims."""
    taken = list(claims)
    return {
        "ids": pg_int_array(c.delivery_id for c in taken),
        "attempts": pg_int_array(c.attempt for c in taken),
    }


_PG_MARK_SUBMITTING = text(
    """
    UPDATE deliveries AS d SET status = 'submitting', message_id = u.message_id, claimed_at = :now
    FROM unnest(CAST(:ids AS integer[]), CAST(:attempts AS integer[]), CAST(:message_ids AS varchar[]))
        AS u(id, attempt, message_id)
    WHERE d.id = u.id AND d.attempts = u.attempt AND d.status = 'sending'
    RETURNING d.id
    """
)

_PG_RECORD_SENT = text(
    """
    WITH done AS (
        UPDATE deliveries AS d
        SET status = 'sent', provider_message_id = u.provider_id, sent_at = :now, error = NULL
        FROM unnest(CAST(:ids AS integer[]), CAST(:attempts AS integer[]), CAST(:provider_ids AS varchar[]))
            AS u(id, attempt, provider_id)
        WHERE d.id = u.id AND d.attempts = u.attempt AND d.status = 'submitting'
        RETURNING d.id
    ), shown AS (
        INSERT INTO interactions (subscriber_id, paper_id, delivery_id, kind, position, created_at, suspected_scanner)
        SELECT r.subscriber_id, r.paper_id, r.delivery_id, 'sent', r.position, :now, false
        FROM unnest(
            CAST(:pick_subscribers AS integer[]), CAST(:pick_papers AS integer[]),
            CAST(:pick_deliveries AS integer[]), CAST(:pick_positions AS integer[])
        ) AS r(subscriber_id, paper_id, delivery_id, position)
        WHERE r.delivery_id IN (SELECT id FROM done)
    )
    SELECT id FROM done
    """
)

_PG_STORE_PICKS = text(
    """
    UPDATE deliveries AS d SET picks = CAST(u.picks AS json), model_version_id = :model_version_id
    FROM unnest(CAST(:ids AS integer[]), CAST(:attempts AS integer[]), CAST(:picks AS text[]))
        AS u(id, attempt, picks)
    WHERE d.id = u.id AND d.attempts = u.attempt AND d.status = 'sending'
    RETURNING d.id
    """
)


def _record_sent_pg(
    session: Session, sent: Sequence[tuple[Claim, str | None, int, list[dict]]], stamp: dt.datetime
) -> list[int]:
    subscribers: list[int] = []
    papers: list[int] = []
    deliveries: list[int] = []
    positions: list[int] = []
    for c, _provider_id, subscriber_id, picks in sent:  # the ``sent`` interactions, as four parallel arrays
        for i, pick in enumerate(picks or []):
            subscribers.append(subscriber_id)
            papers.append(pick["paper_id"])
            deliveries.append(c.delivery_id)
            positions.append(pick.get("position", i + 1))
    params = {
        **_fencing(c for c, *_ in sent),
        "provider_ids": pg_array(provider_id for _c, provider_id, *_ in sent),
        "now": stamp,
        "pick_subscribers": pg_int_array(subscribers),
        "pick_papers": pg_int_array(papers),
        "pick_deliveries": pg_int_array(deliveries),
        "pick_positions": pg_int_array(positions),
    }
    done = set(session.scalars(_PG_RECORD_SENT, params))
    return [c.delivery_id for c, *_ in sent if c.delivery_id in done]


def mark_submitting(session: Session, c: Claim, message_id: str, *, now: dt.datetime | None = None) -> bool:
    """``sending`` → ``submitting``, committed immediately before this one message's request leaves."""
    return _transition(session, c, SENDING, status=SUBMITTING, message_id=message_id, claimed_at=_naive(now))


def _ours(claims: Iterable[Claim]):  # noqa: ANN202 - a SQL condition
    """Rows still under these claims: (id, attempts) pairs, the fencing tokens, in one condition."""
    return tuple_(Delivery.id, Delivery.attempts).in_([(c.delivery_id, c.attempt) for c in claims])


def _per_row(values: Mapping[int, str | None]):  # noqa: ANN202 - a SQL expression
    """A value per delivery id, for an UPDATE of many rows at once."""
    return case({i: literal(v, String()) for i, v in values.items()}, value=Delivery.id)


def mark_submitting_many(
    session: Session, items: Sequence[tuple[Claim, str]], *, now: dt.datetime | None = None
) -> set[int]:
    """``mark_submitting`` for the group about to go out together, in one statement: the ids marked.

    Marked only right before the group's requests leave, so after a crash no more than the messages actually in
    flight are in doubt."""
    if not items:
        return set()
    if on_postgresql(session):
        params = {
            **_fencing(c for c, _ in items),
            "message_ids": pg_array(message_id for _, message_id in items),
            "now": _naive(now),
        }
        return set(session.scalars(_PG_MARK_SUBMITTING, params))
    stmt = (
        update(Delivery)
        .where(_ours(c for c, _ in items), Delivery.status == SENDING)
        .values(
            status=SUBMITTING,
            message_id=_per_row({c.delivery_id: message_id for c, message_id in items}),
            claimed_at=_naive(now),
        )
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    )
    return set(session.scalars(stmt))


def record_sent_many(
    session: Session, sent: Sequence[tuple[Claim, str | None, int, list[dict]]], *, now: dt.datetime | None = None
) -> list[int]:
    """``mark_sent`` for a batch of (claim, provider id, subscriber id, picks) in one UPDATE and one multi-row
    INSERT of their ``sent`` interactions: the ids recorded as sent."""
    if not sent:
        return []
    stamp = _naive(now)
    if on_postgresql(session):
        return _record_sent_pg(session, sent, stamp)
    stmt = (
        update(Delivery)
        .where(_ours(c for c, *_ in sent), Delivery.status == SUBMITTING)
        .values(
            status=SENT,
            provider_message_id=_per_row({c.delivery_id: provider_id for c, provider_id, *_ in sent}),
            sent_at=stamp,
            error=None,
        )
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    )
    done = set(session.scalars(stmt))
    rows: list[dict] = []
    for c, _provider_id, subscriber_id, picks in sent:
        if c.delivery_id in done:
            rows.extend(_sent_rows(c.delivery_id, subscriber_id=subscriber_id, picks=picks, at=stamp))
    if rows:  # Core executemany (pipelined by psycopg): the ORM's bulk path costs more than the rest of recording
        session.connection().execute(insert(_INTERACTIONS), rows)
    return [c.delivery_id for c, *_ in sent if c.delivery_id in done]


def _sent_rows(delivery_id: int, *, subscriber_id: int, picks: list[dict], at: dt.datetime) -> list[dict]:
    return [
        {
            "subscriber_id": subscriber_id,
            "paper_id": int(pick["paper_id"]),
            "delivery_id": delivery_id,
            "kind": "sent",
            "position": int(pick.get("position", i + 1)),
            "created_at": at,
        }
        for i, pick in enumerate(picks or [])
    ]


_DELIVERIES = Delivery.__table__


@lru_cache(maxsize=64)
def _transition_statement(columns: tuple[str, ...]):  # noqa: ANN202 - a compiled-once Core UPDATE
    """``UPDATE deliveries SET <columns> WHERE id = ? AND status = ? AND attempts = ?`` with bound parameters,
    built once per column set so SQLAlchemy's statement cache serves every later call."""
    return (
        update(_DELIVERIES)
        .where(
            _DELIVERIES.c.id == bindparam("_id"),
            _DELIVERIES.c.status == bindparam("_from"),
            _DELIVERIES.c.attempts == bindparam("_attempt"),
        )
        .values({name: bindparam(name) for name in columns})
    )


def _transition(session: Session, c: Claim, from_status: str, **values: object) -> bool:
    """Compare-and-set: change the row only while it is in ``from_status`` under this claim's attempt."""
    params = {"_id": c.delivery_id, "_from": from_status, "_attempt": c.attempt, **values}
    result = session.execute(_transition_statement(tuple(sorted(values))), params)
    return result.rowcount == 1


def store_picks_many(
    session: Session, items: Sequence[tuple[Claim, list[dict]]], model_version_id: int | None
) -> set[int]:
    """``store_picks`` for a batch in one round trip (executemany); returns the delivery ids still ours."""
    if not items:
        return set()
    if on_postgresql(session):
        params = {
            **_fencing(c for c, _ in items),
            "picks": pg_array(json.dumps(picks) for _, picks in items),
            "model_version_id": model_version_id,
        }
        return set(session.scalars(_PG_STORE_PICKS, params))
    session.connection().execute(
        _transition_statement(("model_version_id", "picks")),
        [
            {
                "_id": c.delivery_id,
                "_from": SENDING,
                "_attempt": c.attempt,
                "picks": picks,
                "model_version_id": model_version_id,
            }
            for c, picks in items
        ],
    )
    attempts = {c.delivery_id: c.attempt for c, _ in items}
    rows = session.execute(
        select(Delivery.id, Delivery.status, Delivery.attempts).where(Delivery.id.in_(attempts))
    )  # our UPDATEs hold the row locks until commit: what we read is what we wrote
    return {i for i, status, attempt in rows if status == SENDING and attempt == attempts[i]}


def store_picks(session: Session, c: Claim, picks: list[dict], model_version_id: int | None) -> bool:
    return _transition(session, c, SENDING, picks=picks, model_version_id=model_version_id)


def skip(session: Session, c: Claim, reason: str) -> bool:
    """Nothing to send after all (no picks, unsubscribed meanwhile): recorded, never retried."""
    return _transition(session, c, SENDING, status=SKIPPED, skip_reason=reason)


def still_eligible(session: Session, delivery_id: int) -> str | None:
    """None when the subscriber may still be mailed, else the reason not to (read inside the submit transaction)."""
    subscriber = session.scalar(
        select(Subscriber).join(Delivery, Delivery.subscriber_id == Subscriber.id).where(Delivery.id == delivery_id)
    )
    if subscriber is None:
        return "subscriber deleted"
    if subscriber.status != "confirmed":
        return f"subscription {subscriber.status} before sending"
    if is_suppressed(session, subscriber.email):
        return "address suppressed before sending"
    return None


def submit(session: Session, c: Claim, message_id: str, *, now: dt.datetime | None = None) -> bool | str:
    """``sending`` → ``submitting`` just before the request: True, a skip reason, or False (claim lost)."""
    reason = still_eligible(session, c.delivery_id)
    if reason is not None:
        return reason if skip(session, c, reason) else False
    return _transition(session, c, SENDING, status=SUBMITTING, message_id=message_id, claimed_at=_naive(now))


def mark_sent(session: Session, c: Claim, provider_message_id: str | None, *, now: dt.datetime | None = None) -> bool:
    """Accepted by the provider: record it and the ``sent`` interactions in one transaction."""
    ok = _transition(
        session, c, SUBMITTING, status=SENT, provider_message_id=provider_message_id, sent_at=_naive(now), error=None
    )
    if ok:
        record_sent_interactions(session, c.delivery_id)
    return ok


def record_sent_interactions(session: Session, delivery_id: int) -> None:
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        return
    session.refresh(delivery)
    session.add_all(
        Interaction(
            subscriber_id=delivery.subscriber_id,
            paper_id=int(pick["paper_id"]),
            delivery_id=delivery.id,
            kind="sent",
            position=int(pick.get("position", i + 1)),
            created_at=delivery.sent_at or utcnow(),
        )
        for i, pick in enumerate(delivery.picks or [])
    )


def mark_failed(session: Session, c: Claim, error: str, *, from_status: str = SUBMITTING) -> bool:
    return _transition(session, c, from_status, status=FAILED, error=error[:2000])


def release(session: Session, c: Claim, error: str, *, from_status: str = SUBMITTING) -> bool:
    """Known *not* accepted (429/5xx, connection refused, or we never submitted): back to ``planned``."""
    return _transition(session, c, from_status, status=PLANNED, error=error[:2000], claimed_at=None)


def resolve_stale(
    session: Session,
    backend_was_accepted,
    *,
    digest_date: dt.date | None = None,
    now: dt.datetime | None = None,
    lease: dt.timedelta = LEASE,
) -> dict[str, int]:
    """Settle ``submitting`` rows whose worker died: sent if the backend knows it accepted the message,
    planned again if it knows it did not, failed ("outcome unknown") if it cannot tell."""
    now = _naive(now)
    query = select(Delivery.id, Delivery.attempts).where(
        Delivery.status == SUBMITTING, or_(Delivery.claimed_at.is_(None), Delivery.claimed_at < now - lease)
    )
    if digest_date is not None:
        query = query.where(Delivery.digest_date == digest_date)
    counts = {"sent": 0, "planned": 0, "failed": 0}
    for delivery_id, attempts in session.execute(query).all():
        c = Claim(delivery_id, attempts)
        accepted = backend_was_accepted(delivery_id)
        if accepted is True and mark_sent(session, c, None, now=now):
            counts["sent"] += 1
        elif accepted is False and release(session, c, "worker stopped before the provider accepted the message"):
            counts["planned"] += 1
        elif accepted is None and mark_failed(
            session, c, "outcome unknown: the worker stopped after submitting; not re-sent to avoid a duplicate"
        ):
            counts["failed"] += 1
    return counts


def confirm_accepted(session: Session, delivery_id: int, provider_message_id: str | None) -> bool:
    """A provider event proves a ``submitting`` (or outcome-unknown ``failed``) delivery was accepted."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None or delivery.status not in {SUBMITTING, FAILED} or not delivery.message_id:
        return False
    if delivery.status == FAILED and not (delivery.error or "").startswith("outcome unknown"):
        return False
    c = Claim(delivery_id, delivery.attempts)
    ok = _transition(session, c, delivery.status, status=SUBMITTING) and mark_sent(session, c, provider_message_id)
    return ok


def pending_ids(
    session: Session, digest_date: dt.date, *, now: dt.datetime | None = None, lease: dt.timedelta = LEASE
) -> list[int]:
    """Deliveries of ``digest_date`` waiting to be sent: planned, or claimed by a worker that died."""
    now = _naive(now)
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
