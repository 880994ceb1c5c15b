"""The inbox poll and the Celery tasks (run eagerly, in-process): retries on transient errors only."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from service.ingest import FetchError, poll_inbox
from service.ingest.store import store_raw_page
from service.models import Paper, RawPage
from service.runtime import Runtime
from tests.ingest.conftest import with_settings
from tests.ingest.helpers import SAMPLES, count
from workers.tasks import ingest as tasks


@pytest.fixture
def worker_runtime(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    """The tasks' process runtime is the test's."""
    monkeypatch.setattr(tasks, "get_runtime", lambda: runtime)
    return runtime


def _drop(inbox: Path, name: str, content: bytes) -> Path:
    inbox.mkdir(parents=True, exist_ok=True)
    path = inbox / name
    path.write_bytes(content)
    return path


def test_poll_ingests_new_files_once_and_moves_them_aside(runtime: Runtime) -> None:
    inbox = Path(runtime.settings.INBOX_DIR)
    _drop(inbox, "a.txt", (SAMPLES / "01_layout_a.txt").read_bytes())
    _drop(inbox / "sub", "c.txt", (SAMPLES / "04_layout_c.txt").read_bytes())
    _drop(inbox, "empty.txt", b"")
    _drop(inbox, "half-written.txt.part", b"Title\n")
    report = poll_inbox(runtime)
    assert (report.pages, report.entries, report.new_papers) == (2, 31, 30)
    assert [(Path(f["path"]).name, f["error"]) for f in report.failed] == [("empty.txt", "empty page (no content)")]
    assert sorted(p.relative_to(inbox).as_posix() for p in inbox.rglob("*") if p.is_file()) == [
        "half-written.txt.part",
        "processed/a.txt",
        "processed/empty.txt",
        "processed/sub/c.txt",
    ]
    assert poll_inbox(runtime).to_json() == {
        "pages": 0,
        "entries": 0,
        "new_papers": 0,
        "updated_papers": 0,
        "failed": [],
    }
    _drop(inbox, "a.txt", (SAMPLES / "01_layout_a.txt").read_bytes())  # the same page arrives again
    again = poll_inbox(runtime)
    assert (again.pages, again.unchanged) == (0, 1)
    assert (inbox / "processed" / "a.1.txt").exists()


def test_oversized_inbox_file_is_rejected_not_stored(runtime: Runtime) -> None:
    rt = with_settings(runtime, INGEST_MAX_PAGE_BYTES=100)
    inbox = Path(rt.settings.INBOX_DIR)
    _drop(inbox, "big.txt", (SAMPLES / "01_layout_a.txt").read_bytes())
    report = poll_inbox(rt)
    assert "over the 100-byte page limit" in report.failed[0]["error"]
    assert (inbox / "rejected" / "big.txt").exists() and count(rt, RawPage) == 0


def _pending_page(rt: Runtime, content: bytes, origin: str) -> int:
    with rt.db.session() as session:
        page, _ = store_raw_page(session, content, origin, None)
        return page.id


def test_ingest_page_task_is_idempotent(worker_runtime: Runtime) -> None:
    page_id = _pending_page(worker_runtime, (SAMPLES / "03_layout_b.txt").read_bytes(), "b.txt")
    first = tasks.ingest_page.apply(args=[page_id]).get()
    assert (first["pages"], first["new_papers"]) == (1, 14)
    again = tasks.ingest_page.apply(args=[page_id]).get()  # a redelivered message
    assert (again["pages"], again["entries"]) == (0, 0) and count(worker_runtime, Paper) == 14


def test_ingest_page_retries_a_database_error(worker_runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    page_id = _pending_page(worker_runtime, (SAMPLES / "04_layout_c.txt").read_bytes(), "c.txt")
    real = tasks.parse_stored_page
    calls: list[int] = []

    def flaky(rt: Runtime, pid: int):
        calls.append(pid)
        if len(calls) == 1:
            raise OperationalError("UPDATE raw_pages", {}, Exception("database is locked"))
        return real(rt, pid)

    monkeypatch.setattr(tasks, "parse_stored_page", flaky)
    result = tasks.ingest_page.apply(args=[page_id], throw=False).get()  # throw=False: Celery re-runs the retry
    assert calls == [page_id, page_id] and result["new_papers"] == 17


def test_ingest_page_never_retries_a_parse_error(worker_runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    page_id = _pending_page(worker_runtime, b"\x00\x01\x02 not a page", "junk.bin")
    real = tasks.parse_stored_page
    calls: list[int] = []
    monkeypatch.setattr(tasks, "parse_stored_page", lambda rt, pid: calls.append(pid) or real(rt, pid))
    result = tasks.ingest_page.apply(args=[page_id]).get()
    assert calls == [page_id]
    assert result["failed"] == [
        {
            "path": "junk.bin",
            "error": "binary content (NUL bytes): not a text, JSON or Atom page (UTF-16 text needs a byte-order mark)",
        }
    ]
    with worker_runtime.db.session() as session:
        assert session.get(RawPage, page_id).status == "failed"


def test_poll_inbox_task_queues_one_parse_per_page(worker_runtime: Runtime) -> None:
    inbox = Path(worker_runtime.settings.INBOX_DIR)
    _drop(inbox, "b.txt", (SAMPLES / "03_layout_b.txt").read_bytes())
    _drop(inbox, "a.txt", (SAMPLES / "02_layout_a.txt").read_bytes())
    result = tasks.poll_inbox.apply().get()
    assert result["queued"] == 2
    with worker_runtime.db.session() as session:
        assert [p.status for p in session.scalars(select(RawPage))] == ["parsed", "parsed"]
    assert count(worker_runtime, Paper) == 29


def test_fetch_today_task(runtime: Runtime, fake_api, shared_dir: Path, monkeypatch, no_backoff: None) -> None:
    api, base = fake_api
    rt = with_settings(runtime, HF_API_BASE_URL=base, FETCH_REREAD_DAYS=1)
    monkeypatch.setattr(tasks, "get_runtime", lambda: rt)
    api.add("/api/daily_papers?date=2026-07-13", 200, (shared_dir / "data/hf-api/2026-07-13.json").read_bytes())
    api.add("/api/daily_papers?date=2026-07-14", 200, (shared_dir / "data/hf-api/2026-07-14.json").read_bytes())
    first = tasks.fetch_today.apply(kwargs={"day": "2026-07-14"}).get()  # the day and, again, the day before
    assert (first["pages"], first["new_papers"], first["failed"]) == (2, 25, [])
    api.add("/api/daily_papers?date=2026-07-15", 503)  # down for good: retried by Celery, then the error
    conf = tasks.celery_app.conf
    conf.task_eager_propagates = False  # so that eager retries run to the end, as a worker's would
    try:
        with pytest.raises(FetchError, match="HTTP 503"):
            tasks.fetch_today.apply(kwargs={"day": "2026-07-15"}).get()
    finally:
        conf.task_eager_propagates = True
    assert api.requests.count("/api/daily_papers?date=2026-07-15") == 3 * (tasks.MAX_RETRIES + 1)
    assert api.requests.count("/api/daily_papers?date=2026-07-14") == 1 + tasks.MAX_RETRIES + 1  # re-read, unchanged
    refused = tasks.fetch_today.apply(kwargs={"day": "2026-07-17"}).get()  # 404s: reported, not retried
    assert refused["pages"] == 0 and all("HTTP 404" in f["error"] for f in refused["failed"])
    assert api.requests.count("/api/daily_papers?date=2026-07-17") == 1
    assert "in the future" in tasks.fetch_today.apply(kwargs={"day": "2999-01-01"}).get()["error"]
    today = dt.datetime.now(dt.UTC).date()
    for back in (0, 1):  # no day given: today, and yesterday again
        api.add(f"/api/daily_papers?date={today - dt.timedelta(days=back)}", 200, b"[]")
    assert tasks.fetch_today.apply().get() == {
        "date": today.isoformat(),
        "pages": 1,  # two empty days are the same bytes: one page
        "entries": 0,
        "new_papers": 0,
        "updated_papers": 0,
        "failed": [],
    }
    assert {f"/api/daily_papers?date={today - dt.timedelta(days=back)}" for back in (0, 1)} <= set(api.requests)
