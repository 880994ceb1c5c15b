"""Training tasks: the nightly full training (beat), and folding readers' new clicks in between: every
``FOLD_IN_EVERY_S`` the beat finds the readers who reacted lately and queues one ``fold_in_clicks`` each, so a click
changes that reader's next digest without waiting for the night (the click path itself never touches the queue).

Training is idempotent in effect (each run writes a new version; the newest ready one is used), so a redelivered
task after a lost worker is harmless. A failed training is recorded on its ``ModelVersion`` row and not retried:
the last good model keeps serving until the next night.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from service.queue import FOLD_IN_CLICKS, FOLD_IN_RECENT
from workers.app import FOLD_IN_EVERY_S, RETRY_OPTIONS, celery_app, get_runtime

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
    """Update one subscriber's vectors in the current model from all their learnable reactions (idempotent)."""
    from service.recommend import fold_in_clicks as fold_in

    return fold_in(get_runtime(), int(subscriber_id))


@celery_app.task(name=FOLD_IN_RECENT, max_retries=3, **RETRY_OPTIONS)
def fold_in_recent(now_iso: str | None = None) -> dict[str, int]:
    """Every ``FOLD_IN_EVERY_S`` (beat): queue a fold-in for each reader who reacted in the last two intervals (each
    reaction is seen at least once even when a beat run is late; folding a reader twice changes nothing)."""
    from service.recommend.foldin import readers_with_new_reactions

    now = dt.datetime.fromisoformat(now_iso) if now_iso else dt.datetime.now(dt.UTC)
    since = now.astimezone(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=2 * FOLD_IN_EVERY_S)
    with get_runtime().db.session() as session:
        readers = readers_with_new_reactions(session, since)
    for subscriber_id in readers:
        fold_in_clicks.delay(subscriber_id)
    return {"queued": len(readers)}
