"""Transactional email tasks (queue ``default``): the confirmation and preferences-link emails the web app queues.

Retried by Celery (``RETRY_OPTIONS``: backoff with jitter) while the provider refuses for now or the database is
unreachable, so a short outage delays these emails instead of losing them. A permanent refusal, an unknown
subscriber (erased since) or an outcome the provider may have accepted fails the task without a retry: the last
so that a reader is not sent the same email twice over a lost answer.
"""

from __future__ import annotations

from service.queue import SEND_TRANSACTIONAL
from service.subscribers.emails import send_now
from workers.app import RETRY_OPTIONS, celery_app, get_runtime

MAX_RETRIES = 8


@celery_app.task(name=SEND_TRANSACTIONAL, acks_late=True, max_retries=MAX_RETRIES, **RETRY_OPTIONS)
def send_transactional(kind: str, subscriber_id: int) -> str:
    """Send one transactional email (``kind``: confirmation | preferences); ``sent`` or ``suppressed``."""
    return send_now(get_runtime(), kind, int(subscriber_id))
