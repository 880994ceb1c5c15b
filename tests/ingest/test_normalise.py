"""Normalisation rules: one paper looks the same whatever page or source it came from."""

from __future__ import annotations

import datetime as dt

import pytest

from service.ingest.errors import ParseError
from service.ingest.normalise import (
    clean_text,
    date_in_origin,
    decode_text,
    find_links,
    normalise_arxiv_id,
    paper_url,
    resolve_month_day,
    title_key,
)


def test_clean_text_nfc_wraps_and_latex() -> None:
    decomposed = "Cafe\u0301 of $O(n \\log n)$\n  Sorting"
    assert clean_text(decomposed) == "Café of $O(n \\log n)$ Sorting"


def test_title_key_ignores_case_punctuation_and_spacing() -> None:
    assert title_key("Long-Context Retrieval Heads  Are Few!") == title_key("long context retrieval heads are few")
    assert title_key("Ünïcode Tïtle") == title_key("ünïcode tïtle")
    assert title_key("???") == "???"  # a title of punctuation alone still has a key


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2401.01234v3", "2401.01234"),
        ("arXiv:2401.01234", "2401.01234"),
        ("http://arxiv.org/abs/astro-ph/0601001v1", "astro-ph/0601001"),
        ("https://arxiv.org/pdf/2202.12139v1", "2202.12139"),
        ("math.GT/0309136", "math.GT/0309136"),
        ("abc", None),
        ("", None),
    ],
)
def test_arxiv_ids(raw: str, expected: str | None) -> None:
    assert normalise_arxiv_id(raw) == expected


def test_paper_url_is_always_set() -> None:
    assert paper_url("2401.01234", "X") == "https://arxiv.org/abs/2401.01234"
    assert paper_url(None, "Sparse Voxel Fields & Co") == (
        "https://arxiv.org/search/?query=Sparse+Voxel+Fields+%26+Co&searchtype=title"
    )


def test_links_found_in_abstracts() -> None:
    text = "Code: https://github.com/a/b. Page (https://a.github.io/x/) and github.com/c/d, see www.example.org."
    assert find_links(text) == [
        "https://github.com/a/b",
        "https://a.github.io/x/",
        "https://github.com/c/d",
        "https://www.example.org",
    ]


def test_dates_without_year_are_never_in_the_future() -> None:
    reference = dt.date(2026, 3, 1)
    assert resolve_month_day("Apr", 15, None, reference) == dt.date(2025, 4, 15)
    assert resolve_month_day("Feb", 15, None, reference) == dt.date(2026, 2, 15)
    assert resolve_month_day("Dec", 20, 2024, reference) == dt.date(2024, 12, 20)
    assert resolve_month_day("Feb", 29, None, dt.date(2027, 3, 1)) == dt.date(2027, 2, 28)


def test_listing_date_from_file_name_or_url() -> None:
    assert date_in_origin("/x/2024-12-20.json") == dt.date(2024, 12, 20)
    assert date_in_origin("https://hf.co/api/daily_papers?date=2026-07-13") == dt.date(2026, 7, 13)
    assert date_in_origin("/2024-01-01/page.txt") is None  # only the file's own name counts


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty page"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "binary content"),
        ("Title\nCaf\u00e9 abstract".encode("latin-1"), "line 2: not UTF-8 text: byte 0xe9 at column 4"),
    ],
)
def test_decode_errors_say_what_is_wrong(content: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        decode_text(content)


def test_decode_honours_byte_order_marks() -> None:
    assert decode_text("Titre é".encode("utf-16")) == "Titre é"
    assert decode_text(b"\xef\xbb\xbfTitle") == "Title"
