"""Operations endpoints: ``/healthz`` (the database answers) and ``/metrics`` (Prometheus)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from service.extensions import csrf, limiter
from service.observability import web_registry
from service.web.context import get_db, get_runtime

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@csrf.exempt
@limiter.exempt
def healthz():
    try:
        with get_db().session() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - report, don't crash the probe
        current_app.logger.warning("health check failed: %s", exc)
        return jsonify(status="error", database=exc.__class__.__name__), 503
    return jsonify(status="ok", database="ok")


@bp.get("/metrics")
@limiter.exempt
def metrics():
    registry = current_app.extensions.get("paperboy.metrics")
    if registry is None:
        registry = current_app.extensions["paperboy.metrics"] = web_registry(get_runtime())
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
