"""The subscription lifecycle: unconfirmed → confirmed → unsubscribed (→ confirmed again on resubscribe).

Every state change lives here so the web views, the webhook and the CLI agree on what each step does.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.mail.addresses import normalise_email
from service.models import Subscriber, SubscriptionStatus, utcnow

UNCONFIRMED, CONFIRMED, UNSUBSCRIBED = (
    SubscriptionStatus.UNCONFIRMED, SubscriptionStatus.CONFIRMED, SubscriptionStatus.UNSUBSCRIBED,
)  # fmt: skip


def find_by_email(session: Session, email: str) -> Subscriber | None:
    return session.scalar(select(Subscriber).where(Subscriber.email == normalise_email(email)))


def subscribe(session: Session, email: str, topics: Iterable[str] = ()) -> tuple[Subscriber, bool]:
    """Start (or restart) a subscription; returns (subscriber, needs_confirmation).

    A confirmed subscriber stays confirmed (no email is needed); anyone else goes to ``unconfirmed`` and must
    confirm by the link sent to the address, so nobody can subscribe someone else.
    """
    subscriber = find_by_email(session, email)
    if subscriber is None:
        subscriber = Subscriber(email=normalise_email(email), status=UNCONFIRMED, topics=list(topics))
        session.add(subscriber)
        session.flush()
        return subscriber, True
    if subscriber.status == CONFIRMED:
        return subscriber, False
    if topics and not subscriber.topics:
        subscriber.topics = list(topics)
    subscriber.status = UNCONFIRMED
    return subscriber, True


def confirm(session: Session, subscriber: Subscriber) -> bool:
    """Confirm the subscription (double opt-in). Returns False when there was nothing to do.

    Acts only on an unconfirmed subscription: a confirmation link used after an unsubscribe (an old email, a link
    scanner following it late) must not subscribe the reader again; subscribing again sends a fresh link.
    """
    if subscriber.status != UNCONFIRMED:
        return False
    subscriber.status = CONFIRMED
    subscriber.confirmed_at = utcnow()
    subscriber.unsubscribed_at = None
    return True


def unsubscribe(session: Session, subscriber: Subscriber) -> bool:
    """Stop all mail at once. Returns False when already unsubscribed."""
    if subscriber.status == UNSUBSCRIBED:
        return False
    subscriber.status = UNSUBSCRIBED
    subscriber.unsubscribed_at = utcnow()
    return True


def unsubscribe_email(session: Session, email: str) -> bool:
    """Unsubscribe by address (provider webhooks know only the address)."""
    subscriber = find_by_email(session, email)
    return subscriber is not None and unsubscribe(session, subscriber)


def create_confirmed(session: Session, email: str, **preferences: object) -> Subscriber:
    """A confirmed subscriber in one step: for simulations and operators' imports, never for the public form."""
    subscriber = Subscriber(email=normalise_email(email), status=CONFIRMED, confirmed_at=utcnow(), **preferences)
    session.add(subscriber)
    session.flush()
    return subscriber


def resubscribe(session: Session, subscriber: Subscriber) -> bool:
    """Undo an unsubscribe from a link only the address's owner holds (no new confirmation needed).

    Returns False when the subscriber was not unsubscribed (an unconfirmed address still has to confirm).
    """
    if subscriber.status != UNSUBSCRIBED:
        return False
    subscriber.status = CONFIRMED
    subscriber.confirmed_at = subscriber.confirmed_at or utcnow()
    subscriber.unsubscribed_at = None
    return True
