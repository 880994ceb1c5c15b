"""The real-world cases of ``../shared/cases`` (its README states each right outcome), on SQLite and PostgreSQL.

hf-late-addition, which needs a stand-in for the Hugging Face API, is in ``test_late_additions.py``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from service.digest import send_due_digests
from service.digest.candidates import new_paper_ids
from service.ingest import ingest_targets, retry_failed_pages
from service.ingest.parsers import hf_api
from service.models import Paper, RawPage, Subscriber, utcnow
from service.runtime import Runtime
from tests.digest.conftest import send_counts
from tests.ingest.conftest import with_settings
from tests.ingest.support import add_reader, one_json_object, page_statuses, paperboy, picks_by_date


def _papers(rt: Runtime) -> dict[str, Paper]:
    with rt.db.session() as session:
        return {p.arxiv_id: p for p in session.scalars(select(Paper))}


# --- hf-lone-surrogate: a title holding half an emoji ---------------------------------------------------------


def test_a_lone_surrogate_is_repaired_and_every_page_stored(any_runtime: Runtime, shared_dir: Path) -> None:
    folder = shared_dir / "cases" / "hf-lone-surrogate"
    result = paperboy(any_runtime, "ingest", str(folder), "--json")
    report = one_json_object(result)
    assert result.exit_code == 0
    assert (report["pages"], report["new_papers"], report["failed"]) == (2, 2, [])
    papers = _papers(any_runtime)
    assert papers["2607.40001"].title == "Emoji cut in half \ufffd by an upstream truncation"
    assert papers["2607.40002"].title == "A Perfectly Ordinary Placeholder Paper"
    assert set(page_statuses(any_runtime).values()) == {"parsed"}
    retried = paperboy(any_runtime, "ingest", "--retry-failed", "--json")
    assert retried.exit_code == 0 and one_json_object(retried)["failed"] == []


def test_a_value_that_escapes_cleaning_fails_its_page_alone(
    any_runtime: Runtime, shared_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever a parser lets through, the database is never handed it: that page fails, naming file and field."""
    folder = shared_dir / "cases" / "hf-lone-surrogate"
    monkeypatch.setattr(hf_api, "clean_text", lambda value: "" if value is None else str(value))
    result = paperboy(any_runtime, "ingest", str(folder), "--json")
    report = one_json_object(result)
    assert result.exit_code == 1 and (report["pages"], report["new_papers"]) == (1, 1)
    [failure] = report["failed"]
    assert Path(failure["path"]).name == "2026-07-27.json"
    assert failure["error"] == "cannot store: item 0: field title: contains U+D83D, which UTF-8 cannot carry"
    statuses = {Path(origin).name: status for origin, status in page_statuses(any_runtime).items()}
    assert statuses == {"2026-07-27.json": "failed", "2026-07-28.json": "parsed"}
    monkeypatch.undo()  # the parser fixed: --retry-failed stores the page
    retried = paperboy(any_runtime, "ingest", "--retry-failed", "--json")
    assert retried.exit_code == 0 and one_json_object(retried)["new_papers"] == 1
    assert set(page_statuses(any_runtime).values()) == {"parsed"}


def test_a_refusal_by_the_database_itself_fails_that_page_only(
    any_runtime: Runtime, shared_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No check in front: the database's own refusal (PostgreSQL, SQLite: no lone surrogates) fails one page."""
    folder = shared_dir / "cases" / "hf-lone-surrogate"
    monkeypatch.setattr(hf_api, "clean_text", lambda value: "" if value is None else str(value))
    monkeypatch.setattr("service.ingest.store.check_storable", lambda entries: None)
    report = ingest_targets(any_runtime, [str(folder)])
    assert (report.pages, report.new_papers) == (1, 1)
    [failure] = report.failed
    assert failure["error"].startswith("item 0: field title: contains U+D83D")
    assert "the database refused the page" in failure["error"]
    with any_runtime.db.session() as session:
        failed = session.scalars(select(RawPage).where(RawPage.status == "failed")).one()
        assert failed.error.startswith(f"{failed.origin}: item 0: field title")
    assert "pending" not in page_statuses(any_runtime).values()


# --- arxiv-unexpected-empty-page: results promised, none sent -------------------------------------------------


def test_results_promised_and_none_sent_is_a_retryable_failure(any_runtime: Runtime, shared_dir: Path) -> None:
    folder = shared_dir / "cases" / "arxiv-unexpected-empty-page"
    promised, empty = folder / "arxiv_empty_page.xml", folder / "arxiv_really_empty.xml"
    result = paperboy(any_runtime, "ingest", str(promised), str(empty), "--json")
    report = one_json_object(result)
    assert result.exit_code == 1
    assert (report["pages"], report["entries"]) == (1, 0)  # the real empty search: a clean, empty success
    [failure] = report["failed"]
    assert failure["path"] == str(promised)
    assert "results were promised and none came" in failure["error"] and "18234 results" in failure["error"]
    with any_runtime.db.session() as session:
        pages = {Path(p.origin).name: p for p in session.scalars(select(RawPage))}
        assert (pages["arxiv_empty_page.xml"].status, pages["arxiv_empty_page.xml"].retryable) == ("failed", True)
        assert (pages["arxiv_really_empty.xml"].status, pages["arxiv_really_empty.xml"].retryable) == ("parsed", False)
    again = paperboy(any_runtime, "ingest", "--retry-failed", "--json")  # a file's answer stays what it was
    assert again.exit_code == 1 and "none came" in one_json_object(again)["failed"][0]["error"]


def test_a_promised_but_empty_answer_is_fetched_again(
    runtime: Runtime, fake_api, shared_dir: Path, no_backoff: None
) -> None:
    api, base = fake_api
    path = "/api/query?search_query=cat:cs.CL&start=0&max_results=100"
    api.add(path, 200, (shared_dir / "cases" / "arxiv-unexpected-empty-page" / "arxiv_empty_page.xml").read_bytes())
    api.add(path, 200, (shared_dir / "cases" / "arxiv-withdrawn" / "arxiv_withdrawn.xml").read_bytes())
    first = ingest_targets(runtime, [base + path])
    assert first.transient == [base + path] and "none came" in first.failed[0]["error"]
    retried = retry_failed_pages(runtime)
    assert (retried.pages, retried.new_papers, retried.failed) == (1, 2, [])
    with runtime.db.session() as session:
        statuses = [p.status for p in session.scalars(select(RawPage).order_by(RawPage.id))]
    assert statuses == ["superseded", "parsed"]
    assert retry_failed_pages(runtime).to_json()["pages"] == 0  # nothing left to retry
    assert api.requests == [path, path]


def test_the_periodic_fetch_retries_pages_whose_source_failed(
    runtime: Runtime, fake_api, shared_dir: Path, no_backoff: None
) -> None:
    api, base = fake_api
    rt = with_settings(runtime, HF_API_BASE_URL=base, FETCH_REREAD_DAYS=0)
    today = utcnow().date()
    api.add(f"/api/daily_papers?date={today}", 200, b"[]")
    path = "/api/query?id_list=2607.30001,2607.30002"
    promised = (shared_dir / "cases" / "arxiv-unexpected-empty-page" / "arxiv_empty_page.xml").read_bytes()
    api.add(path, 200, promised)
    api.add(path, 200, promised)
    api.add(path, 200, (shared_dir / "cases" / "arxiv-withdrawn" / "arxiv_withdrawn.xml").read_bytes())
    assert ingest_targets(rt, [base + path]).transient
    from service.ingest import fetch_recent_listings

    still = fetch_recent_listings(rt, today)  # the source still fails: transient, so the task will retry
    assert still.transient == [base + path] and still.new_papers == 0
    cured = fetch_recent_listings(rt, today)
    assert (cured.new_papers, cured.failed, cured.transient) == (2, [], [])


# --- arxiv-withdrawn ------------------------------------------------------------------------------------------


def test_a_withdrawn_paper_is_stored_withdrawn_and_never_sent(any_runtime: Runtime, shared_dir: Path) -> None:
    page = shared_dir / "cases" / "arxiv-withdrawn" / "arxiv_withdrawn.xml"
    assert ingest_targets(any_runtime, [str(page)]).new_papers == 2
    papers = _papers(any_runtime)
    withdrawn, ordinary = papers["2607.30001"], papers["2607.30002"]
    assert withdrawn.withdrawn and "withdrawn by the authors" in withdrawn.withdrawn_note
    assert withdrawn.arxiv_version == 2 and withdrawn.listing_date == dt.date(2026, 7, 28)  # v1, not <updated>
    assert not ordinary.withdrawn and ordinary.withdrawn_note is None
    reader = add_reader(any_runtime, "reader@example.com")
    day = dt.date(2026, 7, 29)
    with any_runtime.db.session() as session:
        assert new_paper_ids(session, day, 7) == [ordinary.id]
    assert send_due_digests(any_runtime, day)["sent"] == 1
    assert picks_by_date(any_runtime, reader) == {"2026-07-29": ["2607.30002"]}


# --- backfilled-archive: history, not news ----------------------------------------------------------------------


def test_an_archive_ingested_today_is_history_not_news(any_runtime: Runtime, shared_dir: Path) -> None:
    folder = shared_dir / "cases" / "backfilled-archive"
    assert ingest_targets(any_runtime, [str(folder)]).new_papers == 3
    papers = _papers(any_runtime)
    assert {(p.listing_date, p.date_basis) for k, p in papers.items() if k.startswith("2405.")} == {
        (dt.date(2024, 5, 27), "listing")
    }
    revised = papers["1905.00001"]
    assert (revised.listing_date, revised.arxiv_version) == (dt.date(2019, 5, 1), 5)
    reader = add_reader(any_runtime, "reader@example.com", frequency="weekly", weekly_day=utcnow().weekday())
    today = utcnow().date()
    with any_runtime.db.session() as session:
        assert new_paper_ids(session, today, 7) == []
    assert send_counts(send_due_digests(any_runtime, today)) == {"planned": 0, "sent": 0, "skipped": 1, "failed": 0}
    archived_day = dt.date(2024, 5, 27)
    with any_runtime.db.session() as session:
        assert sorted(new_paper_ids(session, archived_day, 2)) == sorted(
            papers[k].id for k in ("2405.90001", "2405.90002")
        )
    daily = add_reader(any_runtime, "daily@example.com")
    with any_runtime.db.session() as session:  # whatever weekday today is, the weekly reader is not due that day
        session.get(Subscriber, reader).weekly_day = (archived_day.weekday() + 1) % 7
    assert send_due_digests(any_runtime, archived_day)["sent"] >= 1
    assert picks_by_date(any_runtime, daily) == {"2024-05-27": ["2405.90001", "2405.90002"]}
    assert picks_by_date(any_runtime, reader) == {}  # nothing went to the weekly reader today
