"""Transactional emails: the subscription confirmation and the "email me my preferences link" message.

They carry nothing a visitor typed except the address itself (no topics, no names), so the subscribe form
cannot be used to send someone else a message of the visitor's choosing. Call them after the subscriber row is
committed: they read it in a session of their own. A suppressed address gets nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from service.digest.backends import get_backend
from service.digest.message import outgoing
from service.digest.render import templates
from service.models import Subscriber
from service.runtime import Runtime
from service.subscribers.suppression import is_suppressed

log = logging.getLogger(__name__)


def _mail(rt: Runtime, subscriber_id: int, message: str, links: Callable[[Subscriber], dict[str, object]]) -> None:
    """Render ``message`` for the subscriber and send it at once; a suppressed address gets nothing."""
    with rt.db.session() as session:
        subscriber = session.get(Subscriber, subscriber_id)
        if subscriber is None:
            raise LookupError(f"no subscriber with id {subscriber_id}")
        if is_suppressed(session, subscriber.email):
            log.info("not mailing subscriber %s: address is suppressed", subscriber_id)
            return
        email = subscriber.email
        context = dict(links(subscriber), email=email, postal_address=rt.settings.POSTAL_ADDRESS)
    rendered = templates().render(message, context)
    backend = get_backend(rt.settings)
    try:
        backend.send(outgoing(rendered, to=email, from_=rt.settings.MAIL_FROM, category=message))
    finally:
        backend.close()


def send_confirmation_email(rt: Runtime, subscriber_id: int) -> None:
    """Send the double opt-in link; raises ``LookupError`` for an unknown id, ``SendError`` when not accepted."""
    _mail(rt, subscriber_id, "confirm-subscription", lambda s: {"confirm_url": rt.links.confirm(s.id, s.token_version)})


def send_preferences_email(rt: Runtime, subscriber_id: int) -> None:
    """Send the signed preferences link (and an unsubscribe link) to the subscriber's own address."""
    _mail(
        rt,
        subscriber_id,
        "preferences-link",
        lambda s: {
            "preferences_url": rt.links.preferences(s.id, s.token_version),
            "unsubscribe_url": rt.links.unsubscribe(s.id, s.token_version),
        },
    )
