"""Downloading pages: one bounded GET with timeouts, retried with exponential backoff on transient failures.

Transient: connection errors, timeouts, HTTP 429 and 5xx. Anything else (404, 403, too large) fails at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

import httpx

from service.config import Settings
from service.ingest.errors import FetchError

log = logging.getLogger(__name__)

USER_AGENT = "paperboy-ingest/0.1 (+https://github.com/paperboy)"
RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}


def daily_papers_url(settings: Settings, day: dt.date) -> str:
    """``GET {HF_API_BASE_URL}/api/daily_papers?date=YYYY-MM-DD``."""
    return f"{settings.HF_API_BASE_URL.rstrip('/')}/api/daily_papers?date={day.isoformat()}"


def fetch_url(
    url: str,
    settings: Settings,
    *,
    attempts: int = 3,
    backoff_s: float = 0.5,
    transport: httpx.BaseTransport | None = None,
) -> bytes:
    """The body of ``url`` (at most INGEST_MAX_PAGE_BYTES), or FetchError saying whether a retry may help."""
    last: FetchError | None = None
    with httpx.Client(
        timeout=httpx.Timeout(settings.HTTP_TIMEOUT_S),
        follow_redirects=True,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json, application/atom+xml, text/plain, */*"},
        transport=transport,
    ) as client:
        for attempt in range(1, max(1, attempts) + 1):
            try:
                return _get(client, url, settings.INGEST_MAX_PAGE_BYTES)
            except FetchError as exc:
                last = exc
                if not exc.transient or attempt >= attempts:
                    break
                delay = backoff_s * 2 ** (attempt - 1)
                log.info("fetching %s failed (%s); attempt %d of %d in %.1fs", url, exc, attempt + 1, attempts, delay)
                _sleep(delay)
    assert last is not None
    if last.transient:
        raise FetchError(f"{last} (gave up after {attempts} attempts)", transient=True)
    raise last


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _get(client: httpx.Client, url: str, max_bytes: int) -> bytes:
    try:
        with client.stream("GET", url) as response:
            if response.status_code != 200:
                transient = response.status_code in RETRY_STATUSES
                raise FetchError(f"HTTP {response.status_code} from {url}", transient=transient)
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise FetchError(_too_large(url, int(declared), max_bytes), transient=False)
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise FetchError(_too_large(url, len(body), max_bytes, at_least=True), transient=False)
            return bytes(body)
    except httpx.TimeoutException as exc:
        raise FetchError(f"timed out fetching {url} ({exc.__class__.__name__})", transient=True) from exc
    except httpx.TransportError as exc:
        raise FetchError(f"network error fetching {url}: {exc.__class__.__name__}: {exc}", transient=True) from exc
    except httpx.InvalidURL as exc:
        raise FetchError(f"invalid URL {url!r}: {exc}", transient=False) from exc


def _too_large(url: str, size: int, limit: int, *, at_least: bool = False) -> str:
    more = "more than " if at_least else ""
    return f"{url} is {more}{size} bytes, over the {limit}-byte limit (INGEST_MAX_PAGE_BYTES)"
