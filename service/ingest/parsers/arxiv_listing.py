"""arXiv's daily announcement feeds, per category: ``rss.arxiv.org/rss/<cat>`` (RSS 2.0) and ``/atom/<cat>``.

Each item is one announcement of the day: ``oai:arXiv.org:<id>v<N>`` ids, ``dc:creator`` authors (one
comma-separated string), an ``arxiv:announce_type`` of ``new``, ``cross`` (a new paper cross-listed here),
``replace`` or ``replace-cross`` (a later version of a paper announced before), and a description that starts
``arXiv:<id> Announce Type: <type> Abstract: …``. New and cross-listed entries are news on the announcement day
(the item's or the channel's ``pubDate``, a day in arXiv's time zone); replacements update known papers and are
never news. An empty feed (weekends, holidays) is a clean success.

The XML is checked with ``defusedxml`` first (no DTDs or entities reach the feed parser), then read with
``feedparser``.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from typing import Any

import feedparser

from service.ingest.entries import Entry, ParsedPage
from service.ingest.errors import ParseError
from service.ingest.normalise import arxiv_version, clean_text, normalise_arxiv_id
from service.ingest.parsers.xmlsafe import read_xml

SOURCE = "arxiv-listing"
NEWS = frozenset({"new", "cross"})
REVISIONS = frozenset({"replace", "replace-cross"})
_ROOTS = ("rss", "{http://www.w3.org/2005/Atom}feed")
_PREAMBLE = re.compile(r"^\s*arXiv:\S+\s+Announce Type:\s*([A-Za-z-]+)\s*(?:Abstract:\s*)?", re.IGNORECASE)
_AUTHOR_SPLIT = re.compile(r",\s*(?:and\s+)?|\s+and\s+")


def is_listing_id(value: object) -> bool:
    """Whether an entry id is a listing feed's (``oai:arXiv.org:2402.12345v1``)."""
    return isinstance(value, str) and value.strip().lower().startswith("oai:arxiv.org:")


def parse(content: bytes, origin: str, today: dt.date) -> ParsedPage:
    """Parse one announcement feed; ParseError naming the item and field for what is not a paper."""
    root = read_xml(content)
    if root.tag not in _ROOTS:
        raise ParseError(f"not an RSS or Atom feed: the root element is <{root.tag}>")
    feed = feedparser.parse(content, sanitize_html=False, resolve_relative_uris=False)
    day = announcement_day(feed.feed.get("published")) or announcement_day(feed.feed.get("updated"))
    entries: list[Entry] = []
    problems: list[str] = []
    for index, item in enumerate(feed.entries):
        where = f"item {index}"
        try:
            entries.append(_entry(item, where))
        except ParseError as exc:
            problems.append(f"{where}: {exc} (skipped)")
    if feed.entries and not entries:
        raise ParseError(f"none of the {len(feed.entries)} items is a paper ({problems[0]})")
    return ParsedPage(source=SOURCE, entries=entries, listing_date=day, problems=problems)


def announcement_day(value: object) -> dt.date | None:
    """The calendar day of an RFC 822 (RSS) or ISO 8601 (Atom) timestamp, in the timestamp's own time zone:
    ``Fri, 27 Nov 2026 00:00:00 -0500`` is the 27th (arXiv announces at midnight Eastern)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        return email.utils.parsedate_to_datetime(text).date()
    except (TypeError, ValueError, IndexError, OverflowError):
        pass
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        return None


def _entry(item: Any, where: str) -> Entry:  # noqa: ANN401 - feedparser's dict-like entry
    raw_id = clean_text(item.get("id") or item.get("link"))
    arxiv_id = normalise_arxiv_id(raw_id) or normalise_arxiv_id(clean_text(item.get("link")))
    if arxiv_id is None:
        raise ParseError(f"{raw_id[:60]!r} is not an arXiv identifier", field="guid")
    title = clean_text(item.get("title"))
    if not title:
        raise ParseError("no title", field="title")
    summary = clean_text(item.get("summary"))
    preamble = _PREAMBLE.match(summary)
    announce = clean_text(item.get("arxiv_announce_type") or (preamble.group(1) if preamble else "")).lower()
    if announce and announce not in NEWS | REVISIONS:
        raise ParseError(f"unknown announce type {announce[:30]!r}", field="arxiv:announce_type")
    abstract = summary[preamble.end() :] if preamble else summary
    authors = [clean_text(a) for a in _AUTHOR_SPLIT.split(clean_text(item.get("author")))]
    authors = [a for a in authors if a]
    version = arxiv_version(raw_id)
    return Entry(
        title=title,
        abstract=abstract,
        where=where,
        arxiv_id=arxiv_id,
        authors=authors,
        listed_on=announcement_day(item.get("published")),  # None: the channel's announcement day
        # without an announce type, a version above 1 is a replacement all the same
        revision=announce in REVISIONS or (not announce and (version or 1) > 1),
        version=version,
    )
