"""Transactional email tasks (queue ``default``): the confirmation and preferences-link emails the web app queues.

Retried with backoff while the provider refuses for now (429/5xx after the backend's own retries) or the database
is unreachable, so a short outage delays these emails instead of losing them. A permanent refusal, an unknown
subscriber (erased since) or an outcome the provider may have accepted fails the task without a retry: the last
so that a reader is not sent the same email twice over a lost answer.
"""

from __future__ import annotations

import logging

from service.digest.backends import TransientSendError
from service.digest.send import TRANSIENT_DB_ERRORS
from service.digest.transactional import TASK
from service.digest.transactional import send_transactional as send_now
from workers.app import backoff_s, celery_app, get_runtime

log = logging.getLogger(__name__)

MAX_RETRIES = 8
RETRYABLE = (TransientSendError, *TRANSIENT_DB_ERRORS)


@celery_app.task(name=TASK, bind=True, acks_late=True, max_retries=MAX_RETRIES)
def send_transactional(self, kind: str, subscriber_id: int) -> str:  # noqa: ANN001 - a bound Celery task
    """Send one transactional email (``kind``: confirmation | preferences); ``sent`` or ``suppressed``."""
    rt = get_runtime()
    try:
        return send_now(rt, kind, int(subscriber_id))
    except RETRYABLE as exc:
        log.warning("%s email for subscriber %s not sent yet (%s); retrying", kind, subscriber_id, exc)
        raise self.retry(exc=exc, countdown=backoff_s(rt.settings.TASK_RETRY_BASE_S, self.request.retries)) from exc
