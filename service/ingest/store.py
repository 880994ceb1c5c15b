"""The one module that writes ingest data: raw pages (stored before parsing) and papers (merged, never duplicated).

Merge rule: a paper is the same paper when its arXiv id matches, else when its normalised title matches. A
later sighting raises upvotes, comments and stars (counts only grow), fills fields still empty, keeps the longer
abstract and the first-seen time; its date folds in by the rule of ``lifecycle`` (the strongest basis, the
earliest day). A newer arXiv version replaces the title, abstract and authors and is kept as ``arxiv_version``;
a withdrawal stated by the newest version seen marks the paper withdrawn.

Every value is checked against what the database takes before it is written (``check_storable``), so a page the
database would refuse fails alone, with its file and field named.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, fields

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.ingest.entries import Entry
from service.ingest.errors import ParseError
from service.ingest.lifecycle import Dated, apply_date, withdrawal_note
from service.ingest.normalise import (
    INT_MAX,
    TITLE_KEY_MAX,
    find_links,
    github_repo_of,
    is_code_link,
    paper_url,
    storable,
    title_key,
)
from service.models import Paper, PaperSighting, RawPage, utcnow


def content_hash(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def store_raw_page(session: Session, content: bytes, origin: str, source: str | None) -> tuple[RawPage, bool]:
    """The page with this content, inserted as ``pending`` if new. Returns (page, created)."""
    digest = content_hash(content)
    existing = session.scalars(select(RawPage).where(RawPage.content_hash == digest)).first()
    if existing is not None:
        return existing, False
    page = RawPage(
        content_hash=digest,
        source=source or "unknown",
        origin=storable(origin),
        content=content,
        size=len(content),
        status="pending",
    )
    try:
        with session.begin_nested():
            session.add(page)
    except IntegrityError:
        # another process stored the same bytes a moment ago: theirs is the page
        return session.scalars(select(RawPage).where(RawPage.content_hash == digest)).one(), False
    return page, True


@dataclass
class MergeResult:
    new: int = 0
    updated: int = 0


def merge_entries(
    session: Session, page: RawPage, entries: list[Entry], dates: list[Dated], now: dt.datetime
) -> MergeResult:
    """Create or update one paper per entry (``dates[i]``: what entry ``i`` says about when its paper is news)
    and record one sighting per (paper, page). ParseError naming the entry and field for a value the database
    would refuse (nothing is written then)."""
    check_storable(entries)
    index = PaperIndex.load(session, entries)
    created_here: set[int] = set()
    updated_here: set[int] = set()
    sighted: dict[int, PaperSighting] = {}
    for position, (entry, fact) in enumerate(zip(entries, dates, strict=True)):
        paper = index.find(entry)
        if paper is None:
            paper = _new_paper(session, index, entry, fact, now)
            created_here.add(id(paper))
        else:
            _update_paper(paper, entry, fact, now)
            index.add(paper)
            if id(paper) not in created_here:
                updated_here.add(id(paper))
        sighting = sighted.get(id(paper))
        if sighting is None:
            sighting = PaperSighting(paper=paper, raw_page_id=page.id, position=position, upvotes=entry.upvotes)
            sighting.seen_at = now
            session.add(sighting)
            sighted[id(paper)] = sighting
        elif entry.upvotes is not None:
            sighting.upvotes = max(sighting.upvotes or 0, entry.upvotes)
    session.flush()
    return MergeResult(new=len(created_here), updated=len(updated_here))


@dataclass
class PaperIndex:
    """The stored papers a page can match, fetched in a few queries instead of one per entry."""

    by_arxiv: dict[str, Paper]
    by_key: dict[str, Paper]

    @classmethod
    def load(cls, session: Session, entries: list[Entry]) -> PaperIndex:
        ids = sorted({e.arxiv_id for e in entries if e.arxiv_id})
        keys = sorted({title_key(e.title) for e in entries})
        index = cls({}, {})
        for column, values in ((Paper.arxiv_id, ids), (Paper.title_key, keys)):
            for start in range(0, len(values), 500):
                for paper in session.scalars(select(Paper).where(column.in_(values[start : start + 500]))):
                    index.add(paper)
        return index

    def add(self, paper: Paper) -> None:
        if paper.arxiv_id:
            self.by_arxiv[paper.arxiv_id] = paper
        self.by_key.setdefault(paper.title_key, paper)

    def find(self, entry: Entry) -> Paper | None:
        """By arXiv id, else by title key (a title-only sighting of the same paper, or a paper without an id)."""
        paper = self.by_key.get(title_key(entry.title))
        if entry.arxiv_id:
            if entry.arxiv_id in self.by_arxiv:
                return self.by_arxiv[entry.arxiv_id]
            return paper if paper is not None and paper.arxiv_id is None else None
        return paper


def find_paper(session: Session, entry: Entry) -> Paper | None:
    """The stored paper this entry is, by the merge rule (arXiv id, else title key)."""
    return PaperIndex.load(session, [entry]).find(entry)


def _new_paper(session: Session, index: PaperIndex, entry: Entry, fact: Dated, now: dt.datetime) -> Paper:
    key = title_key(entry.title)
    if entry.arxiv_id and key in index.by_key:
        # two arXiv papers with the same title are still two papers: keep the title key unique
        key = f"{key[: TITLE_KEY_MAX - len(entry.arxiv_id) - 1]}#{entry.arxiv_id}"
    links = find_links(f"{entry.abstract} {entry.link_text}")
    paper = Paper(
        arxiv_id=entry.arxiv_id,
        title_key=key,
        title=entry.title,
        abstract=entry.abstract,
        authors=list(entry.authors),
        author_count=entry.author_count,
        published_on=entry.published_on,
        arxiv_version=entry.version,
        first_seen_at=now,
        last_seen_at=now,
        upvotes=entry.upvotes or 0,
        num_comments=entry.num_comments or 0,
        github_repo=entry.github_repo or github_repo_of(links),
        github_stars=entry.github_stars,
        project_page=entry.project_page or _project_page(links),
        code_links=_code_links(entry, links),
        ai_summary=entry.ai_summary,
        ai_keywords=list(entry.ai_keywords),
        organization=entry.organization,
        thumbnail=entry.thumbnail,
        url=paper_url(entry.arxiv_id, entry.title),
    )
    apply_date(paper, fact)
    note = withdrawal_note(entry.link_text, entry.abstract)
    paper.withdrawn, paper.withdrawn_note = note is not None, note
    session.add(paper)
    index.add(paper)
    return paper


def _update_paper(paper: Paper, entry: Entry, fact: Dated, now: dt.datetime) -> None:
    if entry.arxiv_id and not paper.arxiv_id:
        paper.arxiv_id = entry.arxiv_id
        paper.url = paper_url(entry.arxiv_id, paper.title)
    note = withdrawal_note(entry.link_text, entry.abstract)
    newer, current = _apply_version(paper, entry, note)
    if current and not (newer or note) and len(entry.abstract) > len(paper.abstract or ""):
        paper.abstract = entry.abstract  # listing captures cut abstracts short; the API has them whole
    if entry.authors and not paper.authors:
        paper.authors = list(entry.authors)
    if paper.author_count is None:
        paper.author_count = entry.author_count
    paper.upvotes = max(paper.upvotes or 0, entry.upvotes or 0)
    paper.num_comments = max(paper.num_comments or 0, entry.num_comments or 0)
    if entry.github_stars is not None:
        paper.github_stars = max(paper.github_stars or 0, entry.github_stars)
    links = find_links(f"{entry.abstract} {entry.link_text}")
    for name, value in (
        ("published_on", entry.published_on),
        ("github_repo", entry.github_repo or github_repo_of(links)),
        ("project_page", entry.project_page or _project_page(links)),
        ("ai_summary", entry.ai_summary),
        ("organization", entry.organization),
        ("thumbnail", entry.thumbnail),
    ):
        if value is not None and getattr(paper, name) is None:
            setattr(paper, name, value)
    if entry.ai_keywords and not paper.ai_keywords:
        paper.ai_keywords = list(entry.ai_keywords)
    merged = list(paper.code_links or [])
    merged += [link for link in _code_links(entry, links) if link not in merged]
    if merged != list(paper.code_links or []):
        paper.code_links = merged
    apply_date(paper, fact)
    paper.last_seen_at = now
    if not paper.url:
        paper.url = paper_url(paper.arxiv_id, paper.title)


def _apply_version(paper: Paper, entry: Entry, note: str | None) -> tuple[bool, bool]:
    """Versions and withdrawal (``note``: the entry's withdrawal notice, if any). A newer version than any seen
    replaces the text (unless it is the withdrawal notice) and says whether the paper is withdrawn; a sighting
    without a version can only mark it withdrawn. Returns (newer, current): whether the entry is a newer version
    than any seen, and whether it is at least as new (not an older version)."""
    seen = paper.arxiv_version
    newer = entry.version is not None and (seen is None or entry.version > seen)
    current = entry.version is None or seen is None or entry.version >= seen
    if newer:
        paper.arxiv_version = entry.version
        if note is None:
            paper.title = entry.title or paper.title
            paper.abstract = entry.abstract or paper.abstract
            paper.authors = list(entry.authors) or paper.authors
    if note is not None and current:
        paper.withdrawn, paper.withdrawn_note = True, note
    elif note is None and newer and paper.withdrawn and seen is not None:
        paper.withdrawn, paper.withdrawn_note = False, None  # a later version replaced the withdrawn one
    return newer, current


# Columns of bounded width: a longer value is refused by PostgreSQL (and would be cut elsewhere).
_WIDTHS = {"arxiv_id": 64}


def check_storable(entries: list[Entry]) -> None:
    """Raise ``storage_problem``'s error, if any: parsers clean every value already; this is the guard that keeps
    one bad value from reaching (and failing) a transaction."""
    problem = storage_problem(entries)
    if problem is not None:
        raise problem


def storage_problem(entries: list[Entry]) -> ParseError | None:
    """The first value the database would refuse, as a ParseError naming the entry and field: text with NUL or
    code points UTF-8 cannot carry (a lone surrogate), text wider than its column, an integer beyond 32 bits."""
    for entry in entries:
        for spec in fields(entry):
            value = getattr(entry, spec.name)
            items = value if isinstance(value, list) else [value]
            for position, item in enumerate(items):
                problem = _refused(item, _WIDTHS.get(spec.name))
                if problem:
                    name = f"{spec.name}[{position}]" if isinstance(value, list) else spec.name
                    error = ParseError(f"{entry.where or 'entry'}: field {name}: {problem}")
                    error.field = name
                    return error
    return None


def _refused(value: object, width: int | None) -> str | None:
    if isinstance(value, str):
        if "\x00" in value:
            return "contains a NUL character, which the database refuses"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            return f"contains U+{ord(value[exc.start]):04X}, which UTF-8 cannot carry"
        if width is not None and len(value) > width:
            return f"is {len(value)} characters long, over the column's {width}"
    elif isinstance(value, int) and not isinstance(value, bool) and not -INT_MAX - 1 <= value <= INT_MAX:
        return f"{value} is beyond a 32-bit integer"
    return None


def _code_links(entry: Entry, links: list[str]) -> list[str]:
    """GitHub and project links: the source's own fields (or the repo an abstract link is in) first, then what
    the abstract mentions."""
    repo = entry.github_repo or github_repo_of(links)
    found = [link for link in (repo, entry.project_page or _project_page(links)) if link]
    found += [link for link in links if is_code_link(link) or ".github.io" in link.lower()]
    unique: list[str] = []
    for link in found:
        if link not in unique:
            unique.append(link)
    return unique


def _project_page(links: list[str]) -> str | None:
    for link in links:
        if ".github.io" in link.lower():
            return link
    return None


def mark_parsed(page: RawPage, source: str, listing_date: dt.date | None, entries: int, error: str | None) -> None:
    page.status = "parsed"
    page.source = source
    page.listing_date = listing_date
    page.entries = entries
    page.error = storable(error) if error else None
    page.retryable = False
    page.parsed_at = utcnow()


def mark_failed(page: RawPage, source: str | None, error: str, *, retryable: bool = False) -> None:
    """``retryable``: the source failed, not the page (fetch the origin again)."""
    page.status = "failed"
    if source:
        page.source = source
    page.error = storable(error)
    page.retryable = retryable
    page.entries = 0
    page.parsed_at = utcnow()
