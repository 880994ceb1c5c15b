"""Privacy: a reader downloads everything we hold about them, or deletes it with its history."""

from __future__ import annotations

import json

from flask import Blueprint, Response, render_template

from service import get_db
from service.subscribers.privacy import delete_data, export_data
from service.web.access import subscriber_or_abort

bp = Blueprint("privacy", __name__)


@bp.get("/my-data/<token>")
def my_data(token: str):
    with get_db().session() as session:
        subscriber = subscriber_or_abort(session, "data", token)
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


@bp.post("/my-data/<token>/delete")
def delete(token: str):
    with get_db().session() as session:
        subscriber = subscriber_or_abort(session, "data", token)
        delete_data(session, subscriber)
    return render_template("web/data_deleted.html")
