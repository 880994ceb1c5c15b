"""The digest's links, signed on the fast path, are the tokens ``make_token`` gives and the web app reads."""

from __future__ import annotations

import pytest

from service.links import Links
from service.subscribers.tokens import BadToken, make_token, read_delivery_token

SECRET = "links-test-secret-key-0123456789"


def _token(url: str) -> str:
    return url.rsplit("/", 1)[-1]


def test_click_and_feedback_links_are_the_same_tokens_as_make_token_and_verify(monkeypatch):
    from service.subscribers import tokens

    monkeypatch.setattr(tokens.time, "time", lambda: 1_800_000_000.0)  # both sides sign in the same second
    links = Links("https://paperboy.test", SECRET)
    click = _token(links.click(12, 345, 6))
    more = _token(links.feedback(12, 345, "more"))
    assert click == make_token(SECRET, "click", {"d": 12, "p": 345, "r": 6})
    assert more == make_token(SECRET, "feedback", {"d": 12, "p": 345, "k": "more"})
    assert read_delivery_token(SECRET, "click", click) == {"d": 12, "p": 345, "r": 6}
    assert read_delivery_token(SECRET, "feedback", more) == {"d": 12, "p": 345, "k": "more"}
    with pytest.raises(BadToken):
        read_delivery_token(SECRET, "feedback", click)  # purpose-bound


def test_feedback_kind_and_ids_are_checked_before_signing():
    links = Links("https://paperboy.test", SECRET)
    with pytest.raises(ValueError, match="more"):
        links.feedback(1, 2, 'more","d":9')
    with pytest.raises(TypeError):
        links.click(1, '2,"d":9', 3)  # type: ignore[arg-type]
