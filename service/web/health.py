"""Liveness and readiness: ``/healthz`` checks the database answers."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from service import get_db
from service.extensions import csrf

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@csrf.exempt
def healthz():
    try:
        with get_db().session() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - report, don't crash the probe
        return jsonify(status="error", database=str(exc.__class__.__name__)), 503
    return jsonify(status="ok", database="ok")
