"""SendGrid's Event Webhook: verify the signature, then act on each event exactly once.

* Verification: ECDSA P-256 / SHA-256 over ``timestamp + raw body`` (headers
  ``X-Twilio-Email-Event-Webhook-Signature`` and ``-Timestamp``), with the public key from the SendGrid console
  (``SENDGRID_WEBHOOK_PUBLIC_KEY``, base64 DER). Unsigned, tampered and stale posts are rejected.
* De-duplication: SendGrid delivers events more than once; each ``sg_event_id`` is inserted into
  ``webhook_events`` with ``ON CONFLICT DO NOTHING`` and acted on only by the insert that created it.
* Actions: bounce and spamreport suppress the address (here: suppression is mail's), and hand the rest to the
  ``EventEffects`` the caller gives (``service.digest.events``): unsubscribe and group_unsubscribe unsubscribe the
  address, dropped records the reason on the delivery, processed/delivered confirm a delivery whose send outcome we
  did not know; open and click are recorded (the event row), deferred changes nothing.
"""

from __future__ import annotations

import binascii
import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from sendgrid.helpers.eventwebhook import EventWebhook
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from service.mail.addresses import normalise_email
from service.mail.suppression import suppress
from service.models import WebhookEvent

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
MAX_SKEW_S = 300  # a post older (or newer) than this is a replay
MAX_EVENTS = 10_000


class WebhookRejected(ValueError):
    """The post is not from SendGrid or not usable; ``status`` is the HTTP answer."""

    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.status = status


def load_public_key(key_b64: str) -> ec.EllipticCurvePublicKey:
    """The verification key from the SendGrid console (base64 DER, as the console shows it; a PEM block too)."""
    if not key_b64:
        raise WebhookRejected("SENDGRID_WEBHOOK_PUBLIC_KEY is not set: refusing unverifiable events", 503)
    body = "".join(line for line in key_b64.splitlines() if "PUBLIC KEY" not in line)
    try:
        key = EventWebhook().convert_public_key_to_ecdsa("".join(body.split()))
    except (ValueError, TypeError) as exc:
        raise WebhookRejected(f"SENDGRID_WEBHOOK_PUBLIC_KEY is not a valid base64 DER public key: {exc}", 503) from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise WebhookRejected("SENDGRID_WEBHOOK_PUBLIC_KEY must be an ECDSA P-256 key", 503)
    return key


def verify_signature(
    key_b64: str, signature_b64: str | None, timestamp: str | None, raw_body: bytes, *, now: float | None = None
) -> None:
    """Raise ``WebhookRejected`` unless ``raw_body`` was signed by SendGrid at a recent ``timestamp``.

    The signature itself is checked by the ``sendgrid`` package's Event Webhook helper (ECDSA P-256 / SHA-256 over
    timestamp + body); this adds what it leaves to the caller: missing headers, replays, a body that is not text.
    """
    key = load_public_key(key_b64)
    if not signature_b64 or not timestamp:
        raise WebhookRejected("unsigned event post (signature or timestamp header missing)", 401)
    try:
        sent_at = int(timestamp)
    except ValueError as exc:
        raise WebhookRejected("event timestamp header is not a number", 401) from exc
    now = dt.datetime.now(dt.UTC).timestamp() if now is None else now
    if abs(now - sent_at) > MAX_SKEW_S:
        raise WebhookRejected("stale event post (timestamp too old or in the future)", 401)
    try:
        valid = EventWebhook().verify_signature(raw_body.decode("utf-8"), signature_b64, timestamp, key)
    except (UnicodeDecodeError, binascii.Error, ValueError) as exc:
        raise WebhookRejected("event signature does not match", 401) from exc
    if not valid:
        raise WebhookRejected("event signature does not match", 401)


def parse_events(raw_body: bytes) -> list[dict[str, Any]]:
    """The events of a verified post; ``WebhookRejected`` (400/413) for a body that is not a list of events,
    including one nested too deeply to read (a signed body is still input we did not write)."""
    try:
        events = json.loads(raw_body)
    except RecursionError as exc:
        raise WebhookRejected("event body is nested too deeply", 400) from exc
    except ValueError as exc:
        raise WebhookRejected(f"event body is not JSON: {exc}", 400) from exc
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise WebhookRejected("event body must be a JSON array of objects", 400)
    if len(events) > MAX_EVENTS:
        raise WebhookRejected(f"too many events in one post ({len(events)} > {MAX_EVENTS})", 413)
    if any(_depth(event) > MAX_DEPTH for event in events):
        raise WebhookRejected(f"an event is nested deeper than {MAX_DEPTH} levels", 400)
    return events


MAX_DEPTH = 8  # SendGrid's events are flat objects with a few lists of strings


def _depth(value: Any, limit: int = MAX_DEPTH + 1) -> int:
    """How deeply ``value`` nests (stops counting past ``limit``), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > limit:
            return depth
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _first_time(session: Session, event: dict[str, Any], delivery_id: int | None) -> bool:
    """Record the event; True only for the insert that created its row (the one that acts)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(WebhookEvent)
        .values(
            provider_event_id=str(event["sg_event_id"])[:255],
            event=str(event.get("event", ""))[:32],
            email=(normalise_email(str(event["email"]))[:320] if event.get("email") else None),
            delivery_id=delivery_id,
            payload=event,
        )
        .on_conflict_do_nothing(index_elements=["provider_event_id"])
        .returning(WebhookEvent.id)
    )
    return session.execute(stmt).first() is not None


def _delivery_id(event: dict[str, Any]) -> int | None:
    value = event.get("delivery_id")  # our custom_args arrive as top-level event fields
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class EventEffects:
    """What provider events do beyond suppression, given by the caller (mail knows addresses, not subscriptions or
    digests): unsubscribe an address; record that a delivery was accepted; record why it was dropped."""

    unsubscribe: Callable[[Session, str], object]
    accepted: Callable[[Session, int, str | None], object]
    dropped: Callable[[Session, int, str], object]


def apply_event(session: Session, event: dict[str, Any], effects: EventEffects) -> str:
    """Act on one event; returns what was done (for counts and logs)."""
    if not event.get("sg_event_id"):
        return "invalid"
    delivery_id = _delivery_id(event)
    if not _first_time(session, event, delivery_id):
        return "duplicate"
    kind = str(event.get("event", ""))
    email = str(event.get("email") or "")
    if kind == "bounce" and email:
        if event.get("type") == "blocked":
            return "recorded"  # a block is the receiving server's temporary refusal, not a dead address
        suppress(session, email, "bounce", str(event.get("reason") or "")[:1000] or None)
        return "suppressed"
    if kind == "spamreport" and email:
        suppress(session, email, "spamreport", "marked as spam by the recipient")
        effects.unsubscribe(session, email)
        return "suppressed"
    if kind in {"unsubscribe", "group_unsubscribe"} and email:
        effects.unsubscribe(session, email)
        return "unsubscribed"
    if kind == "dropped":
        if delivery_id is not None:
            effects.dropped(session, delivery_id, f"dropped by SendGrid: {event.get('reason') or 'no reason given'}")
        return "recorded"
    if kind in {"processed", "delivered"} and delivery_id is not None:
        effects.accepted(session, delivery_id, str(event.get("sg_message_id") or "")[:255] or None)
        return "recorded"
    return "recorded"  # open, click, deferred and anything new: kept in webhook_events, no state change


def process_events(session: Session, events: list[dict[str, Any]], effects: EventEffects) -> dict[str, int]:
    """Apply each event in its own savepoint: one bad event never stops the rest."""
    counts: dict[str, int] = {}
    for event in events:
        try:
            with session.begin_nested():
                outcome = apply_event(session, event, effects)
        except Exception:  # noqa: BLE001 - recorded in the log; the other events still apply
            log.exception("webhook event %r could not be applied", event.get("sg_event_id"))
            outcome = "error"
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts
