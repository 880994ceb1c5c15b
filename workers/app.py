"""The Celery app, configured from the same environment as everything else.

Without ``CELERY_BROKER_URL`` tasks run eagerly in the calling process: the embedded default, so the CLI works
on a machine with no Redis. With a broker the delivery guarantees come from ``acks_late`` + idempotent tasks.
"""

from __future__ import annotations

import os
from functools import lru_cache

from celery import Celery, signals
from celery.schedules import crontab

from service.config import Settings
from service.observability import configure_logging
from service.runtime import Runtime

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

TASK_MODULES = ["workers.tasks.ingest", "workers.tasks.train", "workers.tasks.send", "workers.tasks.webhooks"]

# The longest countdown/ETA any task uses, in seconds; the Redis visibility timeout must exceed it or Redis
# redelivers a task that is merely waiting.
MAX_COUNTDOWN_S = 3600


@lru_cache(maxsize=1)
def get_runtime() -> Runtime:
    """One runtime (engine, settings) per worker process."""
    return Runtime.from_env()


def make_celery(settings: Settings | None = None) -> Celery:
    settings = settings or Settings.from_env()
    broker = settings.CELERY_BROKER_URL
    app = Celery("paperboy", include=TASK_MODULES)
    app.conf.update(
        broker_url=broker or "memory://",
        result_backend=settings.CELERY_RESULT_BACKEND or None,
        task_always_eager=not broker,
        task_eager_propagates=True,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options={"visibility_timeout": MAX_COUNTDOWN_S * 2},
        result_expires=24 * 3600,
        timezone="UTC",
        enable_utc=True,
        broker_connection_retry_on_startup=True,
        task_default_queue="default",
        task_routes={
            "workers.tasks.ingest.*": {"queue": "ingest"},
            "workers.tasks.train.*": {"queue": "train"},
            "workers.tasks.send.*": {"queue": "send"},
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


celery_app = make_celery()


@signals.setup_logging.connect
def _structured_logs(**_kwargs: object) -> None:
    """Workers log JSON lines, like the web app in production (task latency: Flower's /metrics)."""
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
