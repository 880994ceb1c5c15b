"""arXiv API Atom responses (``export.arxiv.org/api/query``), including the API's error feed.

The error feed is a valid Atom document whose only entry is titled ``Error`` with an ``/api/errors#…`` id: it is
a failure of the request, reported as a ParseError, never stored as a paper. Documents with a DTD are refused
(no entity expansion on input we did not write).
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET

from service.ingest.entries import Entry, ParsedPage
from service.ingest.errors import ParseError
from service.ingest.normalise import clean_text, decode_text, normalise_arxiv_id, parse_iso_date

SOURCE = "arxiv-atom"
ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"
_DTD = re.compile(r"<!\s*(doctype|entity)", re.IGNORECASE)


def parse(content: bytes, origin: str, today: dt.date) -> ParsedPage:
    """Parse an Atom feed of arXiv entries; ``ParseError`` for the API's error feed or malformed XML."""
    text = decode_text(content)  # the same clear errors for empty, binary or non-UTF-8 input as every parser
    if _DTD.search(text):
        raise ParseError("XML with a DTD or entities is refused (an arXiv feed has none)")
    try:
        root = ET.fromstring(content)  # noqa: S314 - DTDs refused above; expat never fetches external entities
    except ET.ParseError as exc:
        line = exc.position[0] if exc.position else None
        raise ParseError(f"not well-formed XML ({exc})", line=line) from exc
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"not readable XML ({exc.__class__.__name__})") from exc
    if root.tag != f"{ATOM}feed":
        raise ParseError(f"not an Atom feed: the root element is <{root.tag}>")

    raw_entries = root.findall(f"{ATOM}entry")
    _raise_on_api_error(raw_entries)
    entries: list[Entry] = []
    problems: list[str] = []
    for index, node in enumerate(raw_entries):
        where = f"entry {index}"
        try:
            entries.append(_entry(node, where))
        except ParseError as exc:
            problems.append(f"{where}: {exc} (skipped)")
    if raw_entries and not entries:
        raise ParseError(f"none of the {len(raw_entries)} entries is a paper ({problems[0]})")
    return ParsedPage(
        source=SOURCE,
        entries=entries,
        listing_date=parse_iso_date(root.findtext(f"{ATOM}updated")),
        problems=problems,
    )


def _raise_on_api_error(entries: list[ET.Element]) -> None:
    for node in entries:
        entry_id = node.findtext(f"{ATOM}id") or ""
        if "/api/errors" in entry_id or (clean_text(node.findtext(f"{ATOM}title")) == "Error" and len(entries) == 1):
            message = clean_text(node.findtext(f"{ATOM}summary")) or entry_id
            raise ParseError(f"arXiv API error feed (the request failed): {message}", field="entry.id")


def _entry(node: ET.Element, where: str) -> Entry:
    raw_id = clean_text(node.findtext(f"{ATOM}id"))
    arxiv_id = normalise_arxiv_id(raw_id)
    if arxiv_id is None:
        raise ParseError(f"{raw_id[:60]!r} is not an arXiv abstract URL", field="id")
    title = clean_text(node.findtext(f"{ATOM}title"))
    if not title:
        raise ParseError("no title", field="title")
    authors = [clean_text(a.findtext(f"{ATOM}name")) for a in node.findall(f"{ATOM}author")]
    authors = [a for a in authors if a]
    return Entry(
        title=title,
        abstract=clean_text(node.findtext(f"{ATOM}summary")),
        where=where,
        arxiv_id=arxiv_id,
        authors=authors,
        author_count=len(authors) or None,
        published_on=parse_iso_date(node.findtext(f"{ATOM}published")),
        # the author's comment ("code at https://github.com/…") is searched for links like the abstract
        link_text=clean_text(node.findtext(f"{ARXIV}comment")),
    )
