"""Public pages: the landing page, today's trending papers, subscribing and confirming (double opt-in)."""

from __future__ import annotations

import logging

from flask import Blueprint, render_template, request

from service.mail.addresses import InvalidEmail
from service.subscribers.lifecycle import CONFIRMED, UNSUBSCRIBED, confirm
from service.subscribers.preferences import parse_list
from service.subscribers.requests import MailUnavailable, request_subscription
from service.web.access import subscriber_or_abort
from service.web.context import get_db, get_runtime
from service.web.errors import unavailable
from service.web.limits import mail_to_address, per_ip
from service.web.personal import remember_reader
from service.web.trending import trending_papers

log = logging.getLogger(__name__)

bp = Blueprint("public", __name__, static_folder="static", static_url_path="/assets")

SAMPLE_SIZE = 5


def _landing(status: int = 200, *, errors: dict[str, str] | None = None, form: dict[str, str] | None = None):
    with get_db().session() as session:
        day, papers = trending_papers(session, limit=SAMPLE_SIZE)
    page = render_template("web/index.html", day=day, papers=papers, errors=errors or {}, form=form or {})
    return page, status


@bp.get("/")
def index():
    return _landing()


@bp.get("/trending")
def trending():
    with get_db().session() as session:
        day, papers = trending_papers(session, limit=30)
    return render_template("web/trending.html", day=day, papers=papers)


@bp.post("/subscribe")
@per_ip("subscribe")
@mail_to_address
def subscribe():
    """Start a double opt-in; the answer is the same whether or not the address was already subscribed."""
    form = {"email": request.form.get("email", ""), "topics": request.form.get("topics", "")}
    errors: dict[str, str] = {}
    try:
        topics = parse_list(form["topics"], "topics")
    except ValueError as exc:
        errors["topics"] = str(exc)
    if not errors:
        try:
            outcome = request_subscription(get_runtime(), form["email"], topics)
            log.info("subscribe request: %s", outcome)
        except InvalidEmail as exc:
            errors["email"] = f"That email address is not valid: {exc}"
        except MailUnavailable as exc:
            log.error("subscribe request: %s", exc)
            return unavailable("We could not send your confirmation email just now. Please try again in a few minutes.")
    if errors:
        return _landing(400, errors=errors, form=form)
    return render_template("web/check_inbox.html", reason="subscribe")


@bp.get("/confirm/<token>")
def confirm_page(token: str):
    """Show a confirm button: a link scanner's GET must not confirm anything. A link already used says so and
    leads to the preferences instead."""
    with get_db().session() as session:
        subscriber = subscriber_or_abort(session, "confirm", token)
        if subscriber.status == CONFIRMED:
            preferences_url = remember_reader(subscriber)
            return render_template("web/confirmed.html", preferences_url=preferences_url, already=True)
        if subscriber.status == UNSUBSCRIBED:
            return _unsubscribed_since()
        return render_template("web/confirm.html", token=token, subscriber=subscriber)


def _unsubscribed_since():  # noqa: ANN202 - a Flask response
    """A confirmation link of a reader who unsubscribed since: it confirms nothing (``lifecycle.confirm``)."""
    message = (
        "You unsubscribed after this link was sent, so it no longer subscribes you. "
        "To receive Paperboy again, subscribe from the home page: we will send a fresh link."
    )
    return render_template("web/error.html", code=409, title="You are unsubscribed", message=message), 409


@bp.post("/confirm/<token>")
def confirm_post(token: str):
    with get_db().session() as session:
        subscriber = subscriber_or_abort(session, "confirm", token)
        changed = confirm(session, subscriber)
        if subscriber.status == UNSUBSCRIBED:
            return _unsubscribed_since()
        preferences_url = remember_reader(subscriber)
    return render_template("web/confirmed.html", preferences_url=preferences_url, already=not changed)
