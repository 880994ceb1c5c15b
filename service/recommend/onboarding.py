"""A new reader's first picks: search the recent papers, pick a few, and the model learns them at once.

Picks are stored as "more like this" reactions (the strongest positive the model knows) and folded into the
current model (``fold_in_clicks``), so the very first digest is ranked by the learned model instead of by stated
topics and trending alone.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from service.models import Interaction, Paper
from service.runtime import Runtime

RECENT_DAYS = 14  # "recent": the last two weeks of listings in the database
MAX_RESULTS = 20
MAX_PICKS = 10  # per submission; enough to start a profile, too few to flood it
MAX_QUERY_WORDS = 8
PICK_KIND = "more"
_WORD = re.compile(r"[\w+#.-]+", re.UNICODE)


class InvalidPicks(ValueError):
    """The submitted picks were not papers one can pick; the message says which and why."""


def recent_window(session: Session) -> tuple[dt.date, dt.date] | None:
    """(first, last) day of the recent listings, ending at the newest listing date; None without papers."""
    newest = session.scalar(select(func.max(Paper.listing_date)))
    if newest is None:
        return None
    return newest - dt.timedelta(days=RECENT_DAYS - 1), newest


def query_words(query: str) -> list[str]:
    """The words of a search box's text (at most ``MAX_QUERY_WORDS``), lower-cased."""
    return [w.lower() for w in _WORD.findall(query or "")][:MAX_QUERY_WORDS]


def _like(word: str) -> str:
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search_recent(session: Session, query: str, limit: int = MAX_RESULTS) -> list[Paper]:
    """Recent papers whose title or abstract holds every word of ``query`` (all recent ones when it has none),
    most upvoted first. Withdrawn papers (no abstract left to read) are found like any other."""
    window = recent_window(session)
    if window is None:
        return []
    conditions = [Paper.listing_date >= window[0], Paper.listing_date <= window[1]]
    for word in query_words(query):
        pattern = _like(word)
        conditions.append(or_(Paper.title.ilike(pattern, escape="\\"), Paper.abstract.ilike(pattern, escape="\\")))
    statement = (
        select(Paper)
        .where(and_(*conditions))
        .order_by(Paper.upvotes.desc(), Paper.listing_date.desc(), Paper.id)
        .limit(limit)
    )
    return list(session.scalars(statement))


def picked_papers(session: Session, subscriber_id: int) -> list[Paper]:
    """The papers this reader picked or asked for more of, newest first."""
    ids = session.scalars(
        select(Interaction.paper_id)
        .where(Interaction.subscriber_id == subscriber_id, Interaction.kind == PICK_KIND)
        .order_by(Interaction.created_at.desc(), Interaction.id.desc())
    ).all()
    ids = list(dict.fromkeys(ids))
    by_id = {p.id: p for p in session.scalars(select(Paper).where(Paper.id.in_(ids)))} if ids else {}
    return [by_id[i] for i in ids if i in by_id]


def parse_picks(values: list[str]) -> list[int]:
    """Paper ids from a form's checkboxes; ``InvalidPicks`` names a value that is not one."""
    ids: list[int] = []
    for value in values:
        if not str(value).strip().isdigit():
            raise InvalidPicks(f"not a paper id: {str(value)[:40]!r}")
        ids.append(int(value))
    ids = list(dict.fromkeys(ids))
    if not ids:
        raise InvalidPicks("pick at least one paper")
    if len(ids) > MAX_PICKS:
        raise InvalidPicks(f"pick at most {MAX_PICKS} papers at a time (got {len(ids)})")
    return ids


def record_picks(session: Session, subscriber_id: int, paper_ids: list[int]) -> int:
    """Store each picked paper once as "more like this"; returns how many were new. ``InvalidPicks`` when a paper
    does not exist (nothing is stored then)."""
    found = set(session.scalars(select(Paper.id).where(Paper.id.in_(paper_ids))))
    missing = [p for p in paper_ids if p not in found]
    if missing:
        raise InvalidPicks(f"no paper with id {missing[0]}")
    already = set(session.scalars(select(Interaction.paper_id).where(
        Interaction.subscriber_id == subscriber_id, Interaction.kind == PICK_KIND, Interaction.paper_id.in_(paper_ids),
    )))  # fmt: skip
    fresh = [p for p in paper_ids if p not in already]
    session.add_all(Interaction(subscriber_id=subscriber_id, paper_id=p, kind=PICK_KIND) for p in fresh)
    session.flush()
    return len(fresh)


def learn_picks(rt: Runtime, subscriber_id: int) -> dict[str, Any]:
    """Fold the reader's reactions, picks included, into the current model now (not at the nightly training)."""
    from service.recommend.foldin import fold_in_clicks

    return fold_in_clicks(rt, subscriber_id)
