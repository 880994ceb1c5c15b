"""Training tasks: the nightly full training (beat) and folding one subscriber's new clicks in between.

Training is idempotent in effect (each run writes a new version; the newest ready one is used), so a redelivered
task after a lost worker is harmless. A failed training is recorded on its ``ModelVersion`` row and not retried:
the last good model keeps serving until the next night.
"""

from __future__ import annotations

import logging
from typing import Any

from service.queue import FOLD_IN_CLICKS
from workers.app import RETRY_OPTIONS, celery_app, get_runtime

log = logging.getLogger(__name__)


@celery_app.task(name="workers.tasks.train.train_model")
def train_model() -> dict[str, Any]:
    """Nightly: fit a new model on all interactions (scheduled by beat as ``workers.tasks.train.train_model``)."""
    from service.recommend import train_model as train

    report = train(get_runtime())
    if report["status"] != "ready":
        log.error("training failed: %s", report.get("error"))
    return report


@celery_app.task(name=FOLD_IN_CLICKS, max_retries=3, **RETRY_OPTIONS)
def fold_in_clicks(subscriber_id: int) -> dict[str, Any]:
    """Update one subscriber's vectors in the current model from their newest clicks and feedback (queued by the
    web app after each learnable click or feedback, ``service.subscribers.learning``)."""
    from service.recommend import fold_in_clicks as fold_in

    return fold_in(get_runtime(), int(subscriber_id))
