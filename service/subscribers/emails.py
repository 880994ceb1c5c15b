"""The emails a reader asks for by typing their address: the subscription confirmation and the preferences link.

They carry nothing a visitor typed except the address itself (no topics, no names), so the subscribe form cannot be
used to send someone else a message of the visitor's choosing; they go to the stored address and carry only our own
signed links. A suppressed address gets nothing.

The web app hands them to the workers (``queue_or_send``): the request neither waits for the provider nor loses the
email when the provider is briefly down, because the task retries (``workers/tasks/mail.py``). With no broker, or a
broker that cannot take the task right now (``service.queue.PublishFailed``), the request sends it itself.
Delivery is at least once: a worker killed between the provider's answer and the task's acknowledgement sends that
confirmation again, which its reader can ignore (a digest, by contrast, is never sent twice).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from service.mail.addresses import display_address
from service.mail.suppression import is_suppressed
from service.mail.transactional import send_message
from service.models import Subscriber
from service.queue import SEND_TRANSACTIONAL, PublishFailed
from service.runtime import Runtime

log = logging.getLogger(__name__)

SENT, SUPPRESSED, QUEUED = "sent", "suppressed", "queued"


def _confirmation(rt: Runtime, subscriber: Subscriber) -> dict[str, object]:
    return {"confirm_url": rt.links.confirm(subscriber)}


def _preferences(rt: Runtime, subscriber: Subscriber) -> dict[str, object]:
    return {"preferences_url": rt.links.preferences(subscriber), "unsubscribe_url": rt.links.unsubscribe(subscriber)}


# The emails a task may be asked for, by name (a task carries the name and the subscriber id, nothing else):
# kind → (message folder, its links).
KINDS: dict[str, tuple[str, Callable[[Runtime, Subscriber], dict[str, object]]]] = {
    "confirmation": ("confirm-subscription", _confirmation),
    "preferences": ("preferences-link", _preferences),
}


def _known(kind: str) -> tuple[str, Callable[[Runtime, Subscriber], dict[str, object]]]:
    if kind not in KINDS:
        raise ValueError(f"unknown transactional email {kind!r}; expected one of {sorted(KINDS)}")
    return KINDS[kind]


def send_now(rt: Runtime, kind: str, subscriber_id: int) -> str:
    """Send the ``kind`` email now: ``sent`` or ``suppressed``. ``ValueError`` names an unknown kind, ``LookupError``
    an unknown subscriber (erased since), ``SendError`` a refusal, ``BadAddress`` an address no message can carry."""
    message, links = _known(kind)
    with rt.db.session() as session:
        subscriber = session.get(Subscriber, subscriber_id)
        if subscriber is None:
            raise LookupError(f"no subscriber with id {subscriber_id}")
        if is_suppressed(session, subscriber.email):
            log.info("not mailing subscriber %s: address is suppressed", subscriber_id)
            return SUPPRESSED
        to = subscriber.email
        context = {**links(rt, subscriber), "email": display_address(subscriber.email)}
    send_message(rt.settings, message, to, context)
    return SENT


def queue_or_send(rt: Runtime, kind: str, subscriber_id: int) -> str:
    """Hand the ``kind`` email to the workers (``queued``), or send it here when there is no broker or the broker
    cannot take it (``sent``/``suppressed``): the email is never dropped."""
    _known(kind)  # refused here, in the request, not later in a worker
    if not rt.dispatcher.enabled:
        return send_now(rt, kind, subscriber_id)
    try:
        rt.dispatcher.send(SEND_TRANSACTIONAL, kind, subscriber_id)
    except PublishFailed as exc:
        log.warning("%s; sending the %s email for subscriber %s now", exc, kind, subscriber_id)
        return send_now(rt, kind, subscriber_id)
    return QUEUED
