"""The Celery app, configured from the same environment as everything else.

Without ``CELERY_BROKER_URL`` tasks run eagerly in the calling process: the embedded default, so the CLI works
on a machine with no Redis. With a broker the delivery guarantees come from ``acks_late`` + idempotent tasks:

* ``task_acks_late`` + ``task_reject_on_worker_lost``: a task is acknowledged only when it finished, so a killed
  worker's task goes back to the queue (at once when only the pool child died; after the visibility timeout when
  the whole worker died);
* ``worker_prefetch_multiplier=1``: a worker holds no more tasks than it runs, so a second worker takes the rest;
* the Redis visibility timeout (``CELERY_VISIBILITY_TIMEOUT_S``) is at least twice the longest countdown any task
  uses (``MAX_COUNTDOWN_S``), or Redis would hand a task that is merely waiting to a second worker.
"""

from __future__ import annotations

import gc
import logging
import os
import random
import sys
import time
from functools import lru_cache

from celery import Celery, signals
from celery.schedules import crontab
from kombu import Queue

from service.config import Settings
from service.observability import TaskMetrics, configure_logging
from service.runtime import Runtime

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

log = logging.getLogger(__name__)

TASK_MODULES = [
    "workers.tasks.ingest",
    "workers.tasks.train",
    "workers.tasks.send",
    "workers.tasks.mail",
    "workers.tasks.webhooks",
]
QUEUES = ("default", "ingest", "train", "send")


def max_countdown_s(settings: Settings) -> int:
    """The longest countdown/ETA a task may use: half the visibility timeout, and never more than an hour."""
    return max(1, min(3600, settings.CELERY_VISIBILITY_TIMEOUT_S // 2))


@lru_cache(maxsize=1)
def get_runtime() -> Runtime:
    """One runtime (engine, settings) per worker process."""
    return Runtime.from_env()


def make_celery(settings: Settings | None = None) -> Celery:
    settings = settings or Settings.from_env()
    broker = settings.CELERY_BROKER_URL
    transport: dict[str, object] = {"visibility_timeout": settings.CELERY_VISIBILITY_TIMEOUT_S}
    if settings.CELERY_KEY_PREFIX:
        transport["global_keyprefix"] = settings.CELERY_KEY_PREFIX
    app = Celery("paperboy", include=TASK_MODULES)
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
        task_routes={
            "workers.tasks.ingest.*": {"queue": "ingest"},
            "workers.tasks.train.*": {"queue": "train"},
            "workers.tasks.send.*": {"queue": "send"},
            "workers.tasks.mail.*": {"queue": "default"},
            "workers.tasks.webhooks.*": {"queue": "default"},
        },
        beat_schedule={
            "poll-inbox": {"task": "workers.tasks.ingest.poll_inbox", "schedule": 15 * 60},
            "fetch-daily-papers": {"task": "workers.tasks.ingest.fetch_today", "schedule": crontab(minute=5)},
            "nightly-training": {"task": "workers.tasks.train.train_model", "schedule": crontab(hour=2, minute=30)},
            "plan-due-digests": {"task": "workers.tasks.send.plan_due_digests", "schedule": crontab(minute=0)},
        },
    )
    return app


SETTINGS = Settings.from_env()
# The longest countdown any task here uses (retries back off up to it); see ``max_countdown_s``.
MAX_COUNTDOWN_S = max_countdown_s(SETTINGS)


def backoff_s(base: float, retries: int) -> float:
    """``base``, doubled per retry, capped below the visibility timeout, with jitter against thundering herds."""
    return min(float(MAX_COUNTDOWN_S), base * 2**retries) * random.uniform(0.8, 1.2)


celery_app = make_celery(SETTINGS)

NO_BROKER = (
    "paperboy: CELERY_BROKER_URL is not set, so this {program} would wait on an in-memory queue that nothing else "
    "can reach. Set it to the broker every process shares (e.g. CELERY_BROKER_URL=redis://127.0.0.1:6379/0); "
    "without workers, `paperboy daily` and `paperboy send` run every task in their own process."
)


def refuse_without_broker(program: str, settings: Settings = SETTINGS) -> None:
    """A worker or beat without a broker would look healthy and do nothing: stop it at once, saying why."""
    if not settings.CELERY_BROKER_URL:
        print(NO_BROKER.format(program=program), file=sys.stderr, flush=True)
        raise SystemExit(2)


@signals.celeryd_init.connect
def _worker_needs_a_broker(**_kwargs: object) -> None:
    refuse_without_broker("worker")


@signals.beat_init.connect
def _beat_needs_a_broker(**_kwargs: object) -> None:
    refuse_without_broker("beat")


@signals.worker_init.connect
def _preload(**_kwargs: object) -> None:
    """Import the recommender (numpy, scipy, scikit-learn) and compile the email templates in the worker's parent
    process, before the pool forks: every pool child then starts with them loaded instead of spending seconds of
    CPU on the imports in its first send batch, while the other children are sending."""
    import service.recommend  # noqa: F401 - imported for its side effect: loaded once, shared by the forks
    from service.digest.render import templates

    loaded = templates()
    for name in ("body.html", "_pick.html"):
        loaded.html.get_template(f"daily-digest/{name}")
    for name in ("body.txt", "_pick.txt", "subject.txt"):
        loaded.text.get_template(f"daily-digest/{name}")
    _freeze_heap()


def _freeze_heap() -> None:
    """Move every object alive now out of the garbage collector's reach (``gc.freeze``).

    A worker holds a large long-lived heap (modules, templates, models, caches) that every full collection would
    walk again, at a moment decided by allocations, often mid-batch: ~10% of a send batch's CPU. Frozen, it is
    never walked; frozen before the fork, the children also stop touching (and so copying) the parent's pages.
    """
    gc.collect()
    gc.freeze()


_warm = False


@signals.task_postrun.connect
def _freeze_after_first_task(**_kwargs: object) -> None:
    """After its first task a pool child holds its own long-lived state (runtime, connections, caches): freeze
    that too, once."""
    global _warm
    if not _warm:
        _warm = True
        _freeze_heap()


@signals.setup_logging.connect
def _structured_logs(**_kwargs: object) -> None:
    """Workers log JSON lines, like the web app in production."""
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))


# --- task latency, shared with the web app's /metrics through Redis ----------------------------------------

_started: dict[str, float] = {}


@lru_cache(maxsize=1)
def _task_metrics() -> TaskMetrics | None:
    url = SETTINGS.REDIS_URL or SETTINGS.CELERY_BROKER_URL
    return TaskMetrics.from_url(url, prefix=SETTINGS.CELERY_KEY_PREFIX) if url else None


@signals.task_prerun.connect
def _task_started(task_id: str | None = None, **_kwargs: object) -> None:
    if task_id:
        _started[task_id] = time.monotonic()


@signals.task_postrun.connect
def _task_finished(task_id: str | None = None, task=None, state: str | None = None, **_kwargs: object) -> None:  # noqa: ANN001
    began = _started.pop(task_id or "", None)
    metrics = _task_metrics()
    if began is None or metrics is None or task is None or task.request.is_eager:
        return
    metrics.observe(task.name, state or "UNKNOWN", time.monotonic() - began)
