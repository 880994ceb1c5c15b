"""The day's new papers for each subscriber: listed or first seen in a short window ending on the digest
date, minus every paper already sent to that subscriber.

The window follows the frequency, so a weekly reader sees the week's papers and a weekday reader's Monday
covers the weekend.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from service.models import Interaction, Paper, Subscriber

WINDOW_DAYS = {"daily": 2, "weekdays": 4, "weekly": 7}


def window_days(frequency: str | None) -> int:
    return WINDOW_DAYS.get(frequency or "daily", 2)


def new_paper_ids(session: Session, digest_date: dt.date, days: int) -> list[int]:
    """Papers whose listing date, or first sighting, falls in the ``days`` days ending on ``digest_date``."""
    start = digest_date - dt.timedelta(days=days - 1)
    start_ts = dt.datetime.combine(start, dt.time.min)
    end_ts = dt.datetime.combine(digest_date + dt.timedelta(days=1), dt.time.min)
    query = (
        select(Paper.id)
        .where(
            or_(
                and_(Paper.listing_date >= start, Paper.listing_date <= digest_date),
                and_(Paper.first_seen_at >= start_ts, Paper.first_seen_at < end_ts),
            )
        )
        .order_by(Paper.id)
    )
    return list(session.scalars(query))


def already_sent(session: Session, subscriber_ids: Iterable[int], paper_ids: Iterable[int]) -> dict[int, set[int]]:
    """subscriber id → the given papers already sent to them."""
    subs, papers = list(subscriber_ids), list(paper_ids)
    sent: dict[int, set[int]] = defaultdict(set)
    if not subs or not papers:
        return sent
    for chunk_start in range(0, len(subs), 500):
        rows = session.execute(
            select(Interaction.subscriber_id, Interaction.paper_id).where(
                Interaction.kind == "sent",
                Interaction.subscriber_id.in_(subs[chunk_start : chunk_start + 500]),
                Interaction.paper_id.in_(papers),
            )
        )
        for subscriber_id, paper_id in rows:
            sent[subscriber_id].add(paper_id)
    return sent


def candidates_for(session: Session, subscribers: Iterable[Subscriber], digest_date: dt.date) -> dict[int, list[int]]:
    """subscriber id → candidate paper ids (new in their window, never sent to them)."""
    subscribers = list(subscribers)
    by_window: dict[int, list[int]] = {}
    for days in {window_days(s.frequency) for s in subscribers}:
        by_window[days] = new_paper_ids(session, digest_date, days)
    all_papers = sorted({p for ids in by_window.values() for p in ids})
    sent = already_sent(session, [s.id for s in subscribers], all_papers)
    return {s.id: [p for p in by_window[window_days(s.frequency)] if p not in sent.get(s.id, ())] for s in subscribers}
