"""Privacy: a reader can download everything we hold about them, and delete it with its history.

Deleting removes the subscriber, their deliveries, interactions and provider events. A suppression (a bounce
or spam report) is kept: it is what stops us mailing an address that asked never to be mailed again.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from service.models import Delivery, Interaction, Paper, Subscriber, Suppression, WebhookEvent, utcnow
from service.subscribers.preferences import current_preferences


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date | dt.datetime) else value


def export_data(session: Session, subscriber: Subscriber) -> dict[str, Any]:
    """Everything stored about ``subscriber`` as one JSON-serialisable document."""
    titles = dict(
        session.execute(
            select(Paper.id, Paper.title).where(
                Paper.id.in_(select(Interaction.paper_id).where(Interaction.subscriber_id == subscriber.id))
            )
        ).all()
    )
    interactions = session.scalars(
        select(Interaction).where(Interaction.subscriber_id == subscriber.id).order_by(Interaction.id)
    ).all()
    deliveries = session.scalars(
        select(Delivery).where(Delivery.subscriber_id == subscriber.id).order_by(Delivery.digest_date)
    ).all()
    suppression = session.scalar(select(Suppression).where(Suppression.email == subscriber.email))
    events = session.scalars(select(WebhookEvent).where(WebhookEvent.email == subscriber.email)).all()
    return {
        "exported_at": _iso(utcnow()),
        "subscriber": {
            "email": subscriber.email,
            "status": subscriber.status,
            "created_at": _iso(subscriber.created_at),
            "confirmed_at": _iso(subscriber.confirmed_at),
            "unsubscribed_at": _iso(subscriber.unsubscribed_at),
        },
        "preferences": {key: _iso(value) for key, value in current_preferences(subscriber).items()},
        "deliveries": [
            {
                "digest_date": _iso(d.digest_date),
                "status": d.status,
                "sent_at": _iso(d.sent_at),
                "skip_reason": d.skip_reason,
                "picks": d.picks,
            }
            for d in deliveries
        ],
        "interactions": [
            {
                "kind": i.kind,
                "paper_id": i.paper_id,
                "paper_title": titles.get(i.paper_id),
                "position": i.position,
                "created_at": _iso(i.created_at),
                "suspected_scanner": i.suspected_scanner,
                "user_agent": i.user_agent,
            }
            for i in interactions
        ],
        "provider_events": [{"event": e.event, "received_at": _iso(e.received_at)} for e in events],
        "suppression": (
            {"reason": suppression.reason, "created_at": _iso(suppression.created_at)} if suppression else None
        ),
    }


def delete_data(session: Session, subscriber: Subscriber) -> dict[str, int]:
    """Delete the subscriber and their history; returns how many rows of each kind went."""
    counts = {
        "interactions": session.execute(delete(Interaction).where(Interaction.subscriber_id == subscriber.id)),
        "deliveries": session.execute(delete(Delivery).where(Delivery.subscriber_id == subscriber.id)),
        "provider_events": session.execute(delete(WebhookEvent).where(WebhookEvent.email == subscriber.email)),
    }
    result = {name: cursor.rowcount for name, cursor in counts.items()}
    session.delete(subscriber)
    session.flush()
    result["subscriber"] = 1
    return result
