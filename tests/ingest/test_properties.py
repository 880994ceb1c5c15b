"""Property tests: whatever the bytes or text, a parser returns a page or raises its documented ParseError."""

from __future__ import annotations

import contextlib
import datetime as dt
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.ingest.detect import detect_source
from service.ingest.entries import ParsedPage
from service.ingest.errors import ParseError
from service.ingest.normalise import TITLE_KEY_MAX, clean_text, title_key
from service.ingest.parsers import PARSERS

TODAY = dt.date(2026, 11, 21)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Lines that look like the listing pages, so the seed parser's branches (header, dates, metadata) get exercised.
page_lines = st.one_of(
    st.sampled_from(["", "new", "Subscribe", "Daily Papers", "byAK and the research community", "·", "  • 7 authors"]),
    st.sampled_from(["Oct 31", "Feb 30", "Apr 15 12", "Dec 20, 2024 5", "Jan 1, 0000", "Sep 9, 9999 999999999"]),
    st.text(min_size=1, max_size=80),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
paper_items = st.fixed_dictionaries(
    {
        "paper": st.fixed_dictionaries(
            {},
            optional={
                "id": st.one_of(st.sampled_from(["2401.00001", "2401.00001v3", "astro-ph/0601001", "x"]), json_values),
                "title": st.one_of(st.text(max_size=40), json_values),
                "summary": st.one_of(st.text(max_size=60), json_values),
                "authors": st.one_of(st.lists(st.fixed_dictionaries({"name": json_values})), json_values),
                "upvotes": json_values,
                "publishedAt": st.one_of(
                    st.sampled_from(["2024-02-30T00:00:00Z", "2024-05-24T17:34:15.000Z"]), json_values
                ),
                "githubStars": json_values,
                "ai_keywords": json_values,
                "organization": json_values,
            },
        )
    },
    optional={"numComments": json_values, "thumbnail": json_values},
)


def _check(parser_name: str, content: bytes) -> None:
    try:
        page = PARSERS[parser_name](content, "fuzz.page", TODAY)
    except ParseError:
        return
    assert isinstance(page, ParsedPage)
    for entry in page.entries:
        assert entry.title == clean_text(entry.title) and entry.title
        assert len(title_key(entry.title)) <= TITLE_KEY_MAX


@PROPERTY
@given(st.binary(max_size=2048))
def test_no_bytes_break_any_parser_or_detection(content: bytes) -> None:
    for name in PARSERS:
        _check(name, content)
    with contextlib.suppress(ParseError):
        assert detect_source(content) in PARSERS


@PROPERTY
@given(st.lists(page_lines, max_size=30), st.sampled_from(["\n", "\r\n", "\n\n"]))
def test_no_text_breaks_the_seed_parser(lines: list[str], newline: str) -> None:
    _check("seed-text", newline.join(lines).encode("utf-8", "surrogatepass"))


@PROPERTY
@given(st.one_of(json_values, st.lists(paper_items, max_size=5), st.lists(paper_items.map(repr), max_size=3)))
def test_no_json_breaks_the_api_parser(value: object) -> None:
    _check("hf-api", json.dumps(value).encode())


@PROPERTY
@given(st.text(max_size=300), st.sampled_from(["", "<entry><id>{}</id><title>{}</title></entry>"]))
def test_no_text_breaks_the_atom_parser(text: str, entry: str) -> None:
    feed = f'<feed xmlns="http://www.w3.org/2005/Atom">{entry.format(text, text) if entry else text}</feed>'
    _check("arxiv-atom", feed.encode("utf-8", "surrogatepass"))
    _check("arxiv-atom", text.encode("utf-8", "surrogatepass"))
