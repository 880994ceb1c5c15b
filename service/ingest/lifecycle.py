"""What is new, from the sources' own facts, and what is withdrawn.

A paper is news on its source's listing or announcement day (HF API: the listing day; arXiv listing feeds: the
announcement day; arXiv API: the v1 ``published`` date), or, when no source states a day, on its publication day
when one is stated, else on the day it was first seen. A later version of a paper (an arXiv replacement) is an
update, never news. Old pages ingested late are history: their dates put their papers before any current digest
window, whatever order pages arrive in.

Each sighting of a paper brings a ``Dated`` fact. The paper keeps the strongest basis seen (``DATE_BASES`` in
``service.models``, strongest first) and, within it, the earliest day, so the result is the same whatever the
ingest order. Withdrawal: arXiv marks a withdrawn paper in the comment and abstract of its last version.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from service.models import DATE_BASES, Paper

_RANK = {basis: rank for rank, basis in enumerate(DATE_BASES)}

# arXiv's wordings: "This paper has been withdrawn by the authors", "This submission has been withdrawn by arXiv
# administrators due to …", "Withdrawn: …", "paper withdrawn". Anchored on paper/submission words or the start of
# the text, so an abstract about, say, a drug withdrawn from the market is not read as a withdrawal.
_WITHDRAWN = re.compile(
    r"(?:\b(?:this|the|our) (?:paper|submission|article|manuscript|preprint|work|version|report)"
    r" (?:has been|have been|is|was|is being|are) withdrawn\b"
    r"|\bwithdrawn by (?:the |its )?(?:authors?|arxiv|submitter|moderators?|administrators?)\b"
    r"|^\W*(?:(?:paper|article|submission|manuscript) )?withdrawn\b"
    r"|\b(?:paper|article|submission|manuscript) withdrawn\b)",
    re.IGNORECASE,
)
NOTE_CHARS = 500


@dataclass(frozen=True)
class Dated:
    """What one sighting says about when its paper is news: ``day`` (None only for ``revision``) and how it
    knows (a ``DATE_BASES`` value)."""

    day: dt.date | None
    basis: str


def sighting_date(
    *,
    entry_day: dt.date | None,
    revision: bool,
    page_day: dt.date | None,
    page_inferred: bool,
    published: dt.date | None,
    received: dt.date,
    today: dt.date,
) -> Dated:
    """The fact one entry of one page brings.

    ``entry_day`` is the day the entry itself states (listing, announcement or v1 date); else the page's date
    (``page_inferred``: stated without a year); else the paper's publication date (an archived day that lost
    its date is still old); else the day the page was received. A revision (a later version, an arXiv
    replacement) is never news. Days after ``today`` are clamped to it: no listing is in the future.
    """
    if revision:
        return Dated(None, "revision")
    if entry_day is not None:
        return Dated(min(entry_day, today), "listing")
    if page_day is not None:
        return Dated(min(page_day, today), "inferred" if page_inferred else "listing")
    if published is not None:
        return Dated(min(published, today), "published")
    return Dated(min(received, today), "first-seen")


def apply_date(paper: Paper, fact: Dated) -> None:
    """Fold one sighting's fact into the paper (a new paper has no basis yet: it takes the fact's): the strongest
    basis wins; within a basis, the earliest day."""
    if paper.date_basis not in _RANK or _RANK[fact.basis] < _RANK[paper.date_basis]:
        paper.date_basis, paper.listing_date = fact.basis, fact.day
    elif fact.basis == paper.date_basis and fact.day is not None:
        paper.listing_date = min(paper.listing_date, fact.day) if paper.listing_date else fact.day


def withdrawal_note(*texts: str | None) -> str | None:
    """The first of ``texts`` (an arXiv comment, an abstract) that says the paper is withdrawn, cut to
    NOTE_CHARS; None when none does."""
    for text in texts:
        if text and "withdr" in text.lower() and _WITHDRAWN.search(text):
            return text if len(text) <= NOTE_CHARS else text[: NOTE_CHARS - 1] + "…"
    return None
