"""Reading the sources again: the periodic fetch, and the pages whose source failed.

Listings change after their day (Hugging Face adds papers to yesterday's listing after midnight), so the periodic
fetch reads today's listing and re-reads the FETCH_REREAD_DAYS days before it; unchanged answers are no-ops (same
bytes), changed ones bring late additions (news in the window that holds their listing day, once) and new
counts. Beside it, each ARXIV_CATEGORIES announcement feed, and every page that failed because its source did
(``retryable``, received in the last RETRY_WINDOW_DAYS days) is fetched again. Each source has its own outcome;
``IngestReport.transient`` names the failures a later attempt may cure, which is what the task retries on.
"""

from __future__ import annotations

import datetime as dt
from functools import partial

from sqlalchemy import select

from service.config import Settings
from service.ingest.entries import SOURCES
from service.ingest.errors import FetchError
from service.ingest.fetch import daily_papers_url, fetch_url
from service.ingest.normalise import storable
from service.ingest.pipeline import (
    fetch_and_ingest,
    ingest_bytes,
    ingest_url,
    is_url,
    one_page,
    parse_stored_page,
    progress_bar,
)
from service.ingest.report import IngestReport
from service.ingest.store import content_hash
from service.models import RawPage, utcnow
from service.runtime import Runtime

RETRY_WINDOW_DAYS = 7  # a source failure older than this is left for `paperboy ingest --retry-failed`


def listing_days(day: dt.date, reread_days: int) -> list[dt.date]:
    """``day`` and the ``reread_days`` days before it, oldest first."""
    return [day - dt.timedelta(days=back) for back in range(max(0, reread_days), -1, -1)]


def arxiv_feed_url(settings: Settings, category: str) -> str:
    """``{ARXIV_RSS_BASE_URL}/rss/<category>``: the day's announcements (new, cross-lists, replacements)."""
    return f"{settings.ARXIV_RSS_BASE_URL.rstrip('/')}/rss/{category}"


def fetch_daily_papers(rt: Runtime, day: dt.date) -> IngestReport:
    """Fetch one day's daily papers from the API (retrying transient failures) and ingest them.

    Raises FetchError when the API cannot be reached (``transient``) or refuses the request.
    """
    _refuse_future(day)
    url = daily_papers_url(rt.settings, day)
    content = fetch_url(url, rt.settings)
    return ingest_bytes(rt, content, url, source="hf-api")


def fetch_recent_listings(rt: Runtime, day: dt.date) -> IngestReport:
    """The periodic fetch for ``day`` (see the module docstring). Never raises for one source's failure: it is
    in ``failed`` (and ``transient`` when worth retrying). FetchError only for a day in the future."""
    _refuse_future(day)
    report = IngestReport()
    for listed in listing_days(day, rt.settings.FETCH_REREAD_DAYS):
        url = daily_papers_url(rt.settings, listed)
        report.add(one_page(partial(ingest_url, rt, url, source="hf-api"), url))
    for category in rt.settings.arxiv_categories:
        url = arxiv_feed_url(rt.settings, category)
        report.add(one_page(partial(ingest_url, rt, url, source="arxiv-listing"), url))
    since = dt.datetime.combine(day - dt.timedelta(days=RETRY_WINDOW_DAYS), dt.time.min)
    report.add(retry_source_failures(rt, since=since))
    return report


def retry_source_failures(rt: Runtime, *, since: dt.datetime) -> IngestReport:
    """Fetch again every page received since ``since`` that failed because its source did."""
    with rt.db.session() as session:
        rows = session.execute(
            select(RawPage.id, RawPage.origin, RawPage.source).where(
                RawPage.status == "failed", RawPage.retryable.is_(True), RawPage.received_at >= since
            )
        ).all()
    report = IngestReport()
    for page_id, origin, source in rows:
        if is_url(origin):
            report.add(one_page(partial(refetch_page, rt, page_id, origin, source), origin))
    return report


def retry_failed_pages(rt: Runtime, *, progress: bool = False) -> IngestReport:
    """Parse again every stored page whose parse failed (or never finished), e.g. after a parser fix.

    A page that failed because its source did (``retryable``) and came from a URL is fetched again: a new
    answer is ingested and the failed page marked ``superseded``; the same answer fails again.
    """
    with rt.db.session() as session:
        rows = session.execute(
            select(RawPage.id, RawPage.origin, RawPage.retryable, RawPage.source)
            .where(RawPage.status.in_(("failed", "pending")))
            .order_by(RawPage.id)
        ).all()
    report = IngestReport()
    for page_id, origin, retryable, source in progress_bar(rows, progress):
        if retryable and is_url(origin):
            report.add(one_page(partial(refetch_page, rt, page_id, origin, source), origin))
        else:
            report.add(one_page(partial(parse_stored_page, rt, page_id, redetect=True), origin))
    return report


def refetch_page(rt: Runtime, page_id: int, origin: str, source: str | None) -> IngestReport:
    """Fetch a page's origin again and ingest the answer; the old page is ``superseded`` once a new one parses."""
    report, content = fetch_and_ingest(rt, origin, source=source if source in SOURCES else None)
    if content is None:
        return report
    with rt.db.session() as session:
        old = session.get(RawPage, page_id)
        new = session.scalars(select(RawPage).where(RawPage.content_hash == content_hash(content))).first()
        if old is not None and new is not None and new.id != page_id and new.status == "parsed":
            old.status, old.retryable = "superseded", False
            old.error = storable(f"{old.error or ''} (fetched again as raw page {new.id})")
    return report


def _refuse_future(day: dt.date) -> None:
    if day > utcnow().date():
        raise FetchError(f"{day} is in the future: there is no listing for it yet", transient=False)
