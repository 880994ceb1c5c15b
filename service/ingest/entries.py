"""What a parser hands to the store: plain values, already normalised, independent of the source layout."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

SOURCES = ("seed-text", "hf-api", "arxiv-atom")


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


@dataclass
class ParsedPage:
    """A page's papers, its listing date when it states one, and the entries that had to be skipped."""

    source: str
    entries: list[Entry]
    listing_date: dt.date | None = None
    problems: list[str] = field(default_factory=list)
