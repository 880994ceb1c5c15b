"""Subscribe and preferences-link requests: what each address state gets (the web page says the same to all)."""

from __future__ import annotations

import pytest

from service.mail.addresses import InvalidEmail
from service.mail.suppression import suppress
from service.models import Subscriber
from service.subscribers.lifecycle import CONFIRMED, UNSUBSCRIBED, find_by_email, resubscribe, unsubscribe
from service.subscribers.requests import (
    SENT_CONFIRMATION,
    SENT_PREFERENCES,
    SUPPRESSED,
    UNKNOWN,
    request_preferences_link,
    request_subscription,
)
from tests.web.support import add_subscriber, links_in, outbox_messages


def test_a_new_address_gets_a_confirmation_link_and_stays_unconfirmed(runtime):
    assert request_subscription(runtime, "  New@Example.com ", ["robots"]) == SENT_CONFIRMATION
    with runtime.db.session() as session:
        subscriber = find_by_email(session, "new@example.com")
        assert subscriber.status == "unconfirmed" and subscriber.topics == ["robots"]
    [message] = outbox_messages(runtime)
    assert message["To"] == "new@example.com"
    assert len(links_in(message, "/confirm/")) == 1


def test_a_confirmed_address_gets_its_preferences_link_instead(runtime):
    add_subscriber(runtime, "known@example.com")
    assert request_subscription(runtime, "known@example.com") == SENT_PREFERENCES
    [message] = outbox_messages(runtime)
    assert links_in(message, "/preferences/") and not links_in(message, "/confirm/")


def test_a_suppressed_address_gets_nothing(runtime):
    with runtime.db.session() as session:
        suppress(session, "bounced@example.com", "bounce")
    assert request_subscription(runtime, "bounced@example.com") == SUPPRESSED
    assert outbox_messages(runtime) == []


def test_an_invalid_address_is_refused_with_the_reason(runtime):
    with pytest.raises(InvalidEmail):
        request_subscription(runtime, "not-an-address")
    with pytest.raises(InvalidEmail, match="line breaks"):
        request_subscription(runtime, "a@example.com\r\nBcc: victim@example.com")


def test_preferences_link_request_by_state(runtime):
    assert request_preferences_link(runtime, "nobody@example.com") == UNKNOWN
    assert outbox_messages(runtime) == []
    request_subscription(runtime, "pending@example.com")
    assert request_preferences_link(runtime, "pending@example.com") == SENT_CONFIRMATION
    add_subscriber(runtime, "known@example.com")
    assert request_preferences_link(runtime, "known@example.com") == SENT_PREFERENCES
    assert [m["To"] for m in outbox_messages(runtime)].count("pending@example.com") == 2


def test_resubscribe_after_unsubscribe(runtime):
    subscriber = add_subscriber(runtime)
    with runtime.db.session() as session:
        row = session.get(Subscriber, subscriber.id)
        assert not resubscribe(session, row)  # nothing to undo
        unsubscribe(session, row)
        assert row.status == UNSUBSCRIBED
        assert resubscribe(session, row)
        assert row.status == CONFIRMED and row.unsubscribed_at is None
