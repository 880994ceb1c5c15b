"""Planning: one delivery row per due subscriber and digest date.

Rows are inserted with ``ON CONFLICT DO NOTHING`` on the unique (subscriber_id, digest_date), so two planners
(two beats by mistake, the beat and ``paperboy send``) never create two deliveries; only the rows this run
created are counted. A due subscriber with nothing new gets a ``skipped`` row with the reason, so the
operator can see why no email went out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from service.digest.candidates import candidates_for
from service.digest.schedule import is_due
from service.models import Delivery, Subscriber, Suppression, utcnow

PLANNED, SENDING, SUBMITTING, SENT, SKIPPED, FAILED = "planned", "sending", "submitting", "sent", "skipped", "failed"


@dataclass
class PlanResult:
    planned: list[int] = field(default_factory=list)  # delivery ids created as planned by this run
    skipped: int = 0  # rows created as skipped by this run
    reasons: dict[str, int] = field(default_factory=dict)


def insert_ignoring_duplicates(session: Session, rows: list[dict]) -> list[tuple[int, str, str | None]]:
    """Insert delivery rows, keeping any that already exist; returns (id, status, skip reason) of the new ones."""
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(Delivery)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["subscriber_id", "digest_date"])
        .returning(Delivery.id, Delivery.status, Delivery.skip_reason)
    )
    return [(row[0], row[1], row[2]) for row in session.execute(stmt)]


def plan_deliveries(
    session: Session, digest_date: dt.date, *, respect_hour: bool = False, now: dt.datetime | None = None
) -> PlanResult:
    """Create the day's delivery rows for every due subscriber that has none yet."""
    now = now or dt.datetime.now(dt.UTC)
    existing = set(session.scalars(select(Delivery.subscriber_id).where(Delivery.digest_date == digest_date)))
    subscribers = [
        s
        for s in session.scalars(select(Subscriber).where(Subscriber.status == "confirmed").order_by(Subscriber.id))
        if s.id not in existing
    ]
    suppressed = set(session.scalars(select(Suppression.email))) if subscribers else set()
    result = PlanResult()
    due: list[Subscriber] = []
    rows: list[dict] = []
    stamp = utcnow()
    for subscriber in subscribers:
        verdict = is_due(
            subscriber, digest_date, now=now, respect_hour=respect_hour, suppressed=subscriber.email in suppressed
        )
        if verdict:
            due.append(subscriber)
        elif verdict.reason == "address suppressed":
            rows.append(_row(subscriber.id, digest_date, SKIPPED, stamp, verdict.reason))
    candidates = candidates_for(session, due, digest_date) if due else {}
    for subscriber in due:
        if candidates.get(subscriber.id):
            rows.append(_row(subscriber.id, digest_date, PLANNED, stamp))
        else:
            rows.append(_row(subscriber.id, digest_date, SKIPPED, stamp, "nothing new since the last digest"))
    for chunk_start in range(0, len(rows), 1000):
        for delivery_id, status, reason in insert_ignoring_duplicates(session, rows[chunk_start : chunk_start + 1000]):
            if status == PLANNED:
                result.planned.append(delivery_id)
            else:
                result.skipped += 1
                result.reasons[reason or status] = result.reasons.get(reason or status, 0) + 1
    return result


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
