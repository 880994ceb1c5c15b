"""The day's new papers for each subscriber: papers whose listing date (the day they are news by their source's
own facts: ``service/ingest/lifecycle.py``) falls in a short window ending on the digest date, never withdrawn,
minus every paper already sent to that subscriber. When a paper was ingested plays no part: an archive ingested
today is history, and a late addition to yesterday's listing is news in the window that holds yesterday.

The window follows the frequency, so a weekly reader sees the week's papers and a weekday reader's Monday
covers the weekend.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.impressions import LOOKBACK_DAYS, shown
from service.models import Paper, Subscriber

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


def already_sent(
    session: Session, subscriber_ids: Iterable[int], paper_ids: Iterable[int], digest_date: dt.date
) -> dict[int, set[int]]:
    """subscriber id → the given papers their digests before ``digest_date`` already showed them (the last
    ``impressions.LOOKBACK_DAYS`` days' digests: no paper stays news longer)."""
    papers = set(paper_ids)
    since = digest_date - dt.timedelta(days=LOOKBACK_DAYS)
    shown_before = shown(session, subscriber_ids, since, until=digest_date)
    return {sid: seen & papers for sid, seen in shown_before.items() if seen & papers}


def _windows(session: Session, subscribers: list[Subscriber], digest_date: dt.date) -> dict[int, list[int]]:
    return {days: new_paper_ids(session, digest_date, days) for days in {window_days(s.frequency) for s in subscribers}}


def candidates_for(session: Session, subscribers: Iterable[Subscriber], digest_date: dt.date) -> dict[int, list[int]]:
    """subscriber id → candidate paper ids (new in their window, never sent to them).

    Subscribers with nothing of their window sent yet share one list (not a copy each)."""
    subscribers = list(subscribers)
    by_window = _windows(session, subscribers, digest_date)
    all_papers = sorted({p for ids in by_window.values() for p in ids})
    sent = already_sent(session, [s.id for s in subscribers], all_papers, digest_date)
    out: dict[int, list[int]] = {}
    for s in subscribers:
        window = by_window[window_days(s.frequency)]
        seen = sent.get(s.id)
        out[s.id] = [p for p in window if p not in seen] if seen else window
    return out


class NewPaperCheck:
    """Whether anything new in a subscriber's window was never sent to them (all that planning needs), for the
    chunks of one plan: each window is read once, however many chunks ask.

    A reader can have been shown at most ``MAX_SHOWN`` papers a digest, one digest a date, so a window holding more
    papers than their earlier digests of the window could have shown certainly has something new for everyone: the
    usual case, answered without reading a digest. Only small windows are checked against what was shown.
    """

    MAX_SHOWN = 40  # papers per email: 30 at most, plus the trending papers older digests added on top

    def __init__(self, session: Session, digest_date: dt.date) -> None:
        self.session = session
        self.digest_date = digest_date
        self._windows: dict[int, list[int]] = {}

    def __call__(self, subscribers: Iterable[Subscriber]) -> dict[int, bool]:
        """subscriber id → whether they have anything new."""
        subscribers = list(subscribers)
        out: dict[int, bool] = {}
        to_check: list[Subscriber] = []
        for s in subscribers:
            days = window_days(s.frequency)
            window = self._window(days)
            if len(window) > self.MAX_SHOWN * (days - 1):
                out[s.id] = True
            elif not window:
                out[s.id] = False
            else:
                to_check.append(s)
        if to_check:
            papers = {p for s in to_check for p in self._window(window_days(s.frequency))}
            sent = already_sent(self.session, [s.id for s in to_check], papers, self.digest_date)
            for s in to_check:
                window = self._window(window_days(s.frequency))
                out[s.id] = any(p not in sent.get(s.id, ()) for p in window)
        return out

    def _window(self, days: int) -> list[int]:
        if days not in self._windows:
            self._windows[days] = new_paper_ids(self.session, self.digest_date, days)
        return self._windows[days]
