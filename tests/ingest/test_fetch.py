"""Live fetch of a day's daily papers, against a local server: retries, timeouts, refusals, size limit."""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path

import pytest
from sqlalchemy import select

from service.ingest import FetchError, fetch_daily_papers, ingest_targets
from service.models import Paper, RawPage
from service.runtime import Runtime
from tests.ingest.conftest import with_settings

DAY = dt.date(2026, 7, 13)
PATH = "/api/daily_papers?date=2026-07-13"


def test_fetch_retries_a_503_then_ingests_the_day(
    runtime: Runtime, fake_api, shared_dir: Path, no_backoff: None
) -> None:
    api, base = fake_api
    body = (shared_dir / "data" / "hf-api" / "2026-07-13.json").read_bytes()
    api.add(PATH, 503)
    api.add(PATH, 200, body)
    rt = with_settings(runtime, HF_API_BASE_URL=base + "/")
    report = fetch_daily_papers(rt, DAY)
    assert (report.pages, report.entries, report.new_papers, report.failed) == (1, 13, 13, [])
    assert api.requests == [PATH, PATH]
    assert api.user_agents[0].startswith("paperboy-ingest/")
    with rt.db.session() as session:
        page = session.scalars(select(RawPage)).one()
        assert (page.origin, page.source, page.listing_date) == (base + PATH, "hf-api", DAY)
        assert {p.listing_date for p in session.scalars(select(Paper))} == {DAY}
    assert fetch_daily_papers(rt, DAY).unchanged == 1  # the same answer an hour later changes nothing


def test_a_refusal_is_not_retried(runtime: Runtime, fake_api) -> None:
    api, base = fake_api
    api.add(PATH, 404, b"{}")
    with pytest.raises(FetchError, match="HTTP 404") as caught:
        fetch_daily_papers(with_settings(runtime, HF_API_BASE_URL=base), DAY)
    assert caught.value.transient is False
    assert api.requests == [PATH]


def test_an_unreachable_api_is_transient_after_three_attempts(runtime: Runtime, no_backoff: None) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    rt = with_settings(runtime, HF_API_BASE_URL=f"http://127.0.0.1:{port}")
    with pytest.raises(FetchError, match="network error.*gave up after 3 attempts") as caught:
        fetch_daily_papers(rt, DAY)
    assert caught.value.transient is True


def test_a_slow_api_times_out(runtime: Runtime, fake_api, no_backoff: None) -> None:
    api, base = fake_api
    api.add(PATH, 200, b"[]", delay_s=1.0)
    rt = with_settings(runtime, HF_API_BASE_URL=base, HTTP_TIMEOUT_S=0.2)
    with pytest.raises(FetchError, match="timed out") as caught:
        fetch_daily_papers(rt, DAY)
    assert caught.value.transient is True and len(api.requests) == 3


def test_an_oversized_answer_is_refused(runtime: Runtime, fake_api) -> None:
    api, base = fake_api
    api.add(PATH, 200, b"[" + b" " * 5000 + b"]")
    rt = with_settings(runtime, HF_API_BASE_URL=base, INGEST_MAX_PAGE_BYTES=1000)
    with pytest.raises(FetchError, match="over the 1000-byte limit") as caught:
        fetch_daily_papers(rt, DAY)
    assert caught.value.transient is False


def test_future_days_are_refused(runtime: Runtime) -> None:
    with pytest.raises(FetchError, match="in the future"):
        fetch_daily_papers(runtime, dt.date.today() + dt.timedelta(days=2))


def test_urls_as_ingest_targets(runtime: Runtime, fake_api, shared_dir: Path) -> None:
    api, base = fake_api
    (atom,) = (shared_dir / "data" / "arxiv-atom").glob("id_astro-ph_*.xml")
    api.add("/feed.xml", 200, atom.read_bytes())
    report = ingest_targets(runtime, [f"{base}/feed.xml", f"{base}/missing"])
    assert (report.pages, report.new_papers) == (1, 1)
    assert report.failed == [{"path": f"{base}/missing", "error": f"HTTP 404 from {base}/missing"}]
