"""Tokens are purpose-bound, versioned, tamper-evident, and bound to the one reader they were issued to."""

from __future__ import annotations

import datetime as dt

import pytest

from service.subscribers.identity import load_subscriber
from service.tokens import (
    BadToken,
    RevokedToken,
    make_token,
    owns,
    read_delivery_token,
    read_pick_token,
    read_subscriber_token,
    read_token,
)
from tests.web.support import add_subscriber

KEY = "k" * 32


def test_a_token_only_verifies_for_its_own_purpose():
    token = make_token(KEY, "confirm", {"s": 1, "v": 1, "k": "abcdefghijkl"})
    claim = read_subscriber_token(KEY, "confirm", token)
    assert (claim.subscriber_id, claim.version, claim.key) == (1, 1, "abcdefghijkl")
    with pytest.raises(BadToken):
        read_token(KEY, "unsubscribe", token)


def test_a_tampered_or_foreign_token_is_rejected():
    token = make_token(KEY, "unsubscribe", {"s": 1, "v": 1})
    with pytest.raises(BadToken):
        read_token(KEY, "unsubscribe", token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    with pytest.raises(BadToken):
        read_token("another-secret-key-entirely", "unsubscribe", token)
    with pytest.raises(BadToken):
        read_token(KEY, "unsubscribe", "é" + token)


def test_an_expired_confirm_token_says_so():
    token = make_token(KEY, "confirm", {"s": 1, "v": 1})
    with pytest.raises(BadToken) as info:
        read_token(KEY, "confirm", token, max_age=-1)
    assert info.value.expired


@pytest.mark.parametrize(
    "payload",
    [{"s": "1", "v": 1}, {"s": 1}, {"s": True, "v": 1}, {"s": -3, "v": 1}, {"s": 1, "v": 1, "k": "short"}],
)
def test_subscriber_tokens_need_integer_ids_versions_and_well_formed_keys(payload):
    with pytest.raises(BadToken):
        read_subscriber_token(KEY, "preferences", make_token(KEY, "preferences", payload))


def test_delivery_tokens_check_their_fields():
    claim = read_delivery_token(KEY, "pick", make_token(KEY, "pick", {"d": 3, "p": 4, "r": 0, "k": "abcdefghijkl"}))
    assert (claim.delivery_id, claim.paper_id, claim.position, claim.key) == (3, 4, 0, "abcdefghijkl")
    with pytest.raises(BadToken):
        read_delivery_token(KEY, "feedback", make_token(KEY, "feedback", {"d": 3, "p": 4, "k": "delete"}))


def test_links_of_digests_sent_before_one_token_per_paper_still_read():
    old_click = read_pick_token(KEY, make_token(KEY, "click", {"d": 3, "p": 4, "r": 1}))
    old_more = read_pick_token(KEY, make_token(KEY, "feedback", {"d": 3, "p": 4, "k": "more"}))
    assert (old_click.paper_id, old_click.kind, old_click.key) == (4, None, None)
    assert (old_more.paper_id, old_more.kind, old_more.key) == (4, "more", None)
    with pytest.raises(BadToken):
        read_pick_token(KEY, make_token(KEY, "digest", {"d": 3}))


def test_bumping_token_version_revokes_old_links(runtime):
    subscriber = add_subscriber(runtime)
    secret = runtime.settings.SECRET_KEY
    token = make_token(secret, "preferences", {"s": subscriber.id, "v": 1, "k": subscriber.link_key})
    with runtime.db.session() as session:
        assert load_subscriber(session, secret, "preferences", token).id == subscriber.id
        session.get(type(subscriber), subscriber.id).token_version = 2
    with runtime.db.session() as session, pytest.raises(RevokedToken):
        load_subscriber(session, secret, "preferences", token)


def test_a_link_with_another_readers_key_opens_nothing(runtime):
    subscriber = add_subscriber(runtime)
    secret = runtime.settings.SECRET_KEY
    token = make_token(secret, "preferences", {"s": subscriber.id, "v": 1, "k": "someoneelse0"})
    with runtime.db.session() as session, pytest.raises(RevokedToken):
        load_subscriber(session, secret, "preferences", token)


def test_a_link_from_before_link_keys_holds_only_for_a_row_older_than_it():
    created = dt.datetime(2026, 11, 1, 8, 0, 0, 500_000)
    issued_after = int(dt.datetime(2026, 11, 1, 8, 0, 0, tzinfo=dt.UTC).timestamp())  # same second, floored
    assert owns(None, issued_after, "abcdefghijkl", created)
    assert not owns(None, issued_after - 3600, "abcdefghijkl", created)  # the row came after the link
    assert not owns(None, issued_after, "abcdefghijkl", None)
    assert owns("abcdefghijkl", 0, "abcdefghijkl", created) and not owns("abcdefghijkm", 0, "abcdefghijkl", created)


def test_the_token_format_is_fixed(monkeypatch):
    """Links already in inboxes must keep verifying: the same payload, time and key give the same token."""
    from service import tokens

    monkeypatch.setattr(tokens.time, "time", lambda: 1_800_000_000.0)
    token = make_token(KEY, "confirm", {"s": 1, "v": 1, "x": "é"})
    assert token == "eyJzIjoxLCJ2IjoxLCJ4IjoiXHUwMGU5In0.tro8w0.GAZKkGKBenTAB1OS4zNyPBQJ"
    assert read_token(KEY, "confirm", token) == {"s": 1, "v": 1, "x": "é"}


@pytest.mark.parametrize("key", [b"", b"k" * 32, b"k" * 64, b"k" * 65, bytes(range(200))])
def test_the_signer_tag_is_a_truncated_hmac_sha256(key):
    import base64
    import hashlib
    import hmac

    from service.tokens import TAG_BYTES, Signer

    for body in (b"", b"eyJkIjoxMn0.tro8w0", b"x" * 100):
        expected = hmac.new(key, body, hashlib.sha256).digest()[:TAG_BYTES]
        assert Signer(key).tag(body) == base64.urlsafe_b64encode(expected).rstrip(b"=")


def test_no_signer_for_an_unknown_purpose():
    from service.tokens import signer

    with pytest.raises(ValueError, match="purpose"):
        signer(KEY, "delete-everything")
