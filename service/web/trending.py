"""Today's trending papers for the public pages: the latest listing's papers, most upvoted first."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.models import Paper

RECENT_DAYS = 2  # the latest listing and the day before it: a listing can be published in several pages


def trending_papers(session: Session, limit: int = 30) -> tuple[dt.date | None, list[Paper]]:
    """(the latest listing date, its papers by upvotes); papers without a listing date count by first sighting."""
    latest = session.scalar(select(func.max(Paper.listing_date)))
    if latest is not None:
        query = select(Paper).where(Paper.listing_date >= latest - dt.timedelta(days=RECENT_DAYS - 1))
    else:
        newest_seen = session.scalar(select(func.max(Paper.first_seen_at)))
        if newest_seen is None:
            return None, []
        query = select(Paper).where(Paper.first_seen_at >= newest_seen - dt.timedelta(days=RECENT_DAYS))
    papers = session.scalars(query.order_by(Paper.upvotes.desc(), Paper.first_seen_at.desc(), Paper.id).limit(limit))
    return latest, list(papers)
