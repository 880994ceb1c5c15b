"""Signed, purpose-bound tokens: the only credentials a reader ever holds (no passwords).

A token signed for one purpose ("confirm") never verifies for another ("unsubscribe"): the purpose is the
signer's salt. Tokens carry the subscriber's ``token_version`` so all links can be revoked at once.
"""

from __future__ import annotations

from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from service.models import Subscriber

PURPOSES = frozenset({"confirm", "unsubscribe", "preferences", "click", "feedback", "digest", "feed", "data"})

# How long each kind of link stays valid (seconds); None = as long as the subscriber's token_version holds.
MAX_AGE: dict[str, int | None] = {
    "confirm": 7 * 24 * 3600,
    "unsubscribe": None,  # an unsubscribe link must keep working (RFC 8058, CAN-SPAM: at least 30 days)
    "preferences": None,
    "click": None,
    "feedback": 90 * 24 * 3600,
    "digest": None,
    "feed": None,
    "data": 24 * 3600,
}


class BadToken(ValueError):
    """The token is forged, for another purpose, or expired (``expired`` tells which)."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


def _serializer(secret_key: str, purpose: str) -> URLSafeTimedSerializer:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    return URLSafeTimedSerializer(secret_key, salt=f"paperboy.{purpose}")


def make_token(secret_key: str, purpose: str, payload: dict[str, Any]) -> str:
    """Sign ``payload`` (small, JSON-serialisable) for ``purpose``."""
    return _serializer(secret_key, purpose).dumps(payload)


def read_token(secret_key: str, purpose: str, token: str, max_age: int | None = None) -> dict[str, Any]:
    """Verify ``token`` for ``purpose`` and return its payload, or raise ``BadToken``."""
    age = MAX_AGE.get(purpose) if max_age is None else max_age
    try:
        payload = _serializer(secret_key, purpose).loads(token, max_age=age)
    except SignatureExpired as exc:
        raise BadToken(f"{purpose} link expired", expired=True) from exc
    except BadSignature as exc:
        raise BadToken(f"invalid {purpose} link") from exc
    if not isinstance(payload, dict):
        raise BadToken(f"invalid {purpose} link")
    return payload


class RevokedToken(BadToken):
    """A well-signed link issued before the subscriber's ``token_version`` was bumped (e.g. data deleted)."""


def _int_field(payload: dict[str, Any], key: str, purpose: str) -> int:
    value = payload.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadToken(f"invalid {purpose} link")
    return value


def read_subscriber_token(secret_key: str, purpose: str, token: str) -> tuple[int, int]:
    """Verify a subscriber link (payload ``{s, v}``) and return ``(subscriber_id, token_version)``."""
    payload = read_token(secret_key, purpose, token)
    return _int_field(payload, "s", purpose), _int_field(payload, "v", purpose)


def read_delivery_token(secret_key: str, purpose: str, token: str) -> dict[str, Any]:
    """Verify a link into one delivery (click ``{d, p, r}``, feedback ``{d, p, k}``, digest ``{d}``)."""
    payload = read_token(secret_key, purpose, token)
    checked: dict[str, Any] = {"d": _int_field(payload, "d", purpose)}
    for key in ("p", "r"):
        if key in payload:
            checked[key] = _int_field(payload, key, purpose)
    if "k" in payload:
        if payload["k"] not in ("more", "less"):
            raise BadToken(f"invalid {purpose} link")
        checked["k"] = payload["k"]
    return checked


def load_subscriber(session: Session, secret_key: str, purpose: str, token: str) -> Subscriber:
    """The subscriber a ``{s, v}`` link belongs to; ``BadToken``/``RevokedToken`` when it no longer holds."""
    subscriber_id, version = read_subscriber_token(secret_key, purpose, token)
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise RevokedToken(f"this {purpose} link belongs to a subscription that no longer exists")
    if subscriber.token_version != version:
        raise RevokedToken(f"this {purpose} link has been replaced by a newer one")
    return subscriber
