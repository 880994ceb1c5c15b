"""Every parser against every real file in ../shared: the facts its README states must come out."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from service.ingest.detect import detect_source
from service.ingest.errors import ParseError
from service.ingest.normalise import title_key
from service.ingest.parsers import arxiv_atom, hf_api, seed_text

TODAY = dt.date(2026, 11, 21)


def test_seed_pages_hold_549_entries_of_472_distinct_papers(shared_dir: Path) -> None:
    pages = sorted((shared_dir / "seeds").glob("*.txt"))
    assert len(pages) == 5
    parsed = [seed_text.parse(p.read_bytes(), str(p), TODAY) for p in pages]
    entries = [e for page in parsed for e in page.entries]
    assert len(entries) == 549
    assert len({title_key(e.title) for e in entries}) == 472
    assert all(page.problems == [] for page in parsed)
    assert all(e.title and e.abstract and len(e.title) < len(e.abstract) for e in entries)


def test_seed_page_001_has_author_counts_dates_and_upvotes(shared_dir: Path) -> None:
    (path,) = (shared_dir / "seeds").glob("001_*.txt")
    page = seed_text.parse(path.read_bytes(), str(path), TODAY)
    assert len(page.entries) == 105
    assert sum(e.author_count is not None for e in page.entries) == 104
    assert sum(e.published_on is not None for e in page.entries) == 104
    assert sum(e.upvotes is not None for e in page.entries) == 18
    assert page.listing_date == dt.date(2026, 10, 31)
    first = page.entries[0]
    assert (first.author_count, first.published_on) == (4, dt.date(2023, 10, 12))
    # "Apr 15" has no year: the listing's year, and never after the listing date
    assert all(e.published_on <= page.listing_date for e in page.entries if e.published_on)
    assert dt.date(2024, 12, 20) in {e.published_on for e in page.entries if e.upvotes == 5}


def test_layout_c_title_is_unglued_from_the_header(shared_dir: Path) -> None:
    (path,) = (shared_dir / "seeds").glob("002_*.txt")
    page = seed_text.parse(path.read_bytes(), str(path), TODAY)
    assert page.entries[0].title.startswith("Do As I Can")
    assert not any(e.title.startswith(("Subscribe", "Get trending")) for e in page.entries)
    assert len(page.entries) == 136


def test_hf_api_files_hold_322_papers_with_distinct_arxiv_ids(shared_dir: Path) -> None:
    files = sorted((shared_dir / "data" / "hf-api").glob("*.json"))
    assert len(files) == 18
    entries = []
    for path in files:
        page = hf_api.parse(path.read_bytes(), str(path), TODAY)
        assert page.problems == []
        assert page.listing_date == dt.date.fromisoformat(path.stem)
        entries += page.entries
    assert len(entries) == 322
    assert len({e.arxiv_id for e in entries}) == 322
    assert all("\n" not in e.title and "  " not in e.title for e in entries)
    assert all(e.abstract and e.authors and e.published_on for e in entries)
    assert any(e.github_repo and e.github_stars is not None for e in entries)
    assert any(e.ai_keywords for e in entries)
    assert any(e.ai_summary for e in entries)
    assert any(e.organization for e in entries)
    assert any(e.project_page for e in entries)
    assert sum(e.thumbnail is not None for e in entries) == 322  # thumbnail, or mediaUrl in the oldest schema


def test_repr_strings_day_is_read_as_literals(shared_dir: Path) -> None:
    path = shared_dir / "data" / "hf-api" / "2024-12-20.json"
    assert all(isinstance(item, str) for item in json.loads(path.read_text()))
    page = hf_api.parse(path.read_bytes(), str(path), TODAY)
    assert len(page.entries) == 16
    assert page.entries[0].arxiv_id == "2412.15115"
    assert page.entries[0].authors[:2] == ["Qwen", "An Yang"]


def test_repr_strings_never_run_code() -> None:
    payload = json.dumps(["__import__('os').system('touch /tmp/pwned')"]).encode()
    with pytest.raises(ParseError, match="item 0: string is not a Python literal"):
        hf_api.parse(payload, "evil.json", TODAY)


def test_atom_search_feed_and_old_style_id(shared_dir: Path) -> None:
    folder = shared_dir / "data" / "arxiv-atom"
    (search,) = folder.glob("q_testing_*.xml")
    page = arxiv_atom.parse(search.read_bytes(), str(search), TODAY)
    assert len(page.entries) == 100
    assert len({e.arxiv_id for e in page.entries}) == 100
    assert all(e.authors and e.abstract and e.published_on for e in page.entries)
    (old,) = folder.glob("id_astro-ph_*.xml")
    entry = arxiv_atom.parse(old.read_bytes(), str(old), TODAY).entries[0]
    assert entry.arxiv_id == "astro-ph/0601001"
    assert entry.authors[0] == "Andrew Gould" and entry.author_count == 4
    assert "V_max<17.5" in entry.abstract  # entities decoded, LaTeX-ish text kept


def test_atom_error_feed_is_a_failure_not_a_paper(shared_dir: Path) -> None:
    (error_feed,) = (shared_dir / "data" / "arxiv-atom").glob("id_abc_*.xml")
    with pytest.raises(ParseError, match="arXiv API error feed.*incorrect id format for abc"):
        arxiv_atom.parse(error_feed.read_bytes(), str(error_feed), TODAY)


def test_every_shared_file_is_detected_as_its_source(shared_dir: Path) -> None:
    expected = {"seeds": "seed-text", "hf-api": "hf-api", "arxiv-atom": "arxiv-atom"}
    for folder, source in expected.items():
        base = shared_dir / "seeds" if folder == "seeds" else shared_dir / "data" / folder
        for path in base.iterdir():
            assert detect_source(path.read_bytes()) == source, path
