"""Ingest into the database, on SQLite and PostgreSQL: merging, idempotence, nothing lost on bad input."""

from __future__ import annotations

import datetime as dt
import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import select

from service.ingest import ingest_bytes, ingest_targets, retry_failed_pages
from service.models import Paper, PaperSighting, RawPage, utcnow
from service.runtime import Runtime
from tests.ingest.helpers import SAMPLES, count, snapshot


def test_seeds_become_472_papers_with_every_required_field(any_runtime: Runtime, shared_dir: Path) -> None:
    before = utcnow()
    report = ingest_targets(any_runtime, [str(shared_dir / "seeds")]).to_json()
    assert report == {
        "pages": 5,
        "entries": 549,
        "new_papers": 472,
        "updated_papers": report["updated_papers"],
        "failed": [],
    }
    assert report["updated_papers"] > 0
    today = dt.datetime.now(dt.UTC).date()
    with any_runtime.db.session() as session:
        papers = session.scalars(select(Paper)).all()
        assert len(papers) == 472
        for paper in papers:
            assert paper.title and paper.abstract and paper.title_key
            assert paper.url.startswith("https://arxiv.org/search/?query=")
            assert paper.listing_date is not None and paper.listing_date <= today
            assert paper.first_seen_at >= before
        assert sum(p.author_count is not None for p in papers) >= 104
        pages = session.scalars(select(RawPage).order_by(RawPage.id)).all()
        assert [p.status for p in pages] == ["parsed"] * 5
        for page, path in zip(pages, sorted((shared_dir / "seeds").glob("*.txt")), strict=True):
            assert page.content == path.read_bytes()
            assert page.content_hash == hashlib.sha256(path.read_bytes()).hexdigest()
        # one sighting per (paper, page): 549 entries, fewer where a page lists a paper twice
        sightings = session.scalars(select(PaperSighting)).all()
        assert len({(s.paper_id, s.raw_page_id) for s in sightings}) == len(sightings) <= 549


def test_hf_api_papers_carry_their_metadata(any_runtime: Runtime, shared_dir: Path) -> None:
    report = ingest_targets(any_runtime, [str(shared_dir / "data" / "hf-api")])
    assert (report.pages, report.entries, report.new_papers, report.failed) == (18, 322, 322, [])
    with any_runtime.db.session() as session:
        papers = session.scalars(select(Paper)).all()
        assert all(p.url == f"https://arxiv.org/abs/{p.arxiv_id}" for p in papers)
        assert all(p.authors and p.author_count == len(p.authors) for p in papers)
        qwen = session.scalars(select(Paper).where(Paper.arxiv_id == "2412.15115")).one()
        assert qwen.listing_date == dt.date(2024, 12, 20)
        assert qwen.upvotes > 0 and qwen.published_on is not None
        with_repo = session.scalars(select(Paper).where(Paper.github_repo.is_not(None))).all()
        assert with_repo and all(p.github_repo in p.code_links for p in with_repo)
        assert session.scalars(select(Paper).where(Paper.organization.is_not(None))).first() is not None


def test_ingesting_everything_twice_changes_nothing(any_runtime: Runtime, shared_dir: Path) -> None:
    targets = [str(shared_dir / "seeds"), str(shared_dir / "data")]
    first = ingest_targets(any_runtime, targets)
    state = snapshot(any_runtime)
    second = ingest_targets(any_runtime, targets)
    assert snapshot(any_runtime) == state
    assert (second.pages, second.entries, second.new_papers, second.updated_papers) == (0, 0, 0, 0)
    assert second.unchanged == first.pages + len(first.failed)
    # the arXiv error feed stays one clear failure, the same both times
    assert [f["path"] for f in second.failed] == [f["path"] for f in first.failed]
    assert len(first.failed) == 1 and "incorrect id format for abc" in first.failed[0]["error"]


def test_later_sightings_merge_and_raise_counts(any_runtime: Runtime) -> None:
    title_only = b"Daily Papers\n\nWarm Starts for Sparse Solvers\n\nWe warm-start sparse solvers.\n"
    ingest_bytes(any_runtime, title_only, "day1.txt")
    with any_runtime.db.session() as session:
        first_seen = session.scalars(select(Paper)).one().first_seen_at
    api_day = (
        b'[{"paper": {"id": "2601.00001v2", "title": "Warm starts for sparse\\n  solvers", "upvotes": 7,'
        b' "summary": "We warm-start sparse solvers, at length, with code at https://github.com/o/warm.",'
        b' "authors": [{"name": "Ada L\\u00f6w"}], "publishedAt": "2026-01-02T00:00:00.000Z"}, "numComments": 2}]'
    )
    report = ingest_bytes(any_runtime, api_day, "2026-01-03.json")
    assert (report.new_papers, report.updated_papers) == (0, 1)
    later = api_day.replace(b'"upvotes": 7', b'"upvotes": 30').replace(b'"numComments": 2', b'"numComments": 5')
    ingest_bytes(any_runtime, later, "2026-01-04.json")
    older = api_day.replace(b'"upvotes": 7', b'"upvotes": 1')
    ingest_bytes(any_runtime, older, "2026-01-02.json")
    with any_runtime.db.session() as session:
        paper = session.scalars(select(Paper)).one()
        assert paper.arxiv_id == "2601.00001"
        assert paper.url == "https://arxiv.org/abs/2601.00001"
        assert (paper.upvotes, paper.num_comments) == (30, 5)  # counts only ever rise
        assert paper.first_seen_at == first_seen
        assert paper.authors == ["Ada Löw"]
        assert paper.abstract.startswith("We warm-start sparse solvers, at length")
        assert paper.github_repo == "https://github.com/o/warm"
        assert paper.listing_date == dt.date(2026, 1, 2)  # the earliest listing it was on
        assert count(any_runtime, PaperSighting) == 4


def test_sample_pages_for_the_demo(any_runtime: Runtime) -> None:
    report = ingest_targets(any_runtime, [str(SAMPLES)])
    assert (report.pages, report.entries, report.new_papers, report.failed) == (4, 60, 56, [])
    with any_runtime.db.session() as session:
        papers = session.scalars(select(Paper)).all()
        assert any(p.code_links for p in papers) and any(p.project_page for p in papers)
        assert any("$" in p.abstract for p in papers) and any(not p.abstract.isascii() for p in papers)
        paged = session.scalars(select(Paper).where(Paper.title.startswith("PagedKV"))).one()
        assert paged.upvotes == 64 and paged.author_count == 8
        assert len(paged.sightings) == 2


def test_bad_pages_fail_clearly_and_never_stop_the_rest(any_runtime: Runtime, tmp_path: Path) -> None:
    tmp_path = tmp_path / "pages"
    tmp_path.mkdir()
    good = tmp_path / "good.txt"
    good.write_text("Subscribe\n\nA Good Title\n\nA good abstract.\n", encoding="utf-8")
    bad = {
        "empty.txt": b"",
        "binary.bin": bytes(range(256)) * 4,
        "latin1.txt": "Caf\u00e9 Title\n\nAbstract.\n".encode("latin-1"),
        "truncated.json": b'[{"paper": {"id": "2401.00001", "title": "Cut',
        "error-page.html": b"<html><body>502 Bad Gateway</body></html>",
    }
    for name, content in bad.items():
        (tmp_path / name).write_bytes(content)
    big = tmp_path / "big.txt"
    with big.open("wb") as handle:  # a 50 MB file, made here rather than kept in the repo
        block = (SAMPLES / "01_layout_a.txt").read_bytes()
        while handle.tell() < 50 * 1024 * 1024:
            handle.write(block)
    report = ingest_targets(any_runtime, [str(tmp_path), str(tmp_path / "missing.txt")])
    errors = {Path(f["path"]).name: f["error"] for f in report.failed}
    assert report.pages == 1 and report.new_papers == 1
    assert "empty page" in errors["empty.txt"]
    assert "binary content" in errors["binary.bin"]
    assert errors["latin1.txt"].startswith("line 1: not UTF-8 text: byte 0xe9")
    assert errors["truncated.json"].startswith("line 1: not valid JSON")
    assert "not an Atom feed" in errors["error-page.html"]
    assert "over the 16777216-byte page limit" in errors["big.txt"]
    assert errors["missing.txt"] == "no such file, folder or http(s) URL"
    with any_runtime.db.session() as session:
        failed = session.scalars(select(RawPage).where(RawPage.status == "failed")).all()
        assert len(failed) == 5  # stored (nothing lost) except the oversized file
        for page in failed:
            assert page.error.startswith(f"{page.origin}: ")


def test_retry_failed_reparses_with_the_right_layout(any_runtime: Runtime) -> None:
    content = (SAMPLES / "04_layout_c.txt").read_bytes()
    forced = ingest_bytes(any_runtime, content, "04.txt", source="hf-api")
    assert forced.failed and forced.failed[0]["error"].startswith("line 1: not valid JSON")
    assert ingest_bytes(any_runtime, content, "04.txt").failed  # same bytes: unchanged, still failed
    assert count(any_runtime, RawPage) == 1
    retried = retry_failed_pages(any_runtime)
    assert (retried.pages, retried.entries, retried.failed) == (1, 17, [])
    with any_runtime.db.session() as session:
        page = session.scalars(select(RawPage)).one()
        assert (page.status, page.source, page.error) == ("parsed", "seed-text", None)


def test_partly_bad_page_keeps_good_entries_and_reports_the_rest(any_runtime: Runtime) -> None:
    content = (
        b'[{"paper": {"id": "2401.00002", "title": "Kept"}}, {"paper": {"id": "nope", "title": "Bad id"}},'
        b' 42, {"paper": {"id": "2401.00003"}}]'
    )
    report = ingest_bytes(any_runtime, content, "mixed.json")
    assert (report.pages, report.entries, report.new_papers) == (1, 1, 1)
    assert [f["error"] for f in report.failed] == [
        "item 1: field paper.id: 'nope' is not an arXiv id (skipped)",
        "item 2: expected an object, found int (skipped)",
        "item 3: field paper.title: no title (skipped)",
    ]
    with any_runtime.db.session() as session:
        page = session.scalars(select(RawPage)).one()
        assert page.status == "parsed" and page.error.startswith("mixed.json: item 1:")


def test_concurrent_ingests_of_overlapping_pages_merge_cleanly(pg_runtime: Runtime) -> None:
    """Two workers parsing pages that share papers at the same time: one row per paper, nothing fails."""
    pages = [(SAMPLES / name).read_bytes() for name in ("01_layout_a.txt", "02_layout_a.txt", "03_layout_b.txt")]
    pages.append((SAMPLES / "04_layout_c.txt").read_bytes())
    with ThreadPoolExecutor(max_workers=4) as pool:
        reports = list(pool.map(lambda item: ingest_bytes(pg_runtime, item[1], f"p{item[0]}.txt"), enumerate(pages)))
    assert all(r.failed == [] and r.pages == 1 for r in reports)
    assert sum(r.new_papers for r in reports) == 56 == count(pg_runtime, Paper)
    assert count(pg_runtime, PaperSighting) == 60
