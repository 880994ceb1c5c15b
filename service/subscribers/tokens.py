"""Signed, purpose-bound tokens: the only credentials a reader ever holds (no passwords).

A token signed for one purpose ("confirm") never verifies for another ("unsubscribe"): each purpose has its own
key, derived from ``SECRET_KEY``. Tokens carry the subscriber's ``token_version`` so all links can be revoked at
once.

Format: ``<payload>.<issued>.<tag>``: the compact JSON payload (base64url), the issue time (base 36 seconds) and
a 144-bit HMAC-SHA256 tag over both under the purpose's key. One HMAC per token: a digest carries ~40 links, so
signing is on the hot path of sending (itsdangerous costs ~20x more per token). Tokens in the earlier
itsdangerous format still verify, so links already in inboxes keep working.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from functools import lru_cache
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


TAG_BYTES = 18  # 144-bit tag
TAG_CHARS = 24  # its base64url length


class BadToken(ValueError):
    """The token is forged, for another purpose, or expired (``expired`` tells which)."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


def _serializer(secret_key: str, purpose: str) -> URLSafeTimedSerializer:
    """The earlier format's verifier (links already sent keep working)."""
    return URLSafeTimedSerializer(secret_key, salt=f"paperboy.{purpose}")


@lru_cache(maxsize=64)
def _purpose_key(secret_key: str, purpose: str) -> bytes:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    return hmac.new(secret_key.encode(), f"paperboy.token.{purpose}".encode(), hashlib.sha256).digest()


class Signer:
    """Signs and checks the tokens of one purpose under one secret key.

    The tag is HMAC-SHA256 (RFC 2104: exactly what ``hmac`` computes) with the key's two padded blocks hashed
    once, here: ``hmac.digest`` hashes them again for every token, nearly 3x the cost of the two short hashes
    that remain. The cached hash states are only ever copied, so threads can share a signer.
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        block = hashlib.sha256().block_size
        if len(key) > block:
            key = hashlib.sha256(key).digest()
        key = key.ljust(block, b"\0")
        self._inner = hashlib.sha256(key.translate(_IPAD))
        self._outer = hashlib.sha256(key.translate(_OPAD))

    def tag(self, body: bytes) -> bytes:
        """The base64url tag of a token's ``<payload>.<issued>``."""
        inner = self._inner.copy()
        inner.update(body)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return _b64(outer.digest()[:TAG_BYTES])

    def sign(self, payload_json: str) -> str:
        """A token for a payload already in ``compact_json`` form."""
        body = _b64(payload_json.encode()) + b"." + _issued_now()
        return (body + b"." + self.tag(body)).decode()


_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))
_URLSAFE = bytes.maketrans(b"+/", b"-_")


@lru_cache(maxsize=64)
def signer(secret_key: str, purpose: str) -> Signer:
    """The signer of ``purpose`` tokens under ``secret_key``, made once per process (links keep theirs)."""
    return Signer(_purpose_key(secret_key, purpose))


def _b64(data: bytes) -> bytes:
    """base64url without padding."""
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if not n:
            return out


_issued: tuple[int, bytes] = (-1, b"")


def _issued_now() -> bytes:
    """The issue time in base 36, converted once per second (a digest signs ~40 links within one)."""
    global _issued
    now = int(time.time())
    cached = _issued
    if cached[0] != now:
        cached = _issued = (now, _base36(now).encode())
    return cached[1]


def compact_json(payload: dict[str, Any]) -> str:
    """The signed form of a payload: compact JSON, keys sorted."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True)


def sign_json(secret_key: str, purpose: str, payload_json: str) -> str:
    """``make_token`` for a payload already in ``compact_json`` form (links built on the hot path of sending)."""
    return signer(secret_key, purpose).sign(payload_json)


def make_token(secret_key: str, purpose: str, payload: dict[str, Any]) -> str:
    """Sign ``payload`` (small, JSON-serialisable) for ``purpose``."""
    return sign_json(secret_key, purpose, compact_json(payload))


def _read_compact(secret_key: str, purpose: str, token: str, age: int | None) -> dict[str, Any] | None:
    """The payload of a token in the compact format; None if it is not one of ours in that format."""
    parts = token.split(".")
    if len(parts) != 3 or len(parts[2]) != TAG_CHARS:
        return None
    body = f"{parts[0]}.{parts[1]}"
    if not hmac.compare_digest(signer(secret_key, purpose).tag(body.encode()).decode(), parts[2]):
        return None
    try:
        issued = int(parts[1], 36)
        payload = json.loads(_unb64(parts[0]))
    except ValueError as exc:  # well signed but malformed: only we could have made it, so a bug; reject
        raise BadToken(f"invalid {purpose} link") from exc
    if age is not None and time.time() - issued > age:
        raise BadToken(f"{purpose} link expired", expired=True)
    if not isinstance(payload, dict):
        raise BadToken(f"invalid {purpose} link")
    return payload


def read_token(secret_key: str, purpose: str, token: str, max_age: int | None = None) -> dict[str, Any]:
    """Verify ``token`` for ``purpose`` and return its payload, or raise ``BadToken``."""
    age = MAX_AGE.get(purpose) if max_age is None else max_age
    payload = _read_compact(secret_key, purpose, token, age)
    if payload is not None:
        return payload
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
