"""Privacy: a reader downloads everything we hold about them, or deletes it with its history.

Deleting cannot be undone, so it takes two steps: the data page links to a page that says what will go, and only
its form, with the box ticked, deletes.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, render_template, request

from service.subscribers.privacy import delete_data, export_data
from service.web.access import subscriber_or_abort
from service.web.context import get_db
from service.web.personal import remember_reader

bp = Blueprint("privacy", __name__)

CONFIRM_FIELD = "confirm"


@bp.get("/my-data/<token>")
def my_data(token: str):
    with get_db().session() as session:
        subscriber = subscriber_or_abort(session, "data", token)
        remember_reader(subscriber)
        return render_template("web/my_data.html", token=token, subscriber=subscriber)


@bp.get("/my-data/<token>/export.json")
def export(token: str):
    """Reading only: a scanner fetching it changes nothing (and the link expires within a day)."""
    with get_db().session() as session:
        subscriber = subscriber_or_abort(session, "data", token)
        document = export_data(session, subscriber)
    body = json.dumps(document, indent=2, ensure_ascii=False, default=str)
    disposition = 'attachment; filename="paperboy-my-data.json"'
    return Response(body, mimetype="application/json", headers={"Content-Disposition": disposition})


@bp.get("/my-data/<token>/delete")
def delete_page(token: str):
    """The confirmation step: what deleting removes, and the form that does it."""
    with get_db().session() as session:
        subscriber = subscriber_or_abort(session, "data", token)
        remember_reader(subscriber)
        return render_template("web/delete_data.html", token=token, subscriber=subscriber, error=None)


@bp.post("/my-data/<token>/delete")
def delete(token: str):
    """Delete only when the confirmation box was ticked; otherwise ask again."""
    with get_db().session() as session:
        subscriber = subscriber_or_abort(session, "data", token)
        if request.form.get(CONFIRM_FIELD) != "yes":
            remember_reader(subscriber)
            error = "Nothing was deleted: tick the box to confirm that you want everything deleted."
            page = render_template("web/delete_data.html", token=token, subscriber=subscriber, error=error)
            return page, 400
        delete_data(session, subscriber)
    return render_template("web/data_deleted.html")
