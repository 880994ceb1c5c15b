"""Property: any string a source can carry, in any field of a Hugging Face API item or of an arXiv Atom entry, is
stored (repaired) or fails its page cleanly, on SQLite and on PostgreSQL: never a crash, never a page left
``pending``, always a report that prints as one JSON object."""

from __future__ import annotations

import itertools
import json
from xml.sax.saxutils import escape

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from service.ingest import ingest_bytes
from service.ingest.normalise import clean_text
from service.ingest.report import IngestReport
from service.models import Paper, PaperSighting, RawPage
from service.runtime import Runtime

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
# every code point, lone surrogates, NUL, controls and noncharacters included
ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=40)
TEXT_COLUMNS = ("title", "abstract", "github_repo", "project_page", "ai_summary", "organization", "thumbnail", "url")

HF_FIELDS = {
    "title": lambda item, s: item["paper"].update(title=f"Paper {s}"),
    "whole title": lambda item, s: item["paper"].update(title=s),
    "summary": lambda item, s: item["paper"].update(summary=s),
    "author": lambda item, s: item["paper"].update(authors=[{"name": s}, {"name": "Ada Example"}]),
    "id": lambda item, s: item["paper"].update(id=s),
    "ai_summary": lambda item, s: item["paper"].update(ai_summary=s),
    "ai_keywords": lambda item, s: item["paper"].update(ai_keywords=[s, "ranking"]),
    "organization": lambda item, s: item["paper"].update(organization={"fullname": s}),
    "githubRepo": lambda item, s: item["paper"].update(githubRepo=f"https://github.com/o/{s}"),
    "projectPage": lambda item, s: item["paper"].update(projectPage=f"https://example.org/{s}"),
    "thumbnail": lambda item, s: item.update(thumbnail=f"https://example.org/{s}.png"),
    "upvotes": lambda item, s: item["paper"].update(upvotes=s),
    "numComments": lambda item, s: item.update(numComments=s),
    "publishedAt": lambda item, s: item["paper"].update(publishedAt=s),
    "submittedOnDailyAt": lambda item, s: item["paper"].update(submittedOnDailyAt=s),
}
ATOM_FIELDS = ("title", "summary", "name", "comment", "id", "published")
_count = itertools.count()


def _hf_page(field: str, text: str, n: int) -> bytes:
    item = {"paper": {"id": f"2611.{n % 100000:05d}", "title": f"Property paper {n}", "summary": "An abstract."}}
    HF_FIELDS[field](item, text)
    return json.dumps([item]).encode()  # JSON carries any code point as an escape, lone surrogates included


def _atom_page(field: str, text: str, n: int, char_refs: bool) -> bytes:
    values = {
        "title": f"Property paper {n}",
        "summary": "An abstract.",
        "name": "Ada Example",
        "comment": "",
        "id": f"http://arxiv.org/abs/2611.{n % 100000:05d}v1",
        "published": "2026-11-27T00:00:00Z",
    }
    values[field] = text if field not in ("title", "id") else f"{values[field]}{text}"
    if char_refs:  # what else XML can carry: each non-ASCII code point as a character reference
        cells = {k: "".join(c if c.isascii() else f"&#x{ord(c):X};" for c in escape(v)) for k, v in values.items()}
    else:
        cells = {k: escape(v) for k, v in values.items()}
    feed = (
        '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom"><entry>'
        "<id>{id}</id><published>{published}</published><title>{title}</title><summary>{summary}</summary>"
        "<author><name>{name}</name></author><arxiv:comment>{comment}</arxiv:comment></entry></feed>"
    ).format(**cells)
    return feed.encode("utf-8", "surrogatepass")  # a broken source sends the bytes of a lone surrogate


def _check_one_outcome(rt: Runtime, report: IngestReport, origin: str) -> None:
    json.dumps(report.to_json(), ensure_ascii=False).encode("utf-8")  # prints as one JSON object, any terminal
    with rt.db.session() as session:
        page = session.scalars(select(RawPage).where(RawPage.origin == origin)).one_or_none()
        if page is None:  # the same bytes were ingested before under another name: that page's outcome stands
            assert report.unchanged == 1
            return
        assert page.status in ("parsed", "failed"), page.status
        if page.status == "failed":
            assert page.error.startswith(f"{origin}: ") and report.failed[0]["path"] == origin
            return
        papers = session.scalars(
            select(Paper)
            .join(PaperSighting, PaperSighting.paper_id == Paper.id)
            .where(PaperSighting.raw_page_id == page.id)
        ).all()
        assert len(papers) == page.entries == report.entries
        for paper in papers:
            for column in TEXT_COLUMNS:
                value = getattr(paper, column)
                if value is not None:
                    value.encode("utf-8")  # no lone surrogate survived
                    assert "\x00" not in value and clean_text(value) == value
            assert all(clean_text(a) == a and a for a in [*paper.authors, *paper.ai_keywords])


def test_any_string_in_any_hf_api_field_is_stored_or_fails_its_page(any_runtime: Runtime) -> None:
    @PROPERTY
    @given(st.sampled_from(sorted(HF_FIELDS)), ANY_TEXT)
    def check(field: str, text: str) -> None:
        n = next(_count)
        origin = f"hf-{n}.json"
        report = ingest_bytes(any_runtime, _hf_page(field, text, n), origin)
        _check_one_outcome(any_runtime, report, origin)

    check()


def test_any_string_in_any_atom_field_is_stored_or_fails_its_page(any_runtime: Runtime) -> None:
    @PROPERTY
    @given(st.sampled_from(ATOM_FIELDS), ANY_TEXT, st.booleans())
    def check(field: str, text: str, char_refs: bool) -> None:
        n = next(_count)
        origin = f"atom-{n}.xml"
        report = ingest_bytes(any_runtime, _atom_page(field, text, n, char_refs), origin)
        _check_one_outcome(any_runtime, report, origin)

    check()
