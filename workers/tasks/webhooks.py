"""Webhook tasks: re-apply stored SendGrid events (idempotent: each ``sg_event_id`` acts once).

The web endpoint applies events in the request so none is lost when the workers are down; this task is for
replaying a saved batch (e.g. exported from SendGrid's Event Webhook history) through the same code path.
"""

from __future__ import annotations

from service.digest.events import apply_provider_events
from workers.app import RETRY_OPTIONS, celery_app, get_runtime


@celery_app.task(name="workers.tasks.webhooks.process_sendgrid_events", acks_late=True, max_retries=8, **RETRY_OPTIONS)
def process_sendgrid_events(events: list[dict]) -> dict[str, int]:
    """Apply already verified events; duplicates are counted and ignored."""
    rt = get_runtime()
    with rt.db.session() as session:
        return apply_provider_events(session, list(events))
