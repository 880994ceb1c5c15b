"""The task queue as the service sees it: Celery configured from the settings, and a dispatcher that sends tasks.

``service/`` never imports ``workers/``: as in Flask's Celery pattern, the service builds the Celery app from its
settings and sends tasks BY NAME through a ``Dispatcher`` it is handed (``Runtime.dispatcher``); ``workers/``
registers the functions under those names (``TASKS``) and runs them. Without ``CELERY_BROKER_URL`` there is no
queue: callers run the work in their own process (``Dispatcher.enabled`` is False).

The delivery guarantees come from ``acks_late`` + idempotent tasks:

* ``task_acks_late`` + ``task_reject_on_worker_lost``: a task is acknowledged only when it finished, so a killed
  pool child's task goes back to the queue at once, a killed worker's after the visibility timeout;
* ``worker_prefetch_multiplier=1``: a worker holds no more tasks than it runs, so a second worker takes the rest;
* the Redis visibility timeout (``CELERY_VISIBILITY_TIMEOUT_S``, 1 h) is longer than the longest task (the nightly
  training, ~25 min at 100k readers) and at least twice any countdown (``max_countdown_s``), or Redis would hand a
  task that is running, or merely waiting, to a second worker. Digests do not wait for it: a send batch's claims
  are short leases its worker renews, and the reaper re-sends what a dead worker held (``digest/recovery.py``).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import Celery
from kombu import Queue

from service.config import Settings

log = logging.getLogger(__name__)

QUEUES = ("default", "ingest", "train", "send")
# Every task the service sends, by the name the workers register it under.
SEND_BATCH = "workers.tasks.send.send_batch"
PLAN_DUE_DIGESTS = "workers.tasks.send.plan_due_digests"
REAP_DELIVERIES = "workers.tasks.send.reap_deliveries"
SEND_TRANSACTIONAL = "workers.tasks.mail.send_transactional"
FOLD_IN_CLICKS = "workers.tasks.train.fold_in_clicks"
FOLD_IN_RECENT = "workers.tasks.train.fold_in_recent"
TRAIN_MODEL = "workers.tasks.train.train_model"
INGEST_PAGE = "workers.tasks.ingest.ingest_page"
TASK_MODULES = [
    "workers.tasks.ingest",
    "workers.tasks.train",
    "workers.tasks.send",
    "workers.tasks.mail",
    "workers.tasks.webhooks",
]
ROUTES = {
    "workers.tasks.ingest.*": {"queue": "ingest"},
    "workers.tasks.train.*": {"queue": "train"},
    "workers.tasks.send.*": {"queue": "send"},
    "workers.tasks.mail.*": {"queue": "default"},
    "workers.tasks.webhooks.*": {"queue": "default"},
}
# How long a web request may wait on the broker, per socket operation, before doing the work itself. Publishing is
# not retried and connecting is tried once, so a broker that refuses connections costs ~2 s (redis-py's one
# reconnect) and one that accepts and never answers ~1 s: a request answers within ~3 s either way.
PUBLISH_TIMEOUT_S = 1.0


def max_countdown_s(settings: Settings) -> int:
    """The longest countdown/ETA a task may use: half the visibility timeout, and never more than an hour."""
    return max(1, min(3600, settings.CELERY_VISIBILITY_TIMEOUT_S // 2))


def make_celery(settings: Settings, *, include: list[str] | None = None) -> Celery:
    """The Celery app of this deployment (``include``: the task modules, for the workers)."""
    broker = settings.CELERY_BROKER_URL
    transport: dict[str, object] = {"visibility_timeout": settings.CELERY_VISIBILITY_TIMEOUT_S}
    if settings.CELERY_KEY_PREFIX:
        transport["global_keyprefix"] = settings.CELERY_KEY_PREFIX
    app = Celery("paperboy", include=include or [])
    app.conf.update(
        broker_url=broker or "memory://",
        result_backend=settings.CELERY_RESULT_BACKEND or None,
        task_always_eager=not broker,
        task_eager_propagates=True,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options=transport,
        result_backend_transport_options=dict(transport),
        result_expires=24 * 3600,
        result_extended=False,
        timezone="UTC",
        enable_utc=True,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a Redis restart: keep reconnecting, never exit
        # a task still running when the broker connection drops finishes; its redelivery finds the work done
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_send_task_events=True,  # Flower and `celery events` see task latency
        task_send_sent_event=True,
        task_default_queue="default",
        task_queues=[Queue(name, routing_key=name) for name in QUEUES],
        task_routes=ROUTES,
    )
    return app


class Dispatcher:
    """Sends tasks by name to the workers. Made once per process (``Runtime``); its Celery app is built on first use.

    ``impatient`` (the web app): short socket timeouts and no retries, so a request never hangs on a broker that is
    down or silent; the caller then does the work itself (``PublishFailed``).
    """

    def __init__(self, settings: Settings, *, impatient: bool = False) -> None:
        self.settings = settings
        self.impatient = impatient
        self._app: Celery | None = None
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """Whether there is a queue at all (``CELERY_BROKER_URL``); without one, callers run the work themselves."""
        return bool(self.settings.CELERY_BROKER_URL)

    @property
    def app(self) -> Celery:
        with self._lock:
            if self._app is None:
                self._app = self._make()
            return self._app

    def _make(self) -> Celery:
        app = make_celery(self.settings)
        if self.impatient:
            app.conf.broker_transport_options = {
                **app.conf.broker_transport_options,
                "socket_connect_timeout": PUBLISH_TIMEOUT_S,
                "socket_timeout": PUBLISH_TIMEOUT_S,
                "retry_on_timeout": False,
            }
            app.conf.broker_connection_timeout = PUBLISH_TIMEOUT_S
            app.conf.broker_connection_retry = False
            app.conf.broker_connection_max_retries = 0
            app.conf.result_backend = None  # a request never waits for a result
        return app

    def send(self, name: str, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401 - celery's AsyncResult
        """Queue task ``name`` with ``args``/``kwargs`` (JSON values, ids not objects); ``PublishFailed`` when the
        broker does not take it."""
        if not self.enabled:
            raise PublishFailed(f"no broker configured: {name} cannot be queued")
        try:
            return self.app.send_task(name, args=list(args), kwargs=kwargs, retry=not self.impatient)
        except Exception as exc:  # noqa: BLE001 - any broker trouble is the same answer to the caller
            raise PublishFailed(f"the broker did not take {name}: {exc.__class__.__name__}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            if self._app is not None:
                self._app.close()
                self._app = None


class PublishFailed(RuntimeError):
    """The task was not queued (no broker, or the broker refused or did not answer): do the work another way."""
