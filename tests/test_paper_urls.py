"""Where a paper's links go, and its address on our site."""

from __future__ import annotations

import pytest

from service.models import Paper
from service.paper_urls import abs_url, is_arxiv_search, paper_key, paper_path, parse_paper_key


def _paper(**fields: object) -> Paper:
    return Paper(**{"id": 42, "title": "A Title", "title_key": "a title", **fields})


@pytest.mark.parametrize(
    ("fields", "key"),
    [
        ({"arxiv_id": "2506.01234"}, "2506.01234"),
        ({"arxiv_id": "hep-th/9901001"}, "hep-th/9901001"),
        ({"title": "Über Robots: Ça va? (v2)"}, "42-uber-robots-ca-va-v2"),
        ({"title": "数学"}, "42"),  # nothing ASCII to make words of: the id alone
        ({"title": "x" * 200}, "42-" + "x" * 60),
        ({"arxiv_id": "12345"}, "42-a-title"),  # an id that would read as a slug is not used as one
    ],
)
def test_every_paper_has_one_address(fields, key):
    paper = _paper(**fields)
    assert paper_key(paper) == key and paper_path(paper) == f"/papers/{key}"
    kind = "arxiv" if key == fields.get("arxiv_id") else "id"
    assert parse_paper_key(key) == (kind, key if kind == "arxiv" else 42)


def test_an_arxiv_search_is_not_a_paper():
    assert is_arxiv_search("https://arxiv.org/search/?query=x&searchtype=title")
    assert is_arxiv_search("https://export.arxiv.org/a/turing_a_1")
    assert not is_arxiv_search("https://arxiv.org/abs/2506.01234")
    assert not is_arxiv_search("https://example.org/search")
    searched = _paper(url="https://arxiv.org/search/?query=A+Title&searchtype=title")
    assert abs_url(searched) is None  # the click then opens the paper's page on our site
    assert abs_url(_paper(url="https://arxiv.org/search/?q=x", arxiv_id="2506.01234")) == (
        "https://arxiv.org/abs/2506.01234"
    )
