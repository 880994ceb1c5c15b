"""Transactional emails: the subscription confirmation and the "email me my preferences link" message.

They carry nothing a visitor typed except the address itself (no topics, no names), so the subscribe form
cannot be used to send someone else a message of the visitor's choosing. Call them after the subscriber row is
committed: they read it in a session of their own. A suppressed address gets nothing.

The web app hands them to the workers (``queue_transactional``): the visitor's request neither waits for the
provider nor loses the email when the provider is briefly down, because the task retries (``workers.tasks.mail``).
With no broker, or a broker that cannot take the task right now, the email is sent within the request instead.
Delivery is at least once: a worker killed between the provider's answer and the task's acknowledgement sends
that confirmation again, which its reader can ignore (a digest, by contrast, is never sent twice).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from service.config import Settings
from service.digest.backends import get_backend
from service.digest.message import outgoing
from service.digest.render import templates
from service.models import Subscriber
from service.runtime import Runtime
from service.subscribers.suppression import is_suppressed

log = logging.getLogger(__name__)


SENT, SUPPRESSED, QUEUED = "sent", "suppressed", "queued"
TASK = "workers.tasks.mail.send_transactional"  # the name the worker registers it under
# How long a request may wait on the broker, per socket operation, before sending the email itself. Publishing
# is not retried and connecting is tried once, so a broker that refuses connections costs ~2 s (redis-py's one
# reconnect) and one that accepts and never answers ~1 s: a request answers within ~3 s either way.
PUBLISH_TIMEOUT_S = 1.0


def _mail(rt: Runtime, subscriber_id: int, message: str, links: Callable[[Subscriber], dict[str, object]]) -> str:
    """Render ``message`` for the subscriber and send it at once; a suppressed address gets nothing."""
    with rt.db.session() as session:
        subscriber = session.get(Subscriber, subscriber_id)
        if subscriber is None:
            raise LookupError(f"no subscriber with id {subscriber_id}")
        if is_suppressed(session, subscriber.email):
            log.info("not mailing subscriber %s: address is suppressed", subscriber_id)
            return SUPPRESSED
        email = subscriber.email
        context = dict(links(subscriber), email=subscriber.display_email, postal_address=rt.settings.POSTAL_ADDRESS)
    rendered = templates().render(message, context)
    backend = get_backend(rt.settings)
    try:
        backend.send(outgoing(rendered, to=email, from_=rt.settings.MAIL_FROM, category=message))
    finally:
        backend.close()
    return SENT


def send_confirmation_email(rt: Runtime, subscriber_id: int) -> str:
    """Send the double opt-in link; raises ``LookupError`` for an unknown id, ``SendError`` when not accepted."""
    return _mail(rt, subscriber_id, "confirm-subscription", lambda s: {"confirm_url": rt.links.confirm(s)})


def send_preferences_email(rt: Runtime, subscriber_id: int) -> str:
    """Send the signed preferences link (and an unsubscribe link) to the subscriber's own address."""
    return _mail(
        rt,
        subscriber_id,
        "preferences-link",
        lambda s: {
            "preferences_url": rt.links.preferences(s),
            "unsubscribe_url": rt.links.unsubscribe(s),
        },
    )


# The emails a task may be asked for, by name (a task carries the name and the subscriber id, nothing else).
TRANSACTIONAL: dict[str, Callable[[Runtime, int], str]] = {
    "confirmation": send_confirmation_email,
    "preferences": send_preferences_email,
}


def _known(kind: str) -> Callable[[Runtime, int], str]:
    if kind not in TRANSACTIONAL:
        raise ValueError(f"unknown transactional email {kind!r}; expected one of {sorted(TRANSACTIONAL)}")
    return TRANSACTIONAL[kind]


def send_transactional(rt: Runtime, kind: str, subscriber_id: int) -> str:
    """Send the ``kind`` email now: ``sent`` or ``suppressed``; ``ValueError`` names an unknown kind."""
    return _known(kind)(rt, subscriber_id)


def queue_transactional(rt: Runtime, kind: str, subscriber_id: int) -> str:
    """Hand the ``kind`` email to the workers (``queued``), or send it here when there is no broker or the broker
    cannot take it within ``PUBLISH_TIMEOUT_S`` (``sent``/``suppressed``): the email is never dropped."""
    _known(kind)  # refused here, in the request, not later in a worker
    if rt.settings.runs_tasks_in_process:
        return send_transactional(rt, kind, subscriber_id)
    try:
        _producer(rt.settings).send_task(TASK, args=[kind, subscriber_id], queue="default", retry=False)
    except Exception as exc:  # noqa: BLE001 - any broker trouble: the request sends the email itself
        log.warning("broker did not take the %s email for subscriber %s (%s); sending it now", kind, subscriber_id, exc)
        return send_transactional(rt, kind, subscriber_id)
    return QUEUED


_producers: dict[tuple[str, str], Any] = {}


def _producer(settings: Settings):  # noqa: ANN202 - a celery.Celery, imported late
    """The workers' Celery app (same queues, same key prefix), with short broker timeouts and no retries: a web
    request must not hang on the broker. One per broker and prefix, made on first use."""
    key = (settings.CELERY_BROKER_URL, settings.CELERY_KEY_PREFIX)
    app = _producers.get(key)
    if app is None:
        from workers.app import make_celery

        app = make_celery(settings)
        app.conf.broker_transport_options = {
            **app.conf.broker_transport_options,
            "socket_connect_timeout": PUBLISH_TIMEOUT_S,
            "socket_timeout": PUBLISH_TIMEOUT_S,
            "retry_on_timeout": False,
        }
        app.conf.broker_connection_timeout = PUBLISH_TIMEOUT_S
        app.conf.broker_connection_retry = False
        app.conf.broker_connection_max_retries = 0
        app.conf.result_backend = None  # the request never waits for a result
        app = _producers.setdefault(key, app)
    return app
