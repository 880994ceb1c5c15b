"""``POST /webhooks/sendgrid``: SendGrid's signed Event Webhook (no CSRF: the ECDSA signature authenticates it).

The signature is checked here, on the raw body, before anything is parsed. The events are then applied in the
request (a few queries each) so that none is lost when the workers are down; SendGrid retries any non-2xx.
"""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify, request

from service.digest.events import apply_provider_events
from service.extensions import csrf
from service.mail.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookRejected,
    parse_events,
    verify_signature,
)
from service.web.context import get_runtime

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__)
csrf.exempt(bp)


@bp.post("/webhooks/sendgrid")
def sendgrid_events():
    rt = get_runtime()
    raw = request.get_data(cache=False)
    try:
        verify_signature(
            rt.settings.SENDGRID_WEBHOOK_PUBLIC_KEY,
            request.headers.get(SIGNATURE_HEADER),
            request.headers.get(TIMESTAMP_HEADER),
            raw,
        )
        events = parse_events(raw)
    except WebhookRejected as exc:
        log.warning("rejected SendGrid event post: %s", exc)
        return jsonify(error=str(exc)), exc.status
    with rt.db.session() as session:
        counts = apply_provider_events(session, events)
    return jsonify(received=len(events), **counts), 200
