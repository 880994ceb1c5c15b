"""arXiv API Atom responses (``export.arxiv.org/api/query``), including the API's error feed.

The error feed is a valid Atom document whose only entry is titled ``Error`` with an ``/api/errors#…`` id: it is
a failure of the request, reported as a ParseError, never stored as a paper. An answer that promises results
(``opensearch:totalResults`` above its ``startIndex``) and carries no entries is a known intermittent arXiv
failure: an ``UpstreamError``, so the page is fetched again instead of being stored as an empty success.

Each entry is dated by its v1 ``published`` date, never the feed's or the entry's ``updated`` (an answer sorted by
last update brings old papers in new versions). XML is read with ``defusedxml``: no DTDs, no entities. An Atom
document that is an arXiv listing feed (``oai:arXiv.org:`` ids) goes to the listing parser.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

from service.ingest.entries import Entry, ParsedPage
from service.ingest.errors import ParseError, UpstreamError
from service.ingest.normalise import arxiv_version, clean_text, normalise_arxiv_id, parse_iso_date
from service.ingest.parsers import arxiv_listing
from service.ingest.parsers.xmlsafe import read_xml

SOURCE = "arxiv-atom"
ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"
OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"


def parse(content: bytes, origin: str, today: dt.date) -> ParsedPage:
    """Parse an Atom feed of arXiv entries; ``ParseError`` for the API's error feed or malformed XML,
    ``UpstreamError`` for an answer that promises results and carries none."""
    root = read_xml(content)
    if root.tag != f"{ATOM}feed":
        raise ParseError(f"not an Atom feed: the root element is <{root.tag}>")
    raw_entries = root.findall(f"{ATOM}entry")
    if any(arxiv_listing.is_listing_id(node.findtext(f"{ATOM}id")) for node in raw_entries):
        return arxiv_listing.parse(content, origin, today)
    _raise_on_api_error(raw_entries)
    if not raw_entries:
        _raise_on_missing_results(root)
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
    # the feed's <updated> is when the answer was made, not a listing: each entry carries its own v1 date
    return ParsedPage(source=SOURCE, entries=entries, listing_date=None, problems=problems)


def _raise_on_api_error(entries: list[ET.Element]) -> None:
    for node in entries:
        entry_id = node.findtext(f"{ATOM}id") or ""
        if "/api/errors" in entry_id or (clean_text(node.findtext(f"{ATOM}title")) == "Error" and len(entries) == 1):
            message = clean_text(node.findtext(f"{ATOM}summary")) or entry_id
            raise ParseError(f"arXiv API error feed (the request failed): {message}", field="entry.id")


def _raise_on_missing_results(root: ET.Element) -> None:
    """No entries although the answer says there are results from this index on: arXiv failed, try again."""
    total = _count(root.findtext(f"{OPENSEARCH}totalResults"))
    start = _count(root.findtext(f"{OPENSEARCH}startIndex")) or 0
    if total and start < total:
        raise UpstreamError(
            f"results were promised and none came: the answer reports {total} results from index {start} but "
            "carries no entries (a known intermittent arXiv API failure; fetch it again later)",
            field="opensearch:totalResults",
        )


def _count(text: str | None) -> int | None:
    value = (text or "").strip()
    return int(value) if value.isdigit() and len(value) < 12 else None


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
    abstract = clean_text(node.findtext(f"{ATOM}summary"))
    comment = clean_text(node.findtext(f"{ARXIV}comment"))
    published = parse_iso_date(node.findtext(f"{ATOM}published"))
    version = arxiv_version(raw_id)
    return Entry(
        title=title,
        abstract=abstract,
        where=where,
        arxiv_id=arxiv_id,
        authors=authors,
        published_on=published,
        # the author's comment ("code at https://github.com/…") is searched for links like the abstract
        link_text=comment,
        listed_on=published,  # the v1 date, whatever version this entry is
        revision=published is None and (version or 1) > 1,  # a later version with no v1 date: an update
        version=version,
    )
