"""The digest's links, signed on the fast path, are the tokens ``make_token`` gives and the web app reads."""

from __future__ import annotations

import pytest

from service.links import Links
from service.tokens import BadToken, make_token, read_delivery_token, read_pick_token

SECRET = "links-test-secret-key-0123456789"
KEY = "readerkey123"


def test_one_token_per_paper_serves_every_link_of_it(monkeypatch):
    from service import tokens

    monkeypatch.setattr(tokens.time, "time", lambda: 1_800_000_000.0)  # both sides sign in the same second
    links = Links("https://paperboy.test/", SECRET).pick(12, 345, 6, KEY)
    assert links.token == make_token(SECRET, "pick", {"d": 12, "p": 345, "r": 6, "k": KEY})
    assert links.url == f"https://paperboy.test/c/{links.token}"
    assert links.resource("pdf") == f"https://paperboy.test/c/{links.token}/pdf"
    assert links.feedback("less") == f"https://paperboy.test/feedback/{links.token}/less"
    claim = read_pick_token(SECRET, links.token)
    assert (claim.delivery_id, claim.paper_id, claim.position, claim.key, claim.kind) == (12, 345, 6, KEY, None)
    with pytest.raises(BadToken):
        read_delivery_token(SECRET, "digest", links.token)  # purpose-bound


def test_kinds_resources_ids_and_keys_are_checked_before_signing():
    links = Links("https://paperboy.test", SECRET)
    with pytest.raises(ValueError, match="more"):
        links.pick(1, 2, 3, KEY).feedback('more","d":9')
    with pytest.raises(ValueError, match="resource"):
        links.pick(1, 2, 3, KEY).resource("../admin")
    with pytest.raises(TypeError):
        links.pick(1, '2,"d":9', 3, KEY)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="link key"):
        links.pick(1, 2, 3, 'x","d":9')
