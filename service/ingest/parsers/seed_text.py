"""Plain-text captures of the Daily Papers listing pages, in the three layouts of ``../shared/seeds``.

A: header lines, maybe the listing date (``Jun 3``), then ``Title`` / blank / ``Abstract`` / blank blocks.
B: as A, each block followed by ``• N authors``, ``·`` and a publication date, sometimes with upvotes after it.
C: no blank lines; title and abstract lines alternate and the header is glued to the first title
(``SubscribeDo As I Can, …``). Blank lines carry no meaning here, so one reader handles all three.
"""

from __future__ import annotations

import datetime as dt
import re

from service.ingest.entries import Entry, ParsedPage
from service.ingest.errors import ParseError
from service.ingest.normalise import clean_text, decode_text, resolve_month_day

SOURCE = "seed-text"
MAX_TITLE_CHARS = 400  # real titles stay under ~200; a longer "title" means the page is out of step

_MONTH = r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
_LISTING_DATE = re.compile(rf"^{_MONTH} ([0-9]{{1,2}})(?:, ([0-9]{{4}}))?$", re.IGNORECASE)
_PUBLISHED = re.compile(rf"^{_MONTH} ([0-9]{{1,2}})(?:, ([0-9]{{4}}))?(?: +([0-9]{{1,9}}))?$", re.IGNORECASE)
_AUTHORS = re.compile(r"^([0-9]{1,6}) authors?$", re.IGNORECASE)
_SEPARATOR = re.compile(r"^[·•]$")
_HEADER = re.compile(
    r"^(new|subscribe|daily papers|get trending papers in your email inbox[^\n]*|by ?ak\b.*|trending papers)$",
    re.IGNORECASE,
)
_GLUED_HEADER = re.compile(r"^Subscribe(?=[^\sa-z])")  # "SubscribeDo As I Can, …" (layout C)


def parse(content: bytes, origin: str, today: dt.date) -> ParsedPage:
    """Parse one captured listing page; ``today`` dates pages and entries that give no year."""
    text = decode_text(content)
    lines = [(number, clean_text(raw)) for number, raw in enumerate(text.splitlines(), 1)]
    lines = [(number, line) for number, line in lines if line]
    if not lines:
        raise ParseError("no text: the page holds only whitespace")

    position, listing_date, year_given, saw_header = _skip_header(lines, today)
    if not saw_header:
        raise ParseError(
            f"not a Daily Papers listing page: no header (Subscribe, Daily Papers, …) before {_preview(lines[0][1])}",
            line=lines[0][0],
        )
    reference = listing_date or today
    entries: list[Entry] = []
    problems: list[str] = []
    while position < len(lines):
        number, line = lines[position]
        date_match = _LISTING_DATE.match(line)
        if date_match and not entries:
            stated = _date_or_none(date_match, today)
            if stated:
                listing_date, year_given = stated, bool(date_match.group(3))
            reference = listing_date or today
            position += 1
            continue
        if len(line) > MAX_TITLE_CHARS or _is_metadata(line):
            problems.append(f"line {number}: expected a title, found {_preview(line)} (skipped)")
            position += 1
            continue
        if position + 1 >= len(lines):
            problems.append(f"line {number}: title {_preview(line)} has no abstract after it (skipped)")
            break
        abstract_number, abstract = lines[position + 1]
        if _is_metadata(abstract):
            problems.append(f"line {abstract_number}: title {_preview(line)} has no abstract (skipped)")
            position += 1
            while position < len(lines) and _is_metadata(lines[position][1]):
                position += 1
            continue
        entry = Entry(title=line, abstract=abstract, where=f"line {number}")
        position = _read_metadata(lines, position + 2, entry, reference, problems)
        entries.append(entry)

    if not entries:
        detail = f" ({problems[0]})" if problems else ""
        raise ParseError(f"no paper entries found{detail}")
    return ParsedPage(
        source=SOURCE,
        entries=entries,
        listing_date=listing_date,
        problems=problems,
        year_inferred=listing_date is not None and not year_given,
    )


def _skip_header(lines: list[tuple[int, str]], today: dt.date) -> tuple[int, dt.date | None, bool, bool]:
    """Skip the page chrome; unglue a title stuck to it (layout C); pick up the listing date.

    Returns (first content line, listing date, whether it gave its year, whether any header line was seen): text
    without the listing page's header is some other document, and reading it as titles and abstracts would
    invent papers.
    """
    listing_date = None
    year_given = False
    position = 0
    saw_header = False
    while position < len(lines):
        number, line = lines[position]
        if _HEADER.match(line):
            saw_header = True
            position += 1
            continue
        glued = _GLUED_HEADER.match(line)
        if glued:
            saw_header = True
            lines[position] = (number, line[glued.end() :].strip())
            break
        date_match = _LISTING_DATE.match(line)
        if date_match:
            listing_date = _date_or_none(date_match, today)
            year_given = bool(date_match.group(3))
            position += 1
            continue
        break
    return position, listing_date, year_given, saw_header


def _read_metadata(
    lines: list[tuple[int, str]], position: int, entry: Entry, reference: dt.date, problems: list[str]
) -> int:
    """Layout B's ``• N authors`` / ``·`` / ``Oct 12, 2023 5`` lines after an abstract, in any subset."""
    seen_metadata = False
    while position < len(lines):
        number, line = lines[position]
        authors = _AUTHORS.match(_unbullet(line))
        match = _PUBLISHED.match(line)
        if authors and entry.author_count is None:
            entry.author_count = int(authors.group(1))
            seen_metadata = True
        elif _SEPARATOR.match(line):
            seen_metadata = True
        elif seen_metadata and match:
            entry.published_on = _date_or_none(match, reference)
            if entry.published_on is None:
                problems.append(f"line {number}: {line!r} is not a real date (publication date left empty)")
            if match.group(4):
                entry.upvotes = int(match.group(4))
            return position + 1
        else:
            return position
        position += 1
    return position


def _is_metadata(line: str) -> bool:
    return bool(_SEPARATOR.match(line) or _AUTHORS.match(_unbullet(line)))


def _unbullet(line: str) -> str:
    return line.lstrip("•·*- ").strip()


def _date_or_none(match: re.Match[str], reference: dt.date) -> dt.date | None:
    """A listing or publication date; never after ``reference`` when the year is implied; None if impossible."""
    try:
        year = int(match.group(3)) if match.group(3) else None
        return resolve_month_day(match.group(1), int(match.group(2)), year, reference)
    except ValueError:
        return None


def _preview(line: str) -> str:
    return repr(line if len(line) <= 60 else line[:57] + "...")
