"""Ingest tasks: parse a stored page, poll the inbox, fetch the recent listings (``fetch_today``).

Thin on purpose: each takes ids (never objects), builds nothing but the process runtime and calls
``service.ingest``. Transient failures (network, database) are retried with exponential backoff; a page that
does not parse is recorded as ``failed`` on the page and never retried (``paperboy ingest --retry-failed`` does
that on demand). Every task is idempotent, as ``acks_late`` redelivery requires.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy.exc import IntegrityError

from service.ingest import FetchError, fetch_recent_listings, parse_stored_page
from service.ingest.inbox import collect_inbox
from service.queue import INGEST_PAGE
from workers.app import RETRY_OPTIONS, RETRYABLE, celery_app, get_runtime

log = logging.getLogger(__name__)

MAX_RETRIES = 6
# Ingest also retries a race on a unique key (another process stored the same paper a moment ago).
INGEST_RETRY = {**RETRY_OPTIONS, "autoretry_for": (*RETRYABLE, IntegrityError)}


class SourceUnavailable(FetchError):
    """A listing's source failed for now (network, 5xx, an answer promising results it did not carry)."""


@celery_app.task(name=INGEST_PAGE, max_retries=MAX_RETRIES, **INGEST_RETRY)
def ingest_page(raw_page_id: int) -> dict[str, Any]:
    """Parse one stored raw page into papers (a no-op if it is already parsed)."""
    return parse_stored_page(get_runtime(), raw_page_id).to_json()


@celery_app.task(max_retries=MAX_RETRIES, **INGEST_RETRY)
def poll_inbox() -> dict[str, Any]:
    """Store every new file in INBOX_DIR as a raw page, then queue one ``ingest_page`` per page (after commit)."""
    page_ids, report = collect_inbox(get_runtime())
    for page_id in page_ids:
        ingest_page.delay(page_id)
    return {"queued": len(page_ids), "unchanged": report.unchanged, "failed": report.failed}


@celery_app.task(
    max_retries=MAX_RETRIES, **{**INGEST_RETRY, "autoretry_for": (*INGEST_RETRY["autoretry_for"], SourceUnavailable)}
)
def fetch_today(day: str | None = None) -> dict[str, Any]:
    """Fetch the listings of ``day`` (ISO date; default today, UTC): the HF API's day and the FETCH_REREAD_DAYS
    days before it, the ARXIV_CATEGORIES feeds, and the pages whose source failed. Retried (whole: what did not
    change is a no-op) while any failure is transient; the others are reported."""
    when = dt.date.fromisoformat(day) if day else dt.datetime.now(dt.UTC).date()
    try:
        report = fetch_recent_listings(get_runtime(), when)
    except FetchError as exc:
        log.error("fetch_today(%s): %s", when, exc)
        return {"date": when.isoformat(), "error": str(exc)}
    if report.transient:
        transient = set(report.transient)
        errors = "; ".join(f"{f['path']}: {f['error']}" for f in report.failed if f["path"] in transient)
        log.warning("fetch_today(%s): %s; retrying", when, errors)
        raise SourceUnavailable(errors, transient=True)
    return {"date": when.isoformat(), **report.to_json()}
