"""From a verified link to the row it opens: the subscriber or delivery, only if the link was issued for it.

Every check of who a link belongs to is here (the web views call these), so a link can never open a row that
merely took over an id: see ``tokens.owns``.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.models import Delivery, Subscriber
from service.tokens import DeliveryClaim, ReplacedToken, RevokedToken, check_owner, read_subscriber_token


def load_subscriber(session: Session, secret_key: str, purpose: str, token: str) -> Subscriber:
    """The subscriber a ``{s, v, k}`` link belongs to; ``BadToken``/``RevokedToken`` when it no longer holds."""
    claim = read_subscriber_token(secret_key, purpose, token)
    subscriber = session.get(Subscriber, claim.subscriber_id)
    if subscriber is None:
        raise RevokedToken(f"this {purpose} link belongs to a subscription that no longer exists")
    check_owner(purpose, claim.key, claim.issued, subscriber.link_key, subscriber.created_at)
    if subscriber.token_version != claim.version:
        raise ReplacedToken(f"this {purpose} link has been replaced by a newer one")
    return subscriber


def load_delivery(session: Session, purpose: str, claim: DeliveryClaim) -> Delivery:
    """The delivery a verified link names, if it is still the one the link was issued for; else ``RevokedToken``."""
    row = session.execute(
        select(Delivery, Subscriber.link_key)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.id == claim.delivery_id)
    ).first()
    if row is None:
        raise RevokedToken(f"this {purpose} link belongs to a digest that no longer exists")
    delivery, link_key = row
    check_owner(purpose, claim.key, claim.issued, link_key, delivery.planned_at)
    return delivery
