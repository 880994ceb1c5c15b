"""Training tasks: the nightly full training (beat) and folding one subscriber's new clicks in between.

Training is idempotent in effect (each run writes a new version; the newest ready one is used), so a redelivered
task after a lost worker is harmless. A failed training is recorded on its ``ModelVersion`` row and not retried:
the last good model keeps serving until the next night.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError

from workers.app import celery_app, get_runtime

log = logging.getLogger(__name__)


@celery_app.task(bind=True, max_retries=3)
def train_model(self) -> dict[str, Any]:
    """Nightly: fit a new model on all interactions (scheduled by beat as ``workers.tasks.train.train_model``)."""
    from service.recommend import train_model as train

    report = train(get_runtime())
    if report["status"] != "ready":
        log.error("training failed: %s", report.get("error"))
    return report


@celery_app.task(bind=True, max_retries=3)
def fold_in_clicks(self, subscriber_id: int) -> dict[str, Any]:
    """Update one subscriber's vectors in the current model from their newest clicks."""
    from service.recommend import fold_in_clicks as fold_in

    try:
        return fold_in(get_runtime(), subscriber_id)
    except (OperationalError, InterfaceError) as exc:
        raise self.retry(exc=exc, countdown=30 * 2**self.request.retries) from exc
