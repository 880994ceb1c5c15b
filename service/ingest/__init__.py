"""Ingest: listing pages, API responses and Atom feeds into papers, idempotently, losing nothing.

Public entry points (every one takes the process's ``Runtime`` first) and the report they return.
"""

from service.ingest.errors import FetchError, IngestError, ParseError
from service.ingest.inbox import poll_inbox
from service.ingest.listings import fetch_daily_papers, fetch_recent_listings, retry_failed_pages
from service.ingest.pipeline import ingest_bytes, ingest_targets, parse_stored_page
from service.ingest.report import IngestReport

__all__ = [
    "FetchError",
    "IngestError",
    "IngestReport",
    "ParseError",
    "fetch_daily_papers",
    "fetch_recent_listings",
    "ingest_bytes",
    "ingest_targets",
    "parse_stored_page",
    "poll_inbox",
    "retry_failed_pages",
]
