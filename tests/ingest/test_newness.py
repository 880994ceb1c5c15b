"""What is new comes from the sources' own dates, never from when or in which order pages were ingested."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from service.digest.candidates import new_paper_ids
from service.ingest import ingest_bytes, parse_stored_page
from service.ingest.lifecycle import Dated, apply_date, sighting_date, withdrawal_note
from service.ingest.store import store_raw_page
from service.models import Paper, PaperSighting, RawPage
from service.runtime import Runtime
from tests.ingest.helpers import SAMPLES

FEEDS = Path(__file__).parent / "feeds"
DAY = dt.date(2026, 11, 27)  # the digest date; a daily reader's window is the 26th and the 27th

# A listing of the 26th that features an archived paper again, a paper news that day, and one whose arXiv v1
# date (in API_ANSWER below) is the 25th: the earliest date a source states is the paper's.
HF_26 = (
    b'[{"paper": {"id": "2405.90001", "title": "An Archived Placeholder Paper on Visual Encoders", "upvotes": 90}},'
    b' {"paper": {"id": "2611.40001", "title": "A Placeholder Paper Listed on the 26th", "upvotes": 3}},'
    b' {"paper": {"id": "2611.40004", "title": "A Placeholder Paper Published on the 25th", "upvotes": 8}}]'
)
API_ANSWER = b"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>ArXiv Query: id_list=1905.00001,2611.40004</title>
  <updated>2026-11-29T00:00:00-05:00</updated>
  <entry><id>http://arxiv.org/abs/1905.00001v1</id><published>2019-05-01T00:00:00Z</published>
    <title>A 2019 Placeholder Paper</title><summary>The first version.</summary></entry>
  <entry><id>http://arxiv.org/abs/2611.40004v1</id><published>2026-11-25T18:00:00Z</published>
    <title>A Placeholder Paper Published on the 25th</title><summary>Published before its listing.</summary></entry>
</feed>"""


def _pages(shared_dir: Path) -> list[tuple[str, bytes]]:
    archive = shared_dir / "cases" / "backfilled-archive"
    return [
        ("2024-05-27.json", (archive / "2024-05-27.json").read_bytes()),
        ("sorted_by_last_update.xml", (archive / "arxiv_sorted_by_last_update.xml").read_bytes()),
        ("2026-11-26.json", HF_26),
        ("api_answer.xml", API_ANSWER),
        ("cs.LG.rss", (FEEDS / "cs.LG.rss").read_bytes()),
        ("cs.CL.atom", (FEEDS / "cs.CL.atom").read_bytes()),
    ]


def _state(rt: Runtime) -> tuple[set[str], dict[str, tuple]]:
    with rt.db.session() as session:
        papers = session.scalars(select(Paper)).all()
        news = set(new_paper_ids(session, DAY, 2))
        return (
            {p.arxiv_id for p in papers if p.id in news},
            {p.arxiv_id: (p.listing_date, p.date_basis, p.arxiv_version, p.withdrawn) for p in papers},
        )


def _wipe(rt: Runtime) -> None:
    with rt.db.session() as session:
        for model in (PaperSighting, Paper, RawPage):
            session.execute(delete(model))


def test_no_paper_listed_before_the_window_is_news_whatever_the_ingest_order(
    any_runtime: Runtime, shared_dir: Path
) -> None:
    pages = _pages(shared_dir)
    for name, content in pages:
        assert ingest_bytes(any_runtime, content, name).failed == []
    news, papers = _state(any_runtime)
    assert news == {"2611.40001", "2611.20001", "2611.20002", "2611.30001"}
    assert papers["2405.90001"][:2] == (dt.date(2024, 5, 27), "listing")  # featured again: still the archive's
    assert papers["2611.40004"][:2] == (dt.date(2026, 11, 25), "listing")  # its v1 date, before the listing
    assert papers["1905.00001"] == (dt.date(2019, 5, 1), "listing", 5, False)  # v5 of a 2019 paper: an update
    assert papers["2303.01234"] == (None, "revision", 3, False)  # a replacement of a paper never seen
    assert papers["2610.05555"] == (None, "revision", 2, True)
    baseline = (news, papers)

    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.permutations(pages))
    def same_outcome(order: list[tuple[str, bytes]]) -> None:
        _wipe(any_runtime)
        for name, content in order:
            ingest_bytes(any_runtime, content, name)
        assert _state(any_runtime) == baseline

    same_outcome()


def _ingest_received_on(rt: Runtime, content: bytes, origin: str, received: dt.date) -> None:
    """A page that arrived on ``received`` (the inbox stores first, parses later)."""
    with rt.db.session() as session:
        page, _ = store_raw_page(session, content, origin, None)
        page.received_at = dt.datetime.combine(received, dt.time(9))
        page_id = page.id
    assert parse_stored_page(rt, page_id).failed == []


def test_undated_captures_are_news_the_day_they_arrive_until_a_source_dates_them(any_runtime: Runtime) -> None:
    undated = (SAMPLES / "02_layout_a.txt").read_bytes()  # no listing date on the page
    _ingest_received_on(any_runtime, undated, "capture.txt", DAY)
    with any_runtime.db.session() as session:
        papers = session.scalars(select(Paper)).all()
        assert {(p.listing_date, p.date_basis, p.stated_listing_date) for p in papers} == {(DAY, "first-seen", None)}
        assert len(new_paper_ids(session, DAY, 2)) == len(papers)
        assert new_paper_ids(session, DAY + dt.timedelta(days=2), 2) == []  # two days later: history
        title = papers[0].title
    dated = f'[{{"paper": {{"title": "{title}", "upvotes": 4}}}}]'.encode()
    ingest_bytes(any_runtime, dated, "2026-07-13.json")  # an HF listing dates it: that day wins
    with any_runtime.db.session() as session:
        paper = session.scalars(select(Paper).where(Paper.title == title)).one()
        assert (paper.listing_date, paper.date_basis) == (dt.date(2026, 7, 13), "listing")
        assert paper.stated_listing_date == dt.date(2026, 7, 13)  # a date to show, with its year
        assert paper.id not in new_paper_ids(session, DAY, 2)


def test_an_archived_day_that_lost_its_date_is_still_history(any_runtime: Runtime) -> None:
    """No date in the file's name, no ``submittedOnDailyAt`` (the 2024 schema): the publication dates say old."""
    archived = (
        b'[{"paper": {"id": "2405.90009", "title": "An Undated Archived Placeholder", "upvotes": 40,'
        b' "publishedAt": "2024-05-24T17:34:15.000Z"}, "publishedAt": "2024-05-27T03:50:58.348Z"}]'
    )
    _ingest_received_on(any_runtime, archived, "archive-export.json", DAY)
    with any_runtime.db.session() as session:
        paper = session.scalars(select(Paper)).one()
        assert (paper.listing_date, paper.date_basis) == (dt.date(2024, 5, 24), "published")
        assert new_paper_ids(session, DAY, 7) == []


def test_a_year_less_listing_date_is_inferred_from_the_day_received(any_runtime: Runtime) -> None:
    _ingest_received_on(any_runtime, (SAMPLES / "03_layout_b.txt").read_bytes(), "b.txt", DAY)  # "Nov 19"
    with any_runtime.db.session() as session:
        dates = {(p.listing_date, p.date_basis) for p in session.scalars(select(Paper))}
    assert dates == {(dt.date(2026, 11, 19), "inferred")}


def test_the_date_rule_strongest_basis_then_earliest_day() -> None:
    def fact(**kw: object) -> Dated:
        base = {"entry_day": None, "revision": False, "page_day": None, "page_inferred": False, "published": None}
        return sighting_date(**{**base, **kw}, received=DAY, today=DAY)

    assert fact() == Dated(DAY, "first-seen")
    assert fact(published=dt.date(2024, 5, 24)) == Dated(dt.date(2024, 5, 24), "published")
    assert fact(page_day=DAY, published=dt.date(2024, 5, 24)) == Dated(DAY, "listing")
    assert fact(page_day=dt.date(2026, 11, 19), page_inferred=True) == Dated(dt.date(2026, 11, 19), "inferred")
    assert fact(entry_day=dt.date(2030, 1, 1)) == Dated(DAY, "listing")  # never in the future
    assert fact(entry_day=DAY, revision=True) == Dated(None, "revision")
    paper = Paper()
    apply_date(paper, Dated(DAY, "first-seen"))
    for step, expected in [
        (Dated(dt.date(2026, 11, 20), "inferred"), (dt.date(2026, 11, 20), "inferred")),
        (Dated(dt.date(2026, 11, 1), "first-seen"), (dt.date(2026, 11, 20), "inferred")),  # weaker: ignored
        (Dated(None, "revision"), (None, "revision")),
        (Dated(dt.date(2026, 11, 26), "listing"), (dt.date(2026, 11, 26), "listing")),
        (Dated(dt.date(2026, 11, 25), "listing"), (dt.date(2026, 11, 25), "listing")),  # earlier: wins
        (Dated(dt.date(2026, 11, 27), "listing"), (dt.date(2026, 11, 25), "listing")),
        (Dated(None, "revision"), (dt.date(2026, 11, 25), "listing")),
    ]:
        apply_date(paper, step)
        assert (paper.listing_date, paper.date_basis) == expected, step


def test_withdrawal_wordings() -> None:
    for text in (
        "This paper has been withdrawn by the authors due to an error in Lemma 2.",
        "This submission has been withdrawn by arXiv administrators due to inappropriate text overlap.",
        "Withdrawn: the main result is wrong",
        "paper withdrawn",
        "The manuscript was withdrawn",
    ):
        assert withdrawal_note("", text) == text, text
    for text in (
        "We study drugs withdrawn from the market after approval.",
        "Withdrawal of liquidity in decentralised exchanges.",
        "Accepted at NeurIPS 2026; code at https://github.com/o/r",
        "",
        None,
    ):
        assert withdrawal_note(text) is None, text
