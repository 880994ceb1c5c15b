"""Ingest tasks: parse a stored page, poll the inbox, fetch the recent listings (``fetch_today``).

Thin on purpose: each takes ids (never objects), builds nothing but the process runtime and calls
``service.ingest``. Transient failures (network, database) are retried with exponential backoff; a page that
does not parse is recorded as ``failed`` on the page and never retried (``paperboy ingest --retry-failed`` does
that on demand). Every task is idempotent, as ``acks_late`` redelivery requires.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from typing import Any

from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from service.ingest import FetchError, fetch_recent_listings, parse_stored_page
from service.ingest.inbox import collect_inbox
from workers.app import MAX_COUNTDOWN_S, celery_app, get_runtime

log = logging.getLogger(__name__)

# database failures that a later attempt can get past: a lost connection, a lock, a race on a unique key
TRANSIENT_DB_ERRORS = (OperationalError, InterfaceError, IntegrityError)
MAX_RETRIES = 6


def backoff_s(retries: int) -> float:
    """TASK_RETRY_BASE_S (30 s), then doubled each retry, capped below the broker's visibility timeout,
    with jitter against thundering herds."""
    base = get_runtime().settings.TASK_RETRY_BASE_S
    return min(float(MAX_COUNTDOWN_S), base * 2**retries) * random.uniform(0.8, 1.2)


@celery_app.task(bind=True, max_retries=MAX_RETRIES)
def ingest_page(self, raw_page_id: int) -> dict[str, Any]:
    """Parse one stored raw page into papers (a no-op if it is already parsed)."""
    try:
        report = parse_stored_page(get_runtime(), raw_page_id)
    except TRANSIENT_DB_ERRORS as exc:
        log.warning("ingest_page(%s): database error, retrying: %s", raw_page_id, exc)
        raise self.retry(exc=exc, countdown=backoff_s(self.request.retries)) from exc
    return report.to_json()


@celery_app.task(bind=True, max_retries=MAX_RETRIES)
def poll_inbox(self) -> dict[str, Any]:
    """Store every new file in INBOX_DIR as a raw page, then queue one ``ingest_page`` per page (after commit)."""
    try:
        page_ids, report = collect_inbox(get_runtime())
    except TRANSIENT_DB_ERRORS as exc:
        raise self.retry(exc=exc, countdown=backoff_s(self.request.retries)) from exc
    for page_id in page_ids:
        ingest_page.delay(page_id)
    return {"queued": len(page_ids), "unchanged": report.unchanged, "failed": report.failed}


@celery_app.task(bind=True, max_retries=MAX_RETRIES)
def fetch_today(self, day: str | None = None) -> dict[str, Any]:
    """Fetch the listings of ``day`` (ISO date; default today, UTC): the HF API's day and the FETCH_REREAD_DAYS
    days before it, the ARXIV_CATEGORIES feeds, and the pages whose source failed. Retried (whole: what did not
    change is a no-op) while any failure is transient; the others are reported."""
    when = dt.date.fromisoformat(day) if day else dt.datetime.now(dt.UTC).date()
    try:
        report = fetch_recent_listings(get_runtime(), when)
    except FetchError as exc:
        log.error("fetch_today(%s): %s", when, exc)
        return {"date": when.isoformat(), "error": str(exc)}
    except TRANSIENT_DB_ERRORS as exc:
        raise self.retry(exc=exc, countdown=backoff_s(self.request.retries)) from exc
    if report.transient:
        transient = set(report.transient)
        errors = "; ".join(f"{f['path']}: {f['error']}" for f in report.failed if f["path"] in transient)
        exc = FetchError(errors, transient=True)
        log.warning("fetch_today(%s): %s; retrying", when, errors)
        raise self.retry(exc=exc, countdown=backoff_s(self.request.retries))
    return {"date": when.isoformat(), **report.to_json()}
