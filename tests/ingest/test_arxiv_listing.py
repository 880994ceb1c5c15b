"""arXiv's daily announcement feeds (RSS and Atom): new and cross-listed papers are news on the announcement day,
replacements update known papers and are never news; fetched per ARXIV_CATEGORIES beside the HF API."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from service.config import ConfigError, Settings
from service.digest.candidates import new_paper_ids
from service.ingest import fetch_recent_listings, ingest_bytes, ingest_targets
from service.ingest.detect import detect_source
from service.ingest.errors import ParseError
from service.ingest.lifecycle import withdrawal_note
from service.ingest.parsers import arxiv_listing
from service.models import Paper
from service.runtime import Runtime
from tests.ingest.conftest import with_settings

FEEDS = Path(__file__).parent / "feeds"
RSS, ATOM = FEEDS / "cs.LG.rss", FEEDS / "cs.CL.atom"
ANNOUNCED = dt.date(2026, 11, 27)  # "Fri, 27 Nov 2026 00:00:00 -0500": the 27th in arXiv's time zone
TODAY = dt.date(2026, 11, 29)


def test_rss_items_by_announce_type() -> None:
    assert detect_source(RSS.read_bytes()) == "arxiv-listing"
    page = arxiv_listing.parse(RSS.read_bytes(), str(RSS), TODAY)
    assert (page.source, page.listing_date, page.problems) == ("arxiv-listing", ANNOUNCED, [])
    new, cross, replaced, withdrawn = page.entries
    assert (new.arxiv_id, new.version, new.revision, new.listed_on) == ("2611.20001", 1, False, ANNOUNCED)
    assert new.authors == ["Ada Example", "Bea Example", "Cy Example"] and new.author_count == 3
    assert new.abstract.startswith("We fit sparse mixtures") and "Announce Type" not in new.abstract
    assert "$O(n \\log n)$ memory & no accelerator" in new.abstract
    assert (cross.arxiv_id, cross.revision) == ("2611.20002", False)
    assert (replaced.arxiv_id, replaced.version, replaced.revision) == ("2303.01234", 3, True)
    assert replaced.authors == ["Eli Example", "Fay Example"]
    assert (withdrawn.revision, withdrawal_note(withdrawn.link_text, withdrawn.abstract)) == (
        True,
        "This paper has been withdrawn by the authors due to an error in Lemma 2.",
    )


def test_atom_form_of_the_same_feed() -> None:
    assert detect_source(ATOM.read_bytes()) == "arxiv-listing"
    page = arxiv_listing.parse(ATOM.read_bytes(), str(ATOM), TODAY)
    assert page.listing_date == ANNOUNCED
    assert [(e.arxiv_id, e.version, e.revision, e.listed_on) for e in page.entries] == [
        ("2611.30001", 1, False, ANNOUNCED),
        ("2611.20001", 2, True, ANNOUNCED),
    ]


def test_an_empty_feed_is_a_clean_success_and_bad_items_are_named() -> None:
    weekend = RSS.read_bytes().split(b"<item>")[0] + b"</channel></rss>"
    assert arxiv_listing.parse(weekend, "sat.rss", TODAY).entries == []
    unknown = RSS.read_bytes().replace(b"<arxiv:announce_type>cross<", b"<arxiv:announce_type>rumour<")
    page = arxiv_listing.parse(unknown, "odd.rss", TODAY)
    assert page.problems == ["item 1: field arxiv:announce_type: unknown announce type 'rumour' (skipped)"]
    with pytest.raises(ParseError, match="DTD or entities is refused"):
        arxiv_listing.parse(b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "b">]><rss>&a;</rss>', "x.rss", TODAY)
    with pytest.raises(ParseError, match=r"line \d+: not well-formed XML \(no element found"):
        arxiv_listing.parse(RSS.read_bytes()[:900], "cut.rss", TODAY)


def test_news_and_updates_in_the_database(any_runtime: Runtime) -> None:
    known = (  # the 2023 paper, known from its first listing
        b'[{"paper": {"id": "2303.01234", "title": "Old Placeholder Benchmarks Revisited", "summary": "v1.",'
        b' "submittedOnDailyAt": "2023-03-03T00:00:00.000Z"}}]'
    )
    ingest_bytes(any_runtime, known, "2023-03-03.json")
    report = ingest_targets(any_runtime, [str(RSS), str(ATOM)])
    assert (report.pages, report.entries, report.failed) == (2, 6, [])
    with any_runtime.db.session() as session:
        papers = {p.arxiv_id: p for p in session.scalars(select(Paper))}
        news = set(new_paper_ids(session, ANNOUNCED, 2))
    assert {k for k, p in papers.items() if p.id in news} == {"2611.20001", "2611.20002", "2611.30001"}
    old = papers["2303.01234"]  # updated by its v3, still history
    assert (old.listing_date, old.date_basis, old.arxiv_version) == (dt.date(2023, 3, 3), "listing", 3)
    assert old.title == "Old Placeholder Benchmarks Revisited (Third Version)"
    assert old.abstract.startswith("The third version")
    unknown = papers["2610.05555"]  # a replacement of a paper never seen: history, and withdrawn
    assert (unknown.listing_date, unknown.date_basis, unknown.withdrawn) == (None, "revision", True)
    tiny = papers["2611.20001"]  # its v2 (a replace-cross) updated it the same day: news once, on its day
    assert (tiny.arxiv_version, tiny.listing_date, tiny.date_basis) == (2, ANNOUNCED, "listing")
    assert tiny.abstract.endswith("now with a speech benchmark.")
    assert "https://github.com/example/tiny-mix" in tiny.code_links


def test_categories_are_fetched_beside_the_hf_api(runtime: Runtime, fake_api, no_backoff: None) -> None:
    api, base = fake_api
    api.add("/rss/cs.LG", 200, RSS.read_bytes())
    api.add("/rss/cs.CL", 200, ATOM.read_bytes())
    api.add(f"/api/daily_papers?date={TODAY}", 200, b"[]")
    rt = with_settings(
        runtime, HF_API_BASE_URL=base, ARXIV_RSS_BASE_URL=base, ARXIV_CATEGORIES="cs.LG, cs.CL", FETCH_REREAD_DAYS=0
    )
    report = fetch_recent_listings(rt, TODAY)
    assert (report.pages, report.new_papers, report.failed) == (3, 5, [])
    assert api.requests == [f"/api/daily_papers?date={TODAY}", "/rss/cs.LG", "/rss/cs.CL"]
    assert fetch_recent_listings(rt, TODAY).unchanged == 3  # the same answers an hour later change nothing


def test_categories_setting_is_checked() -> None:
    settings = Settings.from_env({"ARXIV_CATEGORIES": "cs.LG cs.CL,hep-th", "SECRET_KEY": "x"}, environ={})
    assert settings.arxiv_categories == ("cs.LG", "cs.CL", "hep-th")
    assert Settings.from_env({"SECRET_KEY": "x"}, environ={}).arxiv_categories == ()  # off by default
    with pytest.raises(ConfigError, match="ARXIV_CATEGORIES: 'cs.LG/../x' is not an arXiv category"):
        Settings.from_env({"ARXIV_CATEGORIES": "cs.LG/../x", "SECRET_KEY": "x"}, environ={})
