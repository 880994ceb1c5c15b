"""What a parser hands to the store: plain values, already normalised, independent of the source layout."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

SOURCES = ("seed-text", "hf-api", "arxiv-atom", "arxiv-listing")


@dataclass
class Entry:
    """One paper as one page lists it. ``where`` locates it in the page for error messages (line or item)."""

    title: str
    abstract: str = ""
    where: str = ""
    arxiv_id: str | None = None
    authors: list[str] = field(default_factory=list)
    author_count: int | None = None
    published_on: dt.date | None = None
    upvotes: int | None = None
    num_comments: int | None = None
    github_repo: str | None = None
    github_stars: int | None = None
    project_page: str | None = None
    ai_summary: str | None = None
    ai_keywords: list[str] = field(default_factory=list)
    organization: str | None = None
    thumbnail: str | None = None
    link_text: str = ""  # more text to search for code/project links (e.g. an arXiv comment), never shown
    # Newness, from the source's own facts (``service/ingest/lifecycle.py``): the day this entry says the paper was
    # listed or announced (None: the page's date applies), and whether that is the first listing of the paper or
    # a later version of it (an arXiv replacement: an update, never news).
    listed_on: dt.date | None = None
    revision: bool = False
    version: int | None = None  # the arXiv version this entry is (5 for ``v5``)

    def __post_init__(self) -> None:
        if self.author_count is None and self.authors:
            self.author_count = len(self.authors)  # a source that names the authors counts them


@dataclass
class ParsedPage:
    """A page's papers, its listing date when it states one, and the entries that had to be skipped.

    ``year_inferred``: the page states its listing date without a year (``Nov 19``); the year is the latest that
    does not put the date after the day the page was received, a guess, so the date is ``inferred``."""

    source: str
    entries: list[Entry]
    listing_date: dt.date | None = None
    problems: list[str] = field(default_factory=list)
    year_inferred: bool = False
