"""The day's new papers for each subscriber: papers whose listing date (the day they are news by their source's
own facts: ``service/ingest/lifecycle.py``) falls in a short window ending on the digest date, never withdrawn,
minus every paper already sent to that subscriber. When a paper was ingested plays no part: an archive ingested
today is history, and a late addition to yesterday's listing is news in the window that holds yesterday.

The window follows the frequency, so a weekly reader sees the week's papers and a weekday reader's Monday
covers the weekend.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.models import Interaction, Paper, Subscriber

WINDOW_DAYS = {"daily": 2, "weekdays": 4, "weekly": 7}


def window_days(frequency: str | None) -> int:
    return WINDOW_DAYS.get(frequency or "daily", 2)


def new_paper_ids(session: Session, digest_date: dt.date, days: int) -> list[int]:
    """Ids of the papers news in the ``days`` days ending on ``digest_date`` (listing date in that window), not
    withdrawn, in id order. Read through the ``listing_date`` index."""
    start = digest_date - dt.timedelta(days=days - 1)
    query = (
        select(Paper.id)
        .where(Paper.listing_date >= start, Paper.listing_date <= digest_date, Paper.withdrawn.is_(False))
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


def _windows(session: Session, subscribers: list[Subscriber], digest_date: dt.date) -> dict[int, list[int]]:
    return {days: new_paper_ids(session, digest_date, days) for days in {window_days(s.frequency) for s in subscribers}}


def candidates_for(session: Session, subscribers: Iterable[Subscriber], digest_date: dt.date) -> dict[int, list[int]]:
    """subscriber id → candidate paper ids (new in their window, never sent to them).

    Subscribers with nothing of their window sent yet share one list (not a copy each)."""
    subscribers = list(subscribers)
    by_window = _windows(session, subscribers, digest_date)
    all_papers = sorted({p for ids in by_window.values() for p in ids})
    sent = already_sent(session, [s.id for s in subscribers], all_papers)
    out: dict[int, list[int]] = {}
    for s in subscribers:
        window = by_window[window_days(s.frequency)]
        seen = sent.get(s.id)
        out[s.id] = [p for p in window if p not in seen] if seen else window
    return out


class NewPaperCheck:
    """Whether anything new in a subscriber's window was never sent to them (all that planning needs), for the
    chunks of one plan: each window's counts are read once, however many chunks ask.

    One query per window: how many of the window's papers each subscriber was already sent (readers with none
    are not in the answer), instead of the papers themselves. Through the paper_id index it reads the window's
    ``sent`` rows once; asked per chunk of subscribers it would read them once per chunk."""

    def __init__(self, session: Session, digest_date: dt.date) -> None:
        self.session = session
        self.digest_date = digest_date
        self._windows: dict[int, list[int]] = {}
        self._sent: dict[int, dict[int, int]] = {}  # window days → subscriber id → window papers already sent

    def __call__(self, subscribers: Iterable[Subscriber]) -> dict[int, bool]:
        """subscriber id → whether they have anything new."""
        out: dict[int, bool] = {}
        for s in subscribers:
            days = window_days(s.frequency)
            window, sent = self._window(days)
            out[s.id] = sent.get(s.id, 0) < len(window)
        return out

    def _window(self, days: int) -> tuple[list[int], dict[int, int]]:
        if days not in self._windows:
            window = self._windows[days] = new_paper_ids(self.session, self.digest_date, days)
            self._sent[days] = (
                dict(
                    self.session.execute(
                        select(Interaction.subscriber_id, func.count(func.distinct(Interaction.paper_id)))
                        .where(Interaction.kind == "sent", Interaction.paper_id.in_(window))
                        .group_by(Interaction.subscriber_id)
                    ).all()
                )
                if window
                else {}
            )
        return self._windows[days], self._sent[days]
