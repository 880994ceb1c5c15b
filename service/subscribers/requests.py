"""Requests a visitor makes by typing an address: subscribe, and "email me my preferences link".

Both answer the visitor the same way whatever the address's state, so the web page never reveals who is
subscribed; what actually happened is returned for logs and tests only. The email itself goes to the workers'
queue when there is one (``service.subscribers.emails.queue_or_send``). The email sent never contains
anything the visitor typed: it goes to the stored address and carries only our own signed links.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError

from service.db import TRANSIENT_DB_ERRORS
from service.mail.addresses import validate_address
from service.mail.suppression import is_suppressed
from service.runtime import Runtime
from service.subscribers.emails import queue_or_send
from service.subscribers.lifecycle import UNCONFIRMED, find_by_email, subscribe


class MailUnavailable(RuntimeError):
    """The email could be neither queued nor sent right now (broker and provider both unavailable): the visitor is
    told to try again, never that an email is on its way."""


SENT_CONFIRMATION = "confirmation-sent"
SENT_PREFERENCES = "preferences-sent"
SUPPRESSED = "suppressed"
UNKNOWN = "unknown-address"


def request_subscription(rt: Runtime, email: str, topics: Sequence[str] = ()) -> str:
    """Start a double opt-in for ``email``; raises ``InvalidEmail`` for an address we cannot use.

    New, unconfirmed and unsubscribed addresses get a confirmation link; an already confirmed address gets its
    preferences link instead (its owner may simply have forgotten); a suppressed address gets nothing.
    """
    address = validate_address(email)
    for attempt in range(2):  # a concurrent first subscribe of the same address loses the unique race once
        try:
            with rt.db.session() as session:
                if is_suppressed(session, address):
                    return SUPPRESSED
                subscriber, needs_confirmation = subscribe(session, address, list(topics))
                subscriber_id = subscriber.id
            break
        except IntegrityError:
            if attempt:
                raise
    return _mail(rt, subscriber_id, confirmation=needs_confirmation)


def request_preferences_link(rt: Runtime, email: str) -> str:
    """Email the preferences link to ``email`` if it is ours; an unconfirmed address gets its confirmation again."""
    address = validate_address(email)
    with rt.db.session() as session:
        subscriber = find_by_email(session, address)
        if subscriber is None:
            return UNKNOWN
        if is_suppressed(session, address):
            return SUPPRESSED
        subscriber_id, status = subscriber.id, subscriber.status
    return _mail(rt, subscriber_id, confirmation=status == UNCONFIRMED)


def _mail(rt: Runtime, subscriber_id: int, *, confirmation: bool) -> str:
    """Queue the confirmation or the preferences-link email (sent here when there is no broker to take it)."""
    kind, outcome = ("confirmation", SENT_CONFIRMATION) if confirmation else ("preferences", SENT_PREFERENCES)
    try:
        queue_or_send(rt, kind, subscriber_id)
    except TRANSIENT_DB_ERRORS:
        raise  # the database: the web app answers 503 for every such error
    except Exception as exc:
        raise MailUnavailable(f"the {kind} email could not be queued or sent: {exc.__class__.__name__}: {exc}") from exc
    return outcome
