"""Trending papers for the public pages: the latest listing a source dated, its papers by their signals.

The day is a listing date a source stated in full (``date_basis`` ``listing``), never the day something was
ingested: undated captures are never "today's trending", and an archive ingested today does not displace the
latest real listing. Among dated listings the latest one with any signal (upvotes, comments, stars) wins, so an
announcement feed of fresh papers nobody has voted on yet does not hide the day's most upvoted papers.
Withdrawn papers are left out. Ranked by ``service.recommend.trending`` (its signals, our readers' clicks too).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, load_only

from service.models import Paper
from service.recommend.trending import trending_for

_DATED = (Paper.date_basis == "listing", Paper.listing_date.is_not(None), Paper.withdrawn.is_(False))
_SIGNALS = (Paper.id, Paper.upvotes, Paper.num_comments, Paper.github_stars, Paper.date_basis)


def latest_listing_day(session: Session) -> dt.date | None:
    """The latest dated listing with any signal, else the latest dated listing; None when nothing is dated."""
    signal = or_(Paper.upvotes > 0, Paper.num_comments > 0, Paper.github_stars > 0)
    latest = session.scalar(select(func.max(Paper.listing_date)).where(*_DATED, signal))
    return latest or session.scalar(select(func.max(Paper.listing_date)).where(*_DATED))


def trending_papers(session: Session, limit: int = 30) -> tuple[dt.date | None, list[Paper]]:
    """(the latest dated listing's day, its ``limit`` top papers, highest trending score first; ties by upvotes,
    then id); ``(None, [])`` before any dated listing was ingested."""
    day = latest_listing_day(session)
    if day is None:
        return None, []
    light = session.scalars(
        select(Paper).options(load_only(*_SIGNALS)).where(*_DATED, Paper.listing_date == day).order_by(Paper.id)
    ).all()
    scores = trending_for(session, light).scores
    ranked = sorted(range(len(light)), key=lambda i: (-float(scores[i]), -(light[i].upvotes or 0), light[i].id))
    top = [light[i].id for i in ranked[:limit]]
    whole = select(Paper).where(Paper.id.in_(top)).execution_options(populate_existing=True)  # every column now
    full = {p.id: p for p in session.scalars(whole)} if top else {}
    return day, [full[i] for i in top]
