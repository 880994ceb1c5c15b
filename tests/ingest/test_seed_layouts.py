"""The three plain-text layouts on small pages written here (never copied from ../shared)."""

from __future__ import annotations

import datetime as dt

import pytest

from service.ingest.errors import ParseError
from service.ingest.parsers import seed_text

TODAY = dt.date(2026, 11, 21)

LAYOUT_B = """new

Get trending papers in your email inbox!

Subscribe

Daily Papers

byAK and the research community

Dec 3

Graph Kernels for Tiny Molecules

We compare graph kernels on molecules with fewer than ten atoms. Results favour Weisfeiler–Lehman.

  • 3 authors
·
Dec 1

Another Title Without Metadata

An abstract with no author line after it.

Audio Tokens at Scale

We tokenise audio in $O(n \\log n)$ time.

  • 12 authors
·
Jan 5, 2023 17
"""

LAYOUT_C = """Get trending papers in your email inbox once a day!
Get trending papers in your email inbox!
SubscribeFirst Glued Title
First abstract, long enough to be an abstract.
Second Title
Second abstract.
"""


def test_layout_b_metadata_and_year_resolution() -> None:
    page = seed_text.parse(LAYOUT_B.encode(), "b.txt", TODAY)
    assert page.listing_date == dt.date(2025, 12, 3)  # "Dec 3" read on Nov 21, 2026 is last year's
    graph, bare, audio = page.entries
    assert (graph.author_count, graph.published_on, graph.upvotes) == (3, dt.date(2025, 12, 1), None)
    assert (bare.author_count, bare.published_on) == (None, None)
    assert (audio.author_count, audio.published_on, audio.upvotes) == (12, dt.date(2023, 1, 5), 17)
    assert "Weisfeiler–Lehman" in graph.abstract and "$O(n \\log n)$" in audio.abstract


def test_layout_c_alternating_lines() -> None:
    page = seed_text.parse(LAYOUT_C.encode(), "c.txt", TODAY)
    assert [e.title for e in page.entries] == ["First Glued Title", "Second Title"]
    assert page.listing_date is None


def test_crlf_and_trailing_spaces_do_not_matter() -> None:
    page = seed_text.parse(LAYOUT_C.replace("\n", "  \r\n").encode(), "c.txt", TODAY)
    assert [e.title for e in page.entries] == ["First Glued Title", "Second Title"]


def test_bad_entries_are_reported_good_ones_kept() -> None:
    text = LAYOUT_C + "A Dangling Title At The End\n"
    page = seed_text.parse(text.encode(), "c.txt", TODAY)
    assert len(page.entries) == 2
    assert page.problems == ["line 7: title 'A Dangling Title At The End' has no abstract after it (skipped)"]


def test_page_without_entries_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="no paper entries found"):
        seed_text.parse(b"new\n\nSubscribe\n\nDaily Papers\n", "header-only.txt", TODAY)


def test_text_without_the_listing_header_is_not_read_as_papers() -> None:
    script = b"#!/usr/bin/env bash\nset -e\necho hello\nexit 0\n"
    with pytest.raises(ParseError, match="line 1: not a Daily Papers listing page: no header"):
        seed_text.parse(script, "hook.sh", TODAY)


def test_only_subscribe_is_unglued_from_a_title() -> None:
    page = seed_text.parse(b"Subscribe\nnewton Steps for Sparse Solvers\nAn abstract.\n", "p.txt", TODAY)
    assert page.entries[0].title == "newton Steps for Sparse Solvers"
