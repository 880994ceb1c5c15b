"""Pages in, papers out: store the raw bytes first (committed), then parse and merge in a second transaction.

One page, one outcome: any failure to parse or to store a page (the database refusing a value included) marks
that page ``failed`` with an error naming the file and the line or field, and never stops the other pages;
nothing stays ``pending`` unless the database itself cannot be reached. A page whose bytes were already ingested
changes nothing. A failure of the source rather than the page (``UpstreamError``) is stored ``retryable``: its
origin is fetched again by ``--retry-failed`` and the periodic fetch.
"""

from __future__ import annotations

import logging
import random
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from service.ingest.detect import detect_source
from service.ingest.entries import SOURCES
from service.ingest.errors import FetchError, ParseError
from service.ingest.fetch import fetch_url
from service.ingest.lifecycle import sighting_date
from service.ingest.normalise import storable
from service.ingest.parsers import PARSERS
from service.ingest.report import IngestReport
from service.ingest.store import mark_failed, mark_parsed, merge_entries, storage_problem, store_raw_page
from service.models import RawPage, utcnow
from service.runtime import Runtime

log = logging.getLogger(__name__)
T = TypeVar("T")

MERGE_ATTEMPTS = 8  # each lost race means another process committed one of our papers: finite
# the database cannot be reached or is busy: not the page's fault; the caller (a task) retries the whole page
UNREACHABLE = (OperationalError, InterfaceError)
SKIPPED_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".swp")
# in a folder walk, files of these kinds are documentation or data beside the pages, never a page: listed, not read
NOT_PAGES = (".md", ".rst", ".csv", ".tsv", ".jsonl", ".py", ".sh", ".yml", ".yaml", ".toml", ".cfg", ".ini", ".lock")


def ingest_bytes(rt: Runtime, content: bytes, origin: str, *, source: str | None = None) -> IngestReport:
    """Store ``content`` (from ``origin``) as a raw page, then parse it unless the same bytes were seen before."""
    _check_source(source)
    origin = storable(origin)
    limit = rt.settings.INGEST_MAX_PAGE_BYTES
    if len(content) > limit:
        report = IngestReport()
        report.fail(origin, _too_large(len(content), limit))
        return report
    with rt.db.session() as session:
        page, created = store_raw_page(session, content, origin, source)
        page_id, status, stored_source, error = page.id, page.status, page.source, page.error
        retryable = page.retryable
    if not created and (status in ("parsed", "superseded") or (status == "failed" and source in (None, stored_source))):
        report = IngestReport(unchanged=1)
        if status == "failed":
            report.fail(origin, _strip_origin(error or "failed earlier", page_origin=origin), transient=retryable)
        return report
    return parse_stored_page(rt, page_id, source=source)


def parse_stored_page(rt: Runtime, page_id: int, *, source: str | None = None, redetect: bool = False) -> IngestReport:
    """Parse a stored raw page and merge its papers. Idempotent: an already parsed page is left alone.

    ``source`` forces a layout; ``redetect`` ignores the layout stored with the page (a retry after a wrong
    ``--source``); otherwise the stored layout is used, detected from the bytes when unknown. Raises only when
    the database cannot be reached (``UNREACHABLE``): every other failure fails the page.
    """
    report = IngestReport()
    with rt.db.session() as session:
        page = session.get(RawPage, page_id)
        if page is None:
            report.fail(f"raw page {page_id}", "no such raw page")
            return report
        if page.status in ("parsed", "superseded"):
            report.unchanged = 1
            return report
        content, origin, stored = page.content, page.origin, page.source
        received = (page.received_at or utcnow()).date()

    chosen = source or (stored if stored in SOURCES and not redetect else None)
    try:
        chosen = chosen or detect_source(content)
        parsed = PARSERS[chosen](content, origin, received)
    except ParseError as exc:
        return _failed(rt, page_id, origin, chosen, str(exc), retryable=exc.transient)
    except Exception as exc:  # noqa: BLE001 - a parser bug must fail this page, not the run
        log.exception("parser %s crashed on %s", chosen, origin)
        return _failed(rt, page_id, origin, chosen, f"internal parser error: {exc.__class__.__name__}: {exc}")

    now = utcnow()
    today = now.date()
    page_day = min(parsed.listing_date, today) if parsed.listing_date else None
    dates = [
        sighting_date(
            entry_day=entry.listed_on,
            revision=entry.revision,
            page_day=page_day,
            page_inferred=parsed.year_inferred,
            published=entry.published_on,
            received=received,
            today=today,
        )
        for entry in parsed.entries
    ]
    for attempt in range(1, MERGE_ATTEMPTS + 1):
        try:
            with rt.db.session() as session:
                page = session.scalars(select(RawPage).where(RawPage.id == page_id).with_for_update()).one()
                if page.status == "parsed":  # a concurrent run got here first
                    report.unchanged = 1
                    return report
                merged = merge_entries(session, page, parsed.entries, dates, now)
                problems = f"{origin}: " + "; ".join(parsed.problems) if parsed.problems else None
                mark_parsed(page, parsed.source, page_day, len(parsed.entries), problems)
            break
        except UNREACHABLE:
            raise
        except IntegrityError as exc:
            # another process created one of these papers meanwhile: merging again finds it
            if attempt == MERGE_ATTEMPTS:
                return _failed(rt, page_id, origin, chosen, _refusal(exc))
            log.info("merging %s raced another ingest (attempt %d); merging again", origin, attempt)
            time.sleep(random.uniform(0, 0.05 * attempt))  # let the other transaction finish
        except ParseError as exc:  # a value the database would refuse, named by check_storable
            return _failed(rt, page_id, origin, chosen, f"cannot store: {exc}")
        except Exception as exc:  # noqa: BLE001 - the database refused something no check foresaw: this page only
            log.exception("storing %s failed", origin)
            return _failed(rt, page_id, origin, chosen, _refusal(exc, storage_problem(parsed.entries)))
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
    for kind, target in progress_bar(items, progress):
        if kind == "url":
            report.add(one_page(partial(ingest_url, rt, target, source=source), target))
            continue
        try:
            content = read_limited(Path(target), rt.settings.INGEST_MAX_PAGE_BYTES)
        except (OSError, ValueError) as exc:
            report.fail(target, str(exc))
            continue
        report.add(one_page(partial(ingest_bytes, rt, content, target, source=source), target))
    return report


def fetch_and_ingest(rt: Runtime, url: str, *, source: str | None = None) -> tuple[IngestReport, bytes | None]:
    """The ingest of ``url``'s answer, and the answer (None when the fetch failed: the report says why, and
    ``transient`` when a later attempt may succeed)."""
    try:
        content = fetch_url(url, rt.settings)
    except FetchError as exc:
        report = IngestReport()
        report.fail(url, str(exc), transient=exc.transient)
        return report, None
    return ingest_bytes(rt, content, url, source=source), content


def ingest_url(rt: Runtime, url: str, *, source: str | None = None) -> IngestReport:
    """Fetch ``url`` and ingest the answer; a failed fetch is this target's failure in the report."""
    return fetch_and_ingest(rt, url, source=source)[0]


def is_url(target: str) -> bool:
    return target.lower().startswith(("http://", "https://"))


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
        if is_url(target):
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


def progress_bar(items: Sequence[T], enabled: bool) -> Iterable[T]:
    if not enabled or len(items) < 2:
        return items
    from tqdm import tqdm

    return tqdm(items, desc="ingest", unit="page", file=sys.stderr, leave=False)


def one_page(ingest: Callable[[], IngestReport], target: str) -> IngestReport:
    """One page's outcome, whatever happens: an error nobody foresaw (the database gone included) fails this page
    in the report, so the run goes on and ``--json`` still prints one object."""
    try:
        return ingest()
    except Exception as exc:  # noqa: BLE001 - one page, one outcome
        log.exception("ingesting %s failed", target)
        report = IngestReport()
        report.fail(target, f"{exc.__class__.__name__}: {exc}", transient=isinstance(exc, UNREACHABLE))
        return report


def _failed(
    rt: Runtime, page_id: int, origin: str, source: str | None, error: str, *, retryable: bool = False
) -> IngestReport:
    error = storable(error)
    with rt.db.session() as session:
        page = session.get(RawPage, page_id)
        if page is not None and page.status != "parsed":
            mark_failed(page, source, f"{origin}: {error}", retryable=retryable)
    report = IngestReport()
    report.fail(origin, error, transient=retryable)
    return report


def _refusal(exc: Exception, suspect: ParseError | None = None) -> str:
    """What the database said when it refused a page, with the field: the first value that looks unstorable
    (``suspect``), else the column the driver names, if any."""
    cause = getattr(exc, "orig", None) or exc
    column = getattr(getattr(cause, "diag", None), "column_name", None)
    first_line = (str(cause).strip().splitlines() or [""])[0][:300]
    said = f"the database refused the page ({cause.__class__.__name__}: {first_line})"
    if suspect is not None:
        return f"{suspect}: {said}"
    return f"field {column}: {said}" if column else said


def _strip_origin(error: str, *, page_origin: str) -> str:
    prefix = f"{page_origin}: "
    return error[len(prefix) :] if error.startswith(prefix) else error


def _check_source(source: str | None) -> None:
    if source is not None and source not in SOURCES:
        raise ValueError(f"unknown source {source!r}: one of {', '.join(SOURCES)}")


def _too_large(size: int, limit: int) -> str:
    return f"{size} bytes is over the {limit}-byte page limit (INGEST_MAX_PAGE_BYTES): not a listing page"
