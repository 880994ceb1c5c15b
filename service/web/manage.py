"""A subscriber's own pages, reached by signed links: preferences, unsubscribe (incl. RFC 8058) and resubscribe."""

from __future__ import annotations

import logging

from flask import Blueprint, render_template, request

from service.extensions import csrf
from service.mail.addresses import InvalidEmail
from service.subscribers.lifecycle import resubscribe, unsubscribe
from service.subscribers.preferences import (
    FORMATS,
    FREQUENCIES,
    MAX_PAPERS,
    MIN_PAPERS,
    WEEKDAYS,
    InvalidPreferences,
    current_preferences,
    update_preferences,
)
from service.subscribers.requests import MailUnavailable, request_preferences_link
from service.subscribers.zones import UTC_NAME, canonical_zone, canonical_zones, zone_menu
from service.web.access import subscriber_link, subscriber_or_abort
from service.web.context import get_db, get_runtime
from service.web.errors import unavailable
from service.web.headers import SCRIPT_PAGE_CSP
from service.web.limits import mail_to_address, per_ip
from service.web.personal import remember_reader

log = logging.getLogger(__name__)

bp = Blueprint("manage", __name__)

ONE_CLICK_BODY = ("List-Unsubscribe", "One-Click")


@bp.get("/preferences")
def preferences_request_page():
    return render_template("web/preferences_request.html", errors={}, form={})


@bp.post("/preferences")
@per_ip("preferences-link")
@mail_to_address
def preferences_request():
    """Email the preferences link; the answer is the same whether or not the address is subscribed."""
    email = request.form.get("email", "")
    try:
        log.info("preferences link request: %s", request_preferences_link(get_runtime(), email))
    except InvalidEmail as exc:
        errors = {"email": f"That email address is not valid: {exc}"}
        return render_template("web/preferences_request.html", errors=errors, form={"email": email}), 400
    except MailUnavailable as exc:
        log.error("preferences link request: %s", exc)
        return unavailable("We could not send the email with your link just now. Please try again in a few minutes.")
    return render_template("web/check_inbox.html", reason="preferences")


def _preferences_page(subscriber, token: str, *, values=None, errors=None, saved=False, status=200):
    values = values if values is not None else current_preferences(subscriber)
    remember_reader(subscriber)
    page = render_template(
        "web/preferences.html",
        token=token,
        subscriber=subscriber,
        values=values,
        errors=errors or {},
        saved=saved,
        frequencies=FREQUENCIES,
        formats=FORMATS,
        weekdays=WEEKDAYS,
        zone_menu=zone_menu(),
        zone_names=canonical_zones(),
        selected_zone=canonical_zone(str(values.get("timezone") or UTC_NAME)),
        # UTC is the default nobody chose: the page offers the browser's zone instead (saved only on Save)
        guess_zone=values.get("timezone") == UTC_NAME and not errors and not saved,
        min_papers=MIN_PAPERS,
        max_papers=MAX_PAPERS,
        unsubscribe_url=subscriber_link("manage.unsubscribe_page", "unsubscribe", subscriber),
        data_url=subscriber_link("privacy.my_data", "data", subscriber),
        feed_url=subscriber_link("reader.feed", "feed", subscriber),
        resubscribe_url=subscriber_link("manage.resubscribe_post", "unsubscribe", subscriber),
    )
    return page, status, {"Content-Security-Policy": SCRIPT_PAGE_CSP}


@bp.get("/preferences/<token>")
def preferences(token: str):
    with get_db().session() as session:
        subscriber = subscriber_or_abort(session, "preferences", token)
        return _preferences_page(subscriber, token)


@bp.post("/preferences/<token>")
def preferences_save(token: str):
    """Validate everything, apply all or nothing; errors re-show the form with what the reader typed."""
    with get_db().session() as session:
        subscriber = subscriber_or_abort(session, "preferences", token)
        try:
            update_preferences(session, subscriber, request.form)
        except InvalidPreferences as exc:
            session.rollback()
            typed = {key: request.form.get(key, "") for key in current_preferences(subscriber)}
            typed["tracking_enabled"] = "tracking_enabled" in request.form
            return _preferences_page(subscriber, token, values=typed, errors=exc.errors, status=400)
        return _preferences_page(subscriber, token, saved=True)


@bp.get("/unsubscribe/<token>")
def unsubscribe_page(token: str):
    """Only a page with a button: link scanners GET every link and must not unsubscribe anyone."""
    with get_db().session() as session:
        subscriber = subscriber_or_abort(session, "unsubscribe", token)
        preferences_url = remember_reader(subscriber)
        return render_template(
            "web/unsubscribe.html", token=token, subscriber=subscriber, preferences_url=preferences_url
        )


@bp.post("/unsubscribe/<token>")
@csrf.exempt
def unsubscribe_post(token: str):
    """Unsubscribe at once. The RFC 8058 one-click POST (no cookie, no CSRF token) is answered 200, never 3xx.

    CSRF is waived only for the exact one-click body; the page's own form must carry its token.
    """
    one_click = request.form.get(ONE_CLICK_BODY[0]) == ONE_CLICK_BODY[1]
    if not one_click:
        csrf.protect()
    with get_db().session() as session:
        subscriber = subscriber_or_abort(session, "unsubscribe", token)
        changed = unsubscribe(session, subscriber)
        log.info("unsubscribe subscriber=%s one_click=%s changed=%s", subscriber.id, one_click, changed)
        if one_click:
            return "You are unsubscribed from Paperboy.\n", 200, {"Content-Type": "text/plain; charset=utf-8"}
        preferences_url = remember_reader(subscriber)
        return render_template(
            "web/unsubscribed.html", token=token, subscriber=subscriber, preferences_url=preferences_url
        )


@bp.post("/unsubscribe/<token>/resubscribe")
def resubscribe_post(token: str):
    with get_db().session() as session:
        subscriber = subscriber_or_abort(session, "unsubscribe", token)
        resubscribe(session, subscriber)
        preferences_url = remember_reader(subscriber)
        return render_template("web/resubscribed.html", subscriber=subscriber, preferences_url=preferences_url)
