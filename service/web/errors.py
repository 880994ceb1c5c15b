"""Friendly error pages: what went wrong in words a reader understands, and where to go next."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)

MESSAGES: dict[int, tuple[str, str]] = {
    400: ("Something was missing", "We could not understand that request. Please go back and try again."),
    403: ("Not allowed", "This link or form does not allow that."),
    404: ("Page not found", "This page or link does not exist. A link copied from an email may be cut off."),
    405: ("Not allowed", "This page cannot be used that way."),
    410: ("This link no longer works", "It has expired or been replaced by a newer one."),
    413: ("Too much", "That request was too large."),
    429: ("Slow down", "Too many requests in a short time. Please wait a little and try again."),
    500: ("Something broke", "An error on our side. It has been logged; please try again in a moment."),
    503: (
        "Please try again in a few minutes",
        "We cannot reach part of our service right now. Nothing was changed: please try again in a few minutes.",
    ),
}
# The database could not be reached (down, restarting, out of connections): nothing was stored or changed.
UNAVAILABLE = (OperationalError, InterfaceError, SQLAlchemyTimeoutError)
RETRY_AFTER_S = 60


MACHINE_PREFIXES = ("/webhooks/", "/healthz", "/metrics")


def render_error(code: int, message: str | None = None):
    """An HTML page for people; JSON for the machine endpoints (provider webhooks, probes)."""
    title, default = MESSAGES.get(code, MESSAGES[500] if code >= 500 else MESSAGES[400])
    if request.path.startswith(MACHINE_PREFIXES):
        return jsonify(error=title, detail=message or default), code
    return render_template("web/error.html", code=code, title=title, message=message or default), code


def unavailable(message: str | None = None):  # noqa: ANN201 - a Flask response
    """A 503 page saying what did not happen and to try again, with ``Retry-After``."""
    body, code = render_error(503, message)
    return body, code, {"Retry-After": str(RETRY_AFTER_S)}


def install(app: Flask) -> None:
    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(SQLAlchemyTimeoutError)
    def _database_unavailable(exc: Exception):
        log.error("database unavailable on %s %s: %s", request.method, request.path, exc.__class__.__name__)
        return unavailable()

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError):
        return render_error(400, "This form has expired or was not sent from our page. Reload the page and try again.")

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        code = exc.code or 500
        # Our own aborts carry a reader-facing description; library defaults (and the limiter's) do not.
        custom = exc.description if exc.description != type(exc).description and code != 429 else None
        return render_error(code, custom)

    @app.errorhandler(InternalServerError)
    def _internal(exc: InternalServerError):
        original = getattr(exc, "original_exception", None)
        if original is not None:
            log.error("unhandled error on %s %s", request.method, request.path, exc_info=original)
        return render_error(500)
