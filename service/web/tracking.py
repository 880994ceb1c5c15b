"""Tracked links from the email: ``/c/<token>`` records a click and redirects to the paper; feedback buttons.

The click path depends on the database only (never Redis or the workers): the click is written synchronously,
and if that write fails the reader is still redirected and the failure logged. The destination always comes
from the stored paper, never from the request, so the endpoint cannot be used as an open redirect.
"""

from __future__ import annotations

import logging

from flask import Blueprint, abort, redirect, render_template, request

from service import get_db
from service.models import Paper
from service.subscribers.tracking import record_click, record_feedback, resolve_click
from service.web.access import delivery_payload_or_abort

log = logging.getLogger(__name__)

bp = Blueprint("tracking", __name__)


@bp.get("/c/<token>")
def click(token: str):
    payload = delivery_payload_or_abort("click", token)
    if "p" not in payload:
        abort(404)
    delivery_id, paper_id, position = payload["d"], payload["p"], payload.get("r")
    session = get_db().sessionmaker()
    try:
        target = resolve_click(session, delivery_id, paper_id)
        if target is not None and target.subscriber_id is not None and target.tracking_enabled:
            try:
                record_click(
                    session,
                    subscriber_id=target.subscriber_id,
                    delivery_id=delivery_id,
                    paper_id=paper_id,
                    position=position,
                    user_agent=request.headers.get("User-Agent"),
                    head_request=request.method == "HEAD",
                )
                session.commit()
            except Exception:  # noqa: BLE001 - the reader still gets the paper; the lost click is logged
                session.rollback()
                log.exception("could not record click delivery=%s paper=%s", delivery_id, paper_id)
        if target is not None and target.url is None:
            return render_template("web/paper.html", paper=session.get(Paper, paper_id))
    finally:
        session.close()
    if target is None:
        abort(404, description="This paper is no longer in our archive.")
    return redirect(target.url, code=302)


def _feedback_payload(token: str) -> dict:
    payload = delivery_payload_or_abort("feedback", token)
    if "p" not in payload or "k" not in payload:
        abort(404)
    return payload


def _feedback_target(session, payload: dict):
    """The paper the feedback link names, or the 404 page when it is gone."""
    target = resolve_click(session, payload["d"], payload["p"])
    if target is None:
        abort(404, description="This paper is no longer in our archive.")
    return target


@bp.get("/feedback/<token>")
def feedback_page(token: str):
    """A confirm button: a scanner's GET records nothing."""
    payload = _feedback_payload(token)
    with get_db().session() as session:
        target = _feedback_target(session, payload)
        return render_template("web/feedback.html", token=token, kind=payload["k"], title=target.title)


@bp.post("/feedback/<token>")
def feedback_post(token: str):
    payload = _feedback_payload(token)
    with get_db().session() as session:
        target = _feedback_target(session, payload)
        record_feedback(session, delivery_id=payload["d"], paper_id=payload["p"], kind=payload["k"])
    return render_template("web/feedback_done.html", kind=payload["k"], title=target.title)
