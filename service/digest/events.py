"""What the mail provider's events do to subscriptions and digests (``mail.webhooks`` verifies and de-duplicates
them, and applies suppressions itself): the one place the webhook endpoint and the replay task call."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from service.digest.states import confirm_accepted
from service.mail.webhooks import EventEffects, process_events
from service.models import Delivery
from service.subscribers.lifecycle import unsubscribe_email


def _dropped(session: Session, delivery_id: int, reason: str) -> None:
    session.execute(update(Delivery).where(Delivery.id == delivery_id).values(error=reason[:2000]))


EFFECTS = EventEffects(unsubscribe=unsubscribe_email, accepted=confirm_accepted, dropped=_dropped)


def apply_provider_events(session: Session, events: list[dict[str, Any]]) -> dict[str, int]:
    """Apply verified provider events, each once: counts by outcome (``mail.webhooks.process_events``)."""
    return process_events(session, events, EFFECTS)
