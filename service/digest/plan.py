"""Planning: one delivery row per due subscriber and digest date.

Rows are inserted with ``ON CONFLICT DO NOTHING`` on the unique (subscriber_id, digest_date), so two planners
(two beats by mistake, the beat and ``paperboy send``) never create two deliveries; only the rows this run
created are counted. A due subscriber with nothing new gets a ``skipped`` row with the reason, so the
operator can see why no email went out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Row, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from service.db import on_postgresql
from service.digest.candidates import NewPaperCheck
from service.digest.schedule import is_due
from service.digest.states import PLANNED, SKIPPED
from service.models import Delivery, Subscriber, SubscriptionStatus, Suppression, utcnow

PLAN_CHUNK = 10_000  # subscribers planned per step (one INSERT; one hand-over to the workers when streaming)
# What deciding whether a subscriber is due needs (``schedule.is_due`` reads them as attributes of the row), and
# the address for suppressions.
_SCHEDULE_COLUMNS = (
    Subscriber.id,
    Subscriber.email,
    Subscriber.status,
    Subscriber.frequency,
    Subscriber.weekly_day,
    Subscriber.paused_until,
    Subscriber.timezone,
    Subscriber.send_hour,
)


@dataclass
class PlanResult:
    planned: list[int] = field(default_factory=list)  # delivery ids created as planned by this run
    skipped: int = 0  # rows created as skipped by this run
    reasons: dict[str, int] = field(default_factory=dict)


def insert_ignoring_duplicates(session: Session, rows: list[dict]) -> list[tuple[int, str, str | None]]:
    """Insert delivery rows, keeping any that already exist; returns (id, status, skip reason) of the new ones."""
    if not rows:
        return []
    if on_postgresql(session):
        return _insert_unnest(session, rows)
    stmt = (
        sqlite.insert(Delivery.__table__)
        .on_conflict_do_nothing(index_elements=["subscriber_id", "digest_date"])
        .returning(Delivery.id, Delivery.status, Delivery.skip_reason)
    )
    return [(row[0], row[1], row[2]) for row in session.connection().execute(stmt, rows)]


# PostgreSQL: the rows as three arrays, one statement whatever their number. A multi-row VALUES list has seven
# parameters per row, and the driver parses every one of them client-side: most of the planning time at 100k.
_INSERT_UNNEST = text(
    """
    INSERT INTO deliveries (subscriber_id, digest_date, status, skip_reason, picks, attempts, planned_at)
    SELECT u.subscriber_id, :digest_date, u.status, u.skip_reason, '[]', 0, :planned_at
    FROM unnest(CAST(:subscriber_ids AS integer[]), CAST(:statuses AS varchar[]), CAST(:reasons AS text[]))
        AS u(subscriber_id, status, skip_reason)
    ON CONFLICT (subscriber_id, digest_date) DO NOTHING
    RETURNING id, status, skip_reason
    """
)


def _insert_unnest(session: Session, rows: list[dict]) -> list[tuple[int, str, str | None]]:
    shared = {(r["digest_date"], r["planned_at"]) for r in rows}
    if len(shared) != 1 or any(r["picks"] or r["attempts"] for r in rows):
        raise ValueError("rows of one plan share their date and time, with no picks and no attempts yet")
    ((digest_date, planned_at),) = shared
    params = {
        "digest_date": digest_date,
        "planned_at": planned_at,
        "subscriber_ids": [r["subscriber_id"] for r in rows],
        "statuses": [r["status"] for r in rows],
        "reasons": [r["skip_reason"] for r in rows],
    }
    return [(row[0], row[1], row[2]) for row in session.execute(_INSERT_UNNEST, params)]


def plan_deliveries(
    session: Session,
    digest_date: dt.date,
    *,
    respect_hour: bool = False,
    now: dt.datetime | None = None,
    on_chunk: Callable[[list[int]], None] | None = None,
) -> PlanResult:
    """Create the day's delivery rows for every due subscriber that has none yet.

    With ``on_chunk``, each chunk of rows is committed as soon as it is inserted and its planned ids handed to
    ``on_chunk``, so the workers start sending while the rest of a large day is still being planned.
    """
    now = now or dt.datetime.now(dt.UTC)
    suppressed = set(session.scalars(select(Suppression.email)))
    result = PlanResult()
    has_new = NewPaperCheck(session, digest_date)
    after = 0
    while True:  # subscribers in id order, one chunk at a time: the first rows are ready within a second
        chunk = session.execute(  # rows of just these columns, not ORM objects: 100k of those cost seconds
            select(*_SCHEDULE_COLUMNS)
            .where(Subscriber.status == SubscriptionStatus.CONFIRMED, Subscriber.id > after)
            .order_by(Subscriber.id)
            .limit(PLAN_CHUNK)
        ).all()
        if not chunk:
            return result
        first_chunk = after == 0
        after = chunk[-1].id
        planned = _plan_chunk(session, chunk, digest_date, now, respect_hour, suppressed, has_new, result)
        if first_chunk:
            refresh_statistics(session, inserted=len(result.planned) + result.skipped)
        if on_chunk is not None:
            session.commit()
            if planned:
                on_chunk(planned)


def refresh_statistics(session: Session, *, inserted: int) -> None:
    """On PostgreSQL, ``ANALYZE deliveries`` when a plan's first chunk alone adds many rows to a table the
    planner thinks small (called once per plan, after that chunk).

    Every send batch looks its 500 deliveries up by id. Planned from statistics of a table that was empty or far
    smaller (the first days of a deployment), those lookups become sequential scans of the whole day's rows, on
    every batch; autovacuum would analyse the table only later. Analysed now, they are index lookups.
    """
    if inserted == 0 or not on_postgresql(session):
        return
    known = session.scalar(text("SELECT reltuples FROM pg_class WHERE oid = 'deliveries'::regclass"))
    if known is None or known < 0 or inserted > 0.2 * known:
        session.execute(text("ANALYZE deliveries"))


def _plan_chunk(
    session: Session,
    subscribers: Sequence[Row],
    digest_date: dt.date,
    now: dt.datetime,
    respect_hour: bool,
    suppressed: set[str],
    has_new: NewPaperCheck,
    result: PlanResult,
) -> list[int]:
    """Plan one chunk of subscribers (ascending ids); adds to ``result`` and returns the ids planned."""
    first, last = subscribers[0].id, subscribers[-1].id
    existing = set(
        session.scalars(
            select(Delivery.subscriber_id).where(
                Delivery.digest_date == digest_date, Delivery.subscriber_id.between(first, last)
            )
        )
    )
    due: list[Row] = []
    rows: list[dict] = []
    stamp = utcnow()
    for subscriber in subscribers:
        if subscriber.id in existing:
            continue
        verdict = is_due(subscriber, digest_date, now=now, respect_hour=respect_hour, suppressed=suppressed)
        if verdict:
            due.append(subscriber)
        elif verdict.reason == "address suppressed":
            rows.append(_row(subscriber.id, digest_date, SKIPPED, stamp, verdict.reason))
    worth_sending = has_new(due) if due else {}
    for subscriber in due:
        if worth_sending.get(subscriber.id):
            rows.append(_row(subscriber.id, digest_date, PLANNED, stamp))
        else:
            rows.append(_row(subscriber.id, digest_date, SKIPPED, stamp, "nothing new since the last digest"))
    planned: list[int] = []
    for delivery_id, status, reason in insert_ignoring_duplicates(session, rows):
        if status == PLANNED:
            planned.append(delivery_id)
        else:
            result.skipped += 1
            result.reasons[reason or status] = result.reasons.get(reason or status, 0) + 1
    result.planned.extend(planned)
    return planned


def _row(subscriber_id: int, digest_date: dt.date, status: str, stamp: dt.datetime, reason: str | None = None) -> dict:
    return {
        "subscriber_id": subscriber_id,
        "digest_date": digest_date,
        "status": status,
        "skip_reason": reason,
        "picks": [],
        "attempts": 0,
        "planned_at": stamp,
    }
