"""Export lists everything about one subscriber; delete removes it and its history, and nobody else's."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from service.mail.suppression import suppress
from service.models import Delivery, Interaction, Subscriber, Suppression, WebhookEvent
from service.subscribers.privacy import delete_data, export_data
from service.subscribers.tracking import record_click, record_feedback
from tests.web.support import add_delivery, add_paper, add_subscriber


def _history(rt, email_address):
    paper = add_paper(rt, f"A paper for {email_address}", url="https://example.org/x")
    subscriber = add_subscriber(rt, email_address, topics=["robots"])
    delivery = add_delivery(rt, subscriber.id, [paper])
    with rt.db.session() as session:
        record_click(
            session, subscriber_id=subscriber.id, delivery_id=delivery, paper_id=paper, position=0, user_agent="Firefox"
        )
        record_feedback(session, delivery_id=delivery, paper_id=paper, kind="more")
        session.add(WebhookEvent(provider_event_id=f"evt-{email_address}", event="open", email=email_address))
    return subscriber


def test_export_has_preferences_deliveries_and_interactions(any_runtime):
    subscriber = _history(any_runtime, "me@example.com")
    with any_runtime.db.session() as session:
        document = export_data(session, session.get(Subscriber, subscriber.id))
    json.dumps(document)  # serialisable as it is
    assert document["subscriber"]["email"] == "me@example.com"
    assert document["preferences"]["topics"] == ["robots"]
    assert [d["status"] for d in document["deliveries"]] == ["sent"]
    assert sorted(i["kind"] for i in document["interactions"]) == ["click", "more"]
    assert document["interactions"][0]["paper_title"] == "A paper for me@example.com"
    assert [e["event"] for e in document["provider_events"]] == ["open"]


def test_delete_removes_the_subscriber_and_history_but_not_others(any_runtime):
    me = _history(any_runtime, "me@example.com")
    other = _history(any_runtime, "other@example.com")
    with any_runtime.db.session() as session:
        suppress(session, "me@example.com", "bounce")
    with any_runtime.db.session() as session:
        counts = delete_data(session, session.get(Subscriber, me.id))
    assert counts == {"interactions": 2, "deliveries": 1, "provider_events": 1, "subscriber": 1}
    with any_runtime.db.session() as session:
        assert session.get(Subscriber, me.id) is None
        for model, column in ((Interaction, Interaction.subscriber_id), (Delivery, Delivery.subscriber_id)):
            assert session.scalar(select(func.count()).select_from(model).where(column == me.id)) == 0
            assert session.scalar(select(func.count()).select_from(model).where(column == other.id)) > 0
        assert session.scalar(select(func.count()).select_from(WebhookEvent)) == 1
        # the bounce stays on the suppression list: it is what keeps us from mailing a dead address again
        assert session.scalar(select(Suppression.reason).where(Suppression.email == "me@example.com")) == "bounce"
