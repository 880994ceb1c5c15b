"""Signed, purpose-bound tokens: the only credentials a reader ever holds (no passwords).

Format: ``<payload>.<issued>.<tag>``: the compact JSON payload (base64url), the issue time (base 36 seconds) and a
144-bit HMAC-SHA256 tag (RFC 2104) over both under the purpose's key, derived from ``SECRET_KEY``. A token signed for
one purpose ("confirm") never verifies for another ("unsubscribe"). One HMAC per token: a digest carries one token
per paper, so signing is on the hot path of sending.

Identity. A token names a row by id (``s``: subscriber, ``d``: delivery) and carries the reader's ``link_key`` as
``k``: a random value given to the subscriber once and never reissued. Ids can be handed out again (SQLite reuses the
highest rowid after a delete; sequences can be reset), keys cannot, so a deleted reader's links never open the
account or the history of whoever gets the id next (``owns``). Links issued before keys existed carry no ``k``: they
hold only while their row is older than the token (``owns``), which a reused id's new row never is.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# "pick": one token per paper of one digest, shared by its tracked links (abstract, PDF, code, project) and its
# "more"/"less like this" buttons. "click" and "feedback" are the per-link purposes of digests sent before.
PURPOSES = frozenset({"confirm", "unsubscribe", "preferences", "pick", "click", "feedback", "digest", "feed", "data"})

# How long each kind of link stays valid (seconds); None = as long as the subscriber's token_version holds.
MAX_AGE: dict[str, int | None] = {
    "confirm": 7 * 24 * 3600,
    "unsubscribe": None,  # an unsubscribe link must keep working (RFC 8058, CAN-SPAM: at least 30 days)
    "preferences": None,
    "pick": None,
    "click": None,
    "feedback": 90 * 24 * 3600,
    "digest": None,
    "feed": None,
    "data": 24 * 3600,
}

TAG_BYTES = 18  # 144-bit tag
TAG_CHARS = 24  # its base64url length
_LINK_KEY = re.compile(r"^[A-Za-z0-9_-]{8,43}$")
FEEDBACK_KINDS = ("more", "less")
CLOCK_SLACK = dt.timedelta(seconds=1)  # the issue time is in whole seconds; row times have microseconds


class BadToken(ValueError):
    """The token is forged, for another purpose, or expired (``expired`` tells which)."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


class RevokedToken(BadToken):
    """A well-signed link that no longer opens anything: its row is gone or belongs to someone else now."""


class ReplacedToken(RevokedToken):
    """A well-signed link issued before the subscriber's ``token_version`` moved on (every link was renewed)."""


@lru_cache(maxsize=64)
def _purpose_key(secret_key: str, purpose: str) -> bytes:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    return hmac.new(secret_key.encode(), f"paperboy.token.{purpose}".encode(), hashlib.sha256).digest()


class Signer:
    """Signs and checks the tokens of one purpose under one secret key.

    The tag is HMAC-SHA256 (RFC 2104: exactly what ``hmac`` computes) with the key's two padded blocks hashed once,
    here: ``hmac.digest`` hashes them again for every token, nearly 3x the cost of the two short hashes that remain.
    The cached hash states are only ever copied, so threads can share a signer.
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
    """The signer of ``purpose`` tokens under ``secret_key``, made once per process."""
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
    """The issue time in base 36, converted once per second (a digest signs a dozen links within one)."""
    global _issued
    now = int(time.time())
    cached = _issued
    if cached[0] != now:
        cached = _issued = (now, _base36(now).encode())
    return cached[1]


def compact_json(payload: dict[str, Any]) -> str:
    """The signed form of a payload: compact JSON, keys sorted."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True)


def make_token(secret_key: str, purpose: str, payload: dict[str, Any]) -> str:
    """Sign ``payload`` (small, JSON-serialisable) for ``purpose``."""
    return signer(secret_key, purpose).sign(compact_json(payload))


def checked_link_key(key: str) -> str:
    """``key`` if it is a link key's shape (so it can go into a payload written by hand), else ValueError."""
    if not isinstance(key, str) or not _LINK_KEY.match(key):
        raise ValueError("a link key is 8-43 URL-safe base64 characters")
    return key


@dataclass(frozen=True)
class Verified:
    """A token that verified: its payload and when it was issued (Unix seconds)."""

    payload: dict[str, Any]
    issued: int


def read_token(secret_key: str, purpose: str, token: str, max_age: int | None = None) -> dict[str, Any]:
    """Verify ``token`` for ``purpose`` and return its payload; raises ``BadToken``."""
    return verify(secret_key, purpose, token, max_age).payload


def verify(secret_key: str, purpose: str, token: str, max_age: int | None = None) -> Verified:
    """Verify ``token`` for ``purpose``: its payload and issue time, or ``BadToken`` (``expired`` set when late)."""
    age = MAX_AGE.get(purpose) if max_age is None else max_age
    parts = token.split(".")
    if len(parts) != 3 or len(parts[2]) != TAG_CHARS:
        raise BadToken(f"invalid {purpose} link")
    body = f"{parts[0]}.{parts[1]}"
    try:
        expected = signer(secret_key, purpose).tag(body.encode()).decode()
    except UnicodeEncodeError as exc:
        raise BadToken(f"invalid {purpose} link") from exc
    if not hmac.compare_digest(expected, parts[2]):
        raise BadToken(f"invalid {purpose} link")
    try:
        issued = int(parts[1], 36)
        payload = json.loads(_unb64(parts[0]))
    except (ValueError, binascii.Error) as exc:  # well signed but malformed: only we could have made it; reject
        raise BadToken(f"invalid {purpose} link") from exc
    if age is not None and time.time() - issued > age:
        raise BadToken(f"{purpose} link expired", expired=True)
    if not isinstance(payload, dict):
        raise BadToken(f"invalid {purpose} link")
    return Verified(payload, issued)


def _int_field(payload: dict[str, Any], key: str, purpose: str) -> int:
    value = payload.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadToken(f"invalid {purpose} link")
    return value


def _key_field(payload: dict[str, Any], purpose: str) -> str | None:
    """The link key a token carries; None for links issued before keys existed."""
    if "k" not in payload:
        return None
    key = payload["k"]
    if not isinstance(key, str) or not _LINK_KEY.match(key):
        raise BadToken(f"invalid {purpose} link")
    return key


@dataclass(frozen=True)
class SubscriberClaim:
    """What a subscriber link (``{s, v, k}``) claims: whose account, at which token version, under which key."""

    subscriber_id: int
    version: int
    key: str | None
    issued: int


def read_subscriber_token(secret_key: str, purpose: str, token: str) -> SubscriberClaim:
    """Verify a subscriber link; raises ``BadToken``."""
    checked = verify(secret_key, purpose, token)
    payload = checked.payload
    return SubscriberClaim(
        _int_field(payload, "s", purpose), _int_field(payload, "v", purpose), _key_field(payload, purpose),
        checked.issued,
    )  # fmt: skip


@dataclass(frozen=True)
class DeliveryClaim:
    """What a link into one delivery claims: the delivery, and for a pick its paper, position and feedback kind."""

    delivery_id: int
    key: str | None
    issued: int
    paper_id: int | None = None
    position: int | None = None
    kind: str | None = None  # "more"/"less" of an old per-button feedback link


def read_delivery_token(secret_key: str, purpose: str, token: str) -> DeliveryClaim:
    """Verify a link into one delivery (pick ``{d, k, p, r}``, digest ``{d, k}``, and the older click ``{d, p, r}``
    and feedback ``{d, p, k: more|less}``); raises ``BadToken``."""
    checked = verify(secret_key, purpose, token)
    payload = checked.payload
    kind = None
    if purpose == "feedback":  # the older feedback links carried their button in ``k``, and no link key
        kind = payload.get("k")
        if kind not in FEEDBACK_KINDS:
            raise BadToken(f"invalid {purpose} link")
        key = None
    else:
        key = _key_field(payload, purpose)
    optional = {name: _int_field(payload, name, purpose) if name in payload else None for name in ("p", "r")}
    return DeliveryClaim(_int_field(payload, "d", purpose), key, checked.issued, optional["p"], optional["r"], kind)


def read_pick_token(secret_key: str, token: str) -> DeliveryClaim:
    """A paper's link in a digest: the pick token, or the click/feedback token of a digest sent before picks had
    one token each; raises ``BadToken`` (``expired`` from the last one tried)."""
    error: BadToken | None = None
    for purpose in ("pick", "click", "feedback"):
        try:
            claim = read_delivery_token(secret_key, purpose, token)
        except BadToken as exc:
            error = exc if error is None or exc.expired else error
            continue
        if claim.paper_id is None:
            raise BadToken(f"invalid {purpose} link")
        return claim
    raise error or BadToken("invalid link")


def owns(key: str | None, issued: int, row_key: str | None, row_created: dt.datetime | None) -> bool:
    """Whether a token (its ``key`` and issue time) belongs to the row it names.

    A keyed token must carry the row's own link key. A token from before link keys is honoured only when its row
    already existed when it was issued: a row that took over a deleted row's id was created later.
    """
    if key is not None:
        return row_key is not None and hmac.compare_digest(key, row_key)
    if row_created is None:
        return False
    issued_at = dt.datetime.fromtimestamp(issued, dt.UTC).replace(tzinfo=None)
    return row_created <= issued_at + CLOCK_SLACK


def check_owner(
    purpose: str, key: str | None, issued: int, row_key: str | None, row_created: dt.datetime | None
) -> None:
    """``owns`` or ``RevokedToken``: the link names a row that is no longer the one it was issued for."""
    if not owns(key, issued, row_key, row_created):
        raise RevokedToken(f"this {purpose} link belongs to a subscription that no longer exists")
