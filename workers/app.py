"""The Celery app of the workers: ``service.queue.make_celery`` with the task modules and the beat schedule.

Without ``CELERY_BROKER_URL`` tasks run eagerly in the calling process (the embedded default). Retries are Celery's
own (``autoretry_for`` with exponential backoff and jitter) on one list of transient errors (``RETRYABLE``): a lost
database connection or a provider refusing for now; a countdown never exceeds half the visibility timeout
(``service.queue.max_countdown_s``), or Redis would hand a waiting task to a second worker.
"""

from __future__ import annotations

import gc
import logging
import os
import random
import sys
import time
from functools import lru_cache

from celery import signals
from celery.schedules import crontab

from service.config import Settings
from service.db import TRANSIENT_DB_ERRORS
from service.digest.recovery import REAP_EVERY_S
from service.mail.backends import TransientSendError
from service.observability import TaskMetrics, configure_logging
from service.queue import FOLD_IN_RECENT, REAP_DELIVERIES, TASK_MODULES, make_celery, max_countdown_s
from service.runtime import Runtime

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

log = logging.getLogger(__name__)

# What a later attempt can get past: the database (a lost connection, a restart) or the provider refusing for now.
RETRYABLE = (*TRANSIENT_DB_ERRORS, TransientSendError)
FOLD_IN_EVERY_S = 300  # how often the beat folds the readers who reacted lately into the model


@lru_cache(maxsize=1)
def get_runtime() -> Runtime:
    """One runtime (engine, settings, dispatcher) per worker process."""
    return Runtime.from_env()


SETTINGS = Settings.from_env()
# The longest countdown any task here uses (retries back off up to it); see ``max_countdown_s``.
MAX_COUNTDOWN_S = max_countdown_s(SETTINGS)
# Celery's retry options for every task that retries transient errors: first after TASK_RETRY_BASE_S, doubled per
# retry, capped at MAX_COUNTDOWN_S, with full jitter against thundering herds.
RETRY_OPTIONS = {
    "autoretry_for": RETRYABLE,
    "retry_backoff": max(1, int(SETTINGS.TASK_RETRY_BASE_S)),
    "retry_backoff_max": MAX_COUNTDOWN_S,
    "retry_jitter": True,
}

celery_app = make_celery(SETTINGS, include=TASK_MODULES)
celery_app.conf.beat_schedule = {
    "poll-inbox": {"task": "workers.tasks.ingest.poll_inbox", "schedule": 15 * 60},
    "fetch-daily-papers": {"task": "workers.tasks.ingest.fetch_today", "schedule": crontab(minute=5)},
    "nightly-training": {"task": "workers.tasks.train.train_model", "schedule": crontab(hour=2, minute=30)},
    "plan-due-digests": {"task": "workers.tasks.send.plan_due_digests", "schedule": crontab(minute=0)},
    "reap-deliveries": {"task": REAP_DELIVERIES, "schedule": REAP_EVERY_S},
    "fold-in-recent": {"task": FOLD_IN_RECENT, "schedule": FOLD_IN_EVERY_S},
}


def backoff_s(base: float, retries: int) -> float:
    """A countdown for a retry Celery cannot make itself (one that carries new arguments): ``base``, doubled per
    retry, capped at MAX_COUNTDOWN_S, with the same full jitter as ``RETRY_OPTIONS``."""
    return random.uniform(0, min(float(MAX_COUNTDOWN_S), base * 2**retries))  # noqa: S311 - jitter, not secrets


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
    from service.mail.render import templates

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
