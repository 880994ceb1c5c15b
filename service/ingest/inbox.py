"""The inbox folder (INBOX_DIR): drop pages in, a periodic task ingests them.

Each new file is stored as a raw page (committed), then moved to ``processed/`` (or ``rejected/`` when it could
not even be stored, e.g. over the size limit), so every poll only reads what arrived since the last one. Writers
should write under a temporary name (``.tmp``/``.part`` or a leading dot) and rename: such files are not read.
"""

from __future__ import annotations

import logging
from pathlib import Path

from service.ingest.pipeline import page_files, parse_stored_page, read_limited
from service.ingest.report import IngestReport
from service.ingest.store import store_raw_page
from service.runtime import Runtime

log = logging.getLogger(__name__)

PROCESSED = "processed"
REJECTED = "rejected"


def collect_inbox(rt: Runtime) -> tuple[list[int], IngestReport]:
    """Store every new inbox file as a raw page and move it aside; return the ids of the pages to parse."""
    inbox = Path(rt.settings.INBOX_DIR)
    inbox.mkdir(parents=True, exist_ok=True)
    report = IngestReport()
    to_parse: list[int] = []
    for path in _new_files(inbox):
        try:
            content = read_limited(path, rt.settings.INGEST_MAX_PAGE_BYTES)
        except (OSError, ValueError) as exc:
            report.fail(str(path), str(exc))
            _move(path, inbox, REJECTED)
            continue
        with rt.db.session() as session:
            page, created = store_raw_page(session, content, str(path), None)
            page_id, status = page.id, page.status
        if created or status == "pending":
            to_parse.append(page_id)
        else:
            report.unchanged += 1
        _move(path, inbox, PROCESSED)
    return to_parse, report


def poll_inbox(rt: Runtime) -> IngestReport:
    """Ingest every file that arrived in INBOX_DIR since the last poll (parsing in this process)."""
    page_ids, report = collect_inbox(rt)
    for page_id in page_ids:
        report.add(parse_stored_page(rt, page_id))
    return report


def _new_files(inbox: Path) -> list[Path]:
    return [p for p in page_files(inbox) if p.relative_to(inbox).parts[0] not in (PROCESSED, REJECTED)]


def _move(path: Path, inbox: Path, folder: str) -> None:
    """Move ``path`` under ``inbox/folder`` keeping its relative path; never overwrite an earlier file."""
    target = inbox / folder / path.relative_to(inbox)
    target.parent.mkdir(parents=True, exist_ok=True)
    counter = 1
    while target.exists():
        target = target.with_name(f"{path.stem}.{counter}{path.suffix}")
        counter += 1
    try:
        path.replace(target)
    except OSError as exc:  # the page is stored already; a file left behind is only read (and deduplicated) again
        log.warning("could not move %s to %s: %s", path, target, exc)
