"""Tokens are purpose-bound, versioned and tamper-evident."""

from __future__ import annotations

import pytest

from service.subscribers.tokens import (
    BadToken,
    RevokedToken,
    load_subscriber,
    make_token,
    read_delivery_token,
    read_subscriber_token,
    read_token,
)
from tests.web.support import add_subscriber

KEY = "k" * 32


def test_a_token_only_verifies_for_its_own_purpose():
    token = make_token(KEY, "confirm", {"s": 1, "v": 1})
    assert read_subscriber_token(KEY, "confirm", token) == (1, 1)
    with pytest.raises(BadToken):
        read_token(KEY, "unsubscribe", token)


def test_a_tampered_or_foreign_token_is_rejected():
    token = make_token(KEY, "unsubscribe", {"s": 1, "v": 1})
    with pytest.raises(BadToken):
        read_token(KEY, "unsubscribe", token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    with pytest.raises(BadToken):
        read_token("another-secret-key-entirely", "unsubscribe", token)


def test_an_expired_confirm_token_says_so():
    token = make_token(KEY, "confirm", {"s": 1, "v": 1})
    with pytest.raises(BadToken) as info:
        read_token(KEY, "confirm", token, max_age=-1)
    assert info.value.expired


@pytest.mark.parametrize("payload", [{"s": "1", "v": 1}, {"s": 1}, {"s": True, "v": 1}, {"s": -3, "v": 1}])
def test_subscriber_tokens_need_integer_ids_and_versions(payload):
    with pytest.raises(BadToken):
        read_subscriber_token(KEY, "preferences", make_token(KEY, "preferences", payload))


def test_delivery_tokens_check_their_fields():
    assert read_delivery_token(KEY, "click", make_token(KEY, "click", {"d": 3, "p": 4, "r": 0})) == {
        "d": 3,
        "p": 4,
        "r": 0,
    }
    with pytest.raises(BadToken):
        read_delivery_token(KEY, "feedback", make_token(KEY, "feedback", {"d": 3, "p": 4, "k": "delete"}))


def test_bumping_token_version_revokes_old_links(runtime):
    subscriber = add_subscriber(runtime)
    token = make_token(runtime.settings.SECRET_KEY, "preferences", {"s": subscriber.id, "v": 1})
    secret = runtime.settings.SECRET_KEY
    with runtime.db.session() as session:
        assert load_subscriber(session, secret, "preferences", token).id == subscriber.id
        session.get(type(subscriber), subscriber.id).token_version = 2
    with runtime.db.session() as session, pytest.raises(RevokedToken):
        load_subscriber(session, secret, "preferences", token)


def test_the_token_format_is_fixed(monkeypatch):
    """Links already in inboxes must keep verifying: the same payload, time and key give the same token."""
    from service.subscribers import tokens

    monkeypatch.setattr(tokens.time, "time", lambda: 1_800_000_000.0)
    token = make_token(KEY, "confirm", {"s": 1, "v": 1, "x": "é"})
    assert token == "eyJzIjoxLCJ2IjoxLCJ4IjoiXHUwMGU5In0.tro8w0.GAZKkGKBenTAB1OS4zNyPBQJ"
    assert read_token(KEY, "confirm", token) == {"s": 1, "v": 1, "x": "é"}


@pytest.mark.parametrize("key", [b"", b"k" * 32, b"k" * 64, b"k" * 65, bytes(range(200))])
def test_the_signer_tag_is_a_truncated_hmac_sha256(key):
    import base64
    import hashlib
    import hmac

    from service.subscribers.tokens import TAG_BYTES, Signer

    for body in (b"", b"eyJkIjoxMn0.tro8w0", b"x" * 100):
        expected = hmac.new(key, body, hashlib.sha256).digest()[:TAG_BYTES]
        assert Signer(key).tag(body) == base64.urlsafe_b64encode(expected).rstrip(b"=")


def test_no_signer_for_an_unknown_purpose():
    from service.subscribers.tokens import signer

    with pytest.raises(ValueError, match="purpose"):
        signer(KEY, "delete-everything")
