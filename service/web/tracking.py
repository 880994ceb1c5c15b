"""Tracked links from the email: ``/c/<token>[/<resource>]`` records a click and redirects; feedback buttons.

The click path depends on the database only (never Redis or the workers): the click is written synchronously, and
if that write fails the reader is still redirected and the failure logged. The destination always comes from the
stored paper (``service.paper_urls``), never from the request, so the endpoint cannot be used as an open redirect.
A link whose delivery is gone, or that names an id now belonging to someone else, opens nothing (410).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Blueprint, abort, redirect, render_template, request, url_for

from service.links import RESOURCES
from service.models import Paper, Subscriber
from service.paper_urls import paper_path
from service.subscribers.tracking import record_click, record_feedback, resolve_click, undo_feedback
from service.tokens import DeliveryClaim
from service.web.access import pick_claim_or_abort
from service.web.context import get_db, get_runtime
from service.web.personal import remember_reader

log = logging.getLogger(__name__)

bp = Blueprint("tracking", __name__)

GONE = "This link no longer works: the digest it came from is no longer ours to show."


@bp.get("/c/<token>", defaults={"resource": "abs"})
@bp.get("/c/<token>/<resource>")
def click(token: str, resource: str):
    if resource not in RESOURCES:
        abort(404)
    claim = pick_claim_or_abort(token)
    if claim.kind is not None:  # an old "more/less" button's token is not a click link
        abort(404)
    session = get_db().sessionmaker()
    try:
        target = resolve_click(session, claim, resource)
        if target is None:
            abort(410, description=GONE)
        if target.tracking_enabled:
            try:
                record_click(
                    session,
                    subscriber_id=target.subscriber_id,
                    delivery_id=claim.delivery_id,
                    paper_id=target.paper_id,
                    position=claim.position,
                    user_agent=request.headers.get("User-Agent"),
                    head_request=request.method == "HEAD",
                )
                session.commit()
            except Exception:  # noqa: BLE001 - the reader still gets the paper; the lost click is logged
                session.rollback()
                log.exception("could not record click delivery=%s paper=%s", claim.delivery_id, target.paper_id)
        if target.url is None:
            if resource != "abs":
                abort(404, description="This paper has no such link.")
            paper = session.get(Paper, target.paper_id)
            return redirect(paper_path(paper), code=302)  # no page elsewhere: the paper's page on our site
    finally:
        session.close()
    return redirect(target.url, code=302)


def _feedback_claim(token: str, kind: str | None) -> tuple[DeliveryClaim, str]:
    claim = pick_claim_or_abort(token)
    chosen = kind if claim.kind is None else claim.kind  # old buttons carried their kind in the token
    if chosen not in ("more", "less") or (kind is not None and claim.kind is not None):
        abort(404)
    return claim, chosen


def _feedback_target(session, claim: DeliveryClaim):  # noqa: ANN001, ANN202
    target = resolve_click(session, claim)
    if target is None:
        abort(410, description=GONE)
    return target


@bp.get("/feedback/<token>", defaults={"kind": None})
@bp.get("/feedback/<token>/<kind>")
def feedback_page(token: str, kind: str | None):
    """A confirm button: a scanner's GET records nothing."""
    claim, chosen = _feedback_claim(token, kind)
    with get_db().session() as session:
        target = _feedback_target(session, claim)
        action = url_for("tracking.feedback_post", token=token, **({"kind": kind} if kind else {}))
        subscriber = session.get(Subscriber, target.subscriber_id)
        if subscriber is not None:
            remember_reader(subscriber)
        return render_template("web/feedback.html", action=action, kind=chosen, title=target.title)


@bp.post("/feedback/<token>", defaults={"kind": None})
@bp.post("/feedback/<token>/<kind>")
def feedback_post(token: str, kind: str | None):
    return _answer(token, kind, record_feedback, undone=False)


@bp.post("/feedback/<token>/undo", defaults={"kind": None})
@bp.post("/feedback/<token>/<kind>/undo")
def feedback_undo(token: str, kind: str | None):
    """Take the answer back (a mistaken tap on a phone happens): the next training no longer sees it."""
    return _answer(token, kind, undo_feedback, undone=True)


def _answer(token: str, kind: str | None, act: Callable[..., bool], *, undone: bool) -> str:
    """Record (``record_feedback``) or take back (``undo_feedback``) an answer; the page then says what happened,
    offers the way to undo (or redo) it, and the ways back: the digest, the reader's preferences."""
    claim, chosen = _feedback_claim(token, kind)
    with get_db().session() as session:
        target = _feedback_target(session, claim)
        act(session, delivery_id=claim.delivery_id, paper_id=target.paper_id, kind=chosen)
        subscriber = session.get(Subscriber, target.subscriber_id)
        route = {"kind": kind} if kind else {}
        return render_template(
            "web/feedback_done.html",
            kind=chosen,
            title=target.title,
            undone=undone,
            undo_action=url_for("tracking.feedback_undo", token=token, **route),
            redo_action=url_for("tracking.feedback_post", token=token, **route),
            digest_url=get_runtime().links.digest(claim.delivery_id, subscriber.link_key) if subscriber else None,
            preferences_url=remember_reader(subscriber) if subscriber else None,
        )
