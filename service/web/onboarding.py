"""The welcome page: a reader searches the recent papers and picks a few they like, so their first digest is
ranked from those papers. Reached from the confirmation and preferences pages with the preferences link's token;
GET only searches and shows, POST (with CSRF) records the picks."""

from __future__ import annotations

import logging

from flask import Blueprint, render_template, request

from service.recommend.onboarding import (
    MAX_PICKS,
    InvalidPicks,
    learn_picks,
    parse_picks,
    picked_papers,
    record_picks,
    search_recent,
)
from service.web.access import subscriber_or_abort
from service.web.context import get_db, get_runtime

log = logging.getLogger(__name__)

bp = Blueprint("onboarding", __name__)


def _page(session, subscriber, token: str, query: str, *, error: str | None = None, status: int = 200):
    return render_template(
        "web/onboarding.html", token=token, query=query, results=search_recent(session, query),
        picked=picked_papers(session, subscriber.id), error=error, max_picks=MAX_PICKS,
    ), status  # fmt: skip


@bp.get("/preferences/<token>/papers")
def welcome(token: str):
    query = request.args.get("q", "")[:200]
    with get_db().session() as session:
        subscriber = subscriber_or_abort(session, "preferences", token)
        return _page(session, subscriber, token, query)


@bp.post("/preferences/<token>/papers")
def pick(token: str):
    """Record the picked papers, then fold them into the model so the next digest starts from them."""
    query = request.form.get("q", "")[:200]
    with get_db().session() as session:
        subscriber = subscriber_or_abort(session, "preferences", token)
        try:
            added = record_picks(session, subscriber.id, parse_picks(request.form.getlist("paper_id")))
        except InvalidPicks as exc:
            session.rollback()
            return _page(session, subscriber, token, query, error=f"Nothing was saved: {exc}.", status=400)
        subscriber_id = subscriber.id
    try:
        learned = learn_picks(get_runtime(), subscriber_id)
    except Exception:  # noqa: BLE001 - the picks are stored; the nightly training learns them anyway
        log.exception("fold-in after picks failed subscriber=%s", subscriber_id)
        learned = {"status": "failed"}
    log.info("picks subscriber=%s added=%s fold_in=%s", subscriber_id, added, learned.get("status"))
    with get_db().session() as session:
        subscriber = subscriber_or_abort(session, "preferences", token)
        picked = picked_papers(session, subscriber.id)
        return render_template("web/onboarding_done.html", token=token, picked=picked, added=added)
