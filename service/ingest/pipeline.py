"""Pages in, papers out: store the raw bytes first (committed), then parse and merge in a second transaction.

A failure to parse marks the stored page ``failed`` with an error naming the file and the line or field; it never
stops the other pages. A page whose bytes were already ingested changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from service.ingest.detect import detect_source
from service.ingest.entries import SOURCES
from service.ingest.errors import FetchError, ParseError
from service.ingest.fetch import daily_papers_url, fetch_url
from service.ingest.parsers import PARSERS
from service.ingest.report import IngestReport
from service.ingest.store import mark_failed, mark_parsed, merge_entries, store_raw_page
from service.models import RawPage, utcnow
from service.runtime import Runtime

log = logging.getLogger(__name__)
T = TypeVar("T")

MERGE_ATTEMPTS = 8  # each lost race means another process committed one of our papers: finite
SKIPPED_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".swp")
# in a folder walk, files of these kinds are documentation or data beside the pages, never a page: listed, not read
NOT_PAGES = (".md", ".rst", ".csv", ".tsv", ".jsonl", ".py", ".sh", ".yml", ".yaml", ".toml", ".cfg", ".ini", ".lock")


def ingest_bytes(rt: Runtime, content: bytes, origin: str, *, source: str | None = None) -> IngestReport:
    """Store ``content`` (from ``origin``) as a raw page, then parse it unless the same bytes were seen before."""
    _check_source(source)
    limit = rt.settings.INGEST_MAX_PAGE_BYTES
    if len(content) > limit:
        report = IngestReport()
        report.fail(origin, _too_large(len(content), limit))
        return report
    with rt.db.session() as session:
        page, created = store_raw_page(session, content, origin, source)
        page_id, status, stored_source, error = page.id, page.status, page.source, page.error
    if not created and (status == "parsed" or (status == "failed" and source in (None, stored_source))):
        report = IngestReport(unchanged=1)
        if status == "failed":
            report.fail(origin, _strip_origin(error or "failed earlier", page_origin=origin))
        return report
    return parse_stored_page(rt, page_id, source=source)


def parse_stored_page(rt: Runtime, page_id: int, *, source: str | None = None, redetect: bool = False) -> IngestReport:
    """Parse a stored raw page and merge its papers. Idempotent: an already parsed page is left alone.

    ``source`` forces a layout; ``redetect`` ignores the layout stored with the page (a retry after a wrong
    ``--source``); otherwise the stored layout is used, detected from the bytes when unknown.
    """
    report = IngestReport()
    with rt.db.session() as session:
        page = session.get(RawPage, page_id)
        if page is None:
            report.fail(f"raw page {page_id}", "no such raw page")
            return report
        if page.status == "parsed":
            report.unchanged = 1
            return report
        content, origin, stored = page.content, page.origin, page.source
        ingest_day = (page.received_at or utcnow()).date()

    chosen = source or (stored if stored in SOURCES and not redetect else None)
    try:
        chosen = chosen or detect_source(content)
        parsed = PARSERS[chosen](content, origin, ingest_day)
    except ParseError as exc:
        return _failed(rt, page_id, origin, chosen, str(exc))
    except Exception as exc:  # noqa: BLE001 - a parser bug must fail this page, not the run
        log.exception("parser %s crashed on %s", chosen, origin)
        return _failed(rt, page_id, origin, chosen, f"internal parser error: {exc.__class__.__name__}: {exc}")

    now = utcnow()
    listing_date = min(parsed.listing_date or ingest_day, now.date())  # never a future listing
    for attempt in range(1, MERGE_ATTEMPTS + 1):
        try:
            with rt.db.session() as session:
                page = session.scalars(select(RawPage).where(RawPage.id == page_id).with_for_update()).one()
                if page.status == "parsed":  # a concurrent run got here first
                    report.unchanged = 1
                    return report
                merged = merge_entries(session, page, parsed.entries, listing_date, now)
                problems = f"{origin}: " + "; ".join(parsed.problems) if parsed.problems else None
                stated = min(parsed.listing_date, now.date()) if parsed.listing_date else None
                mark_parsed(page, parsed.source, stated, len(parsed.entries), problems)
            break
        except IntegrityError:
            # another process created one of these papers meanwhile: merging again finds it
            if attempt == MERGE_ATTEMPTS:
                raise
            log.info("merging %s raced another ingest (attempt %d); merging again", origin, attempt)
            time.sleep(random.uniform(0, 0.05 * attempt))  # let the other transaction finish
    report.pages = 1
    report.entries = len(parsed.entries)
    report.new_papers = merged.new
    report.updated_papers = merged.updated
    for problem in parsed.problems:
        report.fail(origin, problem)
    return report


def ingest_targets(
    rt: Runtime, targets: list[str], *, source: str | None = None, progress: bool = False
) -> IngestReport:
    """Ingest files, folders (recursively) and http(s) URLs; every target gets an outcome, none stops the rest."""
    _check_source(source)
    report = IngestReport()
    items = list(_expand(targets, report))
    for kind, target in _progress(items, progress):
        if kind == "url":
            try:
                content = fetch_url(target, rt.settings)
            except FetchError as exc:
                report.fail(target, str(exc))
                continue
        else:
            try:
                content = read_limited(Path(target), rt.settings.INGEST_MAX_PAGE_BYTES)
            except (OSError, ValueError) as exc:
                report.fail(target, str(exc))
                continue
        report.add(ingest_bytes(rt, content, target, source=source))
    return report


def retry_failed_pages(rt: Runtime, *, progress: bool = False) -> IngestReport:
    """Parse again every stored page whose parse failed (or never finished), e.g. after a parser fix."""
    with rt.db.session() as session:
        ids = session.scalars(
            select(RawPage.id).where(RawPage.status.in_(("failed", "pending"))).order_by(RawPage.id)
        ).all()
    report = IngestReport()
    for page_id in _progress(ids, progress):
        report.add(parse_stored_page(rt, page_id, redetect=True))
    return report


def fetch_daily_papers(rt: Runtime, day: dt.date) -> IngestReport:
    """Fetch one day's daily papers from the API (retrying transient failures) and ingest them.

    Raises FetchError when the API cannot be reached (``transient``) or refuses the request.
    """
    if day > utcnow().date():
        raise FetchError(f"{day} is in the future: there is no listing for it yet", transient=False)
    url = daily_papers_url(rt.settings, day)
    content = fetch_url(url, rt.settings)
    return ingest_bytes(rt, content, url, source="hf-api")


def read_limited(path: Path, limit: int) -> bytes:
    """A file's bytes; ValueError naming the limit when it is larger than a page can be."""
    try:
        size = path.stat().st_size
        if size > limit:
            raise ValueError(_too_large(size, limit))
        with path.open("rb") as handle:
            content = handle.read(limit + 1)
    except PermissionError as exc:
        raise OSError(f"cannot read: permission denied ({exc.strerror})") from exc
    except IsADirectoryError as exc:
        raise OSError("cannot read: is a directory") from exc
    except FileNotFoundError as exc:
        raise OSError("no such file or directory") from exc
    if len(content) > limit:
        raise ValueError(_too_large(len(content), limit))
    return content


def page_files(folder: Path) -> list[Path]:
    """Files under ``folder`` in a stable order, without hidden or half-written ones."""
    found = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts) or path.name.endswith(SKIPPED_SUFFIXES):
            continue
        if path.is_file():
            found.append(path)
    return found


def _expand(targets: Iterable[str], report: IngestReport) -> Iterator[tuple[str, str]]:
    for target in targets:
        if target.lower().startswith(("http://", "https://")):
            yield "url", target
            continue
        path = Path(target)
        if path.is_dir():
            files = page_files(path)
            report.skipped += [str(f) for f in files if f.suffix.lower() in NOT_PAGES]
            files = [f for f in files if f.suffix.lower() not in NOT_PAGES]
            if not files:
                report.fail(target, "folder holds no pages")
            for file in files:
                yield "file", str(file)
        elif path.exists():
            yield "file", target
        else:
            report.fail(target, "no such file, folder or http(s) URL")


def _progress(items: Sequence[T], enabled: bool) -> Iterable[T]:
    if not enabled or len(items) < 2:
        return items
    from tqdm import tqdm

    return tqdm(items, desc="ingest", unit="page", file=sys.stderr, leave=False)


def _failed(rt: Runtime, page_id: int, origin: str, source: str | None, error: str) -> IngestReport:
    with rt.db.session() as session:
        page = session.get(RawPage, page_id)
        if page is not None and page.status != "parsed":
            mark_failed(page, source, f"{origin}: {error}")
    report = IngestReport()
    report.fail(origin, error)
    return report


def _strip_origin(error: str, *, page_origin: str) -> str:
    prefix = f"{page_origin}: "
    return error[len(prefix) :] if error.startswith(prefix) else error


def _check_source(source: str | None) -> None:
    if source is not None and source not in SOURCES:
        raise ValueError(f"unknown source {source!r}: one of {', '.join(SOURCES)}")


def _too_large(size: int, limit: int) -> str:
    return f"{size} bytes is over the {limit}-byte page limit (INGEST_MAX_PAGE_BYTES): not a listing page"
