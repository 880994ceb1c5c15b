"""The email's trending signal: the sources' counts and our readers' clicks; counts of undated captures, whose age
nobody knows, are left out."""

from __future__ import annotations

import datetime as dt

from service.models import Interaction, Paper
from service.recommend.trending import trending_for
from service.runtime import Runtime
from service.subscribers.lifecycle import create_confirmed

DAY = dt.date(2026, 11, 27)


def _paper(key: str, basis: str, upvotes: int) -> Paper:
    return Paper(title=key, title_key=key, listing_date=DAY, date_basis=basis, upvotes=upvotes, num_comments=3)


def test_only_dated_counts_trend_and_clicks_always_do(runtime: Runtime) -> None:
    with runtime.db.session() as session:
        dated, undated, clicked = _paper("dated", "listing", 50), _paper("undated", "first-seen", 50), None
        clicked = _paper("clicked", "first-seen", 50)
        session.add_all([dated, undated, clicked])
        session.flush()
        reader = create_confirmed(session, "reader@example.com")
        session.add(Interaction(subscriber_id=reader.id, paper_id=clicked.id, kind="click"))
        session.flush()
        trend = trending_for(session, [dated, undated, clicked])
    assert trend.scores[0] > trend.scores[2] > trend.scores[1] == 0
    assert trend.reasons == ["trending: 50 upvotes", "new today", "trending: read by 1 subscriber"]
