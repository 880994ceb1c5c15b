"""A digest's candidates are news by their sources' dates: listed in the reader's window, never withdrawn, never
sent to that reader; when a paper was ingested plays no part."""

from __future__ import annotations

import datetime as dt

from service.digest.candidates import NewPaperCheck, candidates_for, new_paper_ids
from service.models import Delivery, Paper, Subscriber
from service.runtime import Runtime
from service.subscribers.lifecycle import create_confirmed

DAY = dt.date(2026, 11, 27)  # a Friday


def _add(session, key: str, listed: dt.date | None, **fields: object) -> int:
    fields.setdefault("first_seen_at", dt.datetime.combine(DAY, dt.time(6)))  # every one ingested on the day
    paper = Paper(title=key, title_key=key, listing_date=listed, **fields)
    session.add(paper)
    session.flush()
    return paper.id


def test_the_window_follows_the_listing_date_not_the_ingest_time(any_runtime: Runtime) -> None:
    with any_runtime.db.session() as session:
        today = _add(session, "today", DAY)
        yesterday = _add(session, "yesterday", DAY - dt.timedelta(days=1), date_basis="first-seen")
        older = _add(session, "three days ago", DAY - dt.timedelta(days=3))
        archived = _add(session, "archived", dt.date(2024, 5, 27))
        _add(session, "a revision", None, date_basis="revision")
        _add(session, "withdrawn", DAY, withdrawn=True, withdrawn_note="withdrawn by the authors")
        assert new_paper_ids(session, DAY, 2) == [today, yesterday]
        assert new_paper_ids(session, DAY, 4) == [today, yesterday, older]
        assert new_paper_ids(session, dt.date(2024, 5, 28), 2) == [archived]


def test_each_reader_gets_their_window_minus_what_they_were_sent(any_runtime: Runtime) -> None:
    with any_runtime.db.session() as session:
        today = _add(session, "today", DAY)
        monday = _add(session, "monday", DAY - dt.timedelta(days=4))
        daily = create_confirmed(session, "daily@example.com")
        weekly = create_confirmed(session, "weekly@example.com", frequency="weekly", weekly_day=DAY.weekday())
        session.add(  # an earlier digest showed them today's paper already (a late re-listing, say)
            Delivery(subscriber_id=daily.id, digest_date=DAY - dt.timedelta(days=1), status="sent",
                     picks=[{"paper_id": today, "position": 1, "section": "for_you"}])
        )  # fmt: skip
        session.flush()
        readers = session.query(Subscriber).order_by(Subscriber.id).all()
        assert candidates_for(session, readers, DAY) == {daily.id: [], weekly.id: [today, monday]}
        assert NewPaperCheck(session, DAY)(readers) == {daily.id: False, weekly.id: True}
