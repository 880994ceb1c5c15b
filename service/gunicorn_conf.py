"""gunicorn settings for Paperboy's web app: ``gunicorn -c python:service.gunicorn_conf "service:create_app()"``.

What matters here is the access log: it is on (to stdout, one line per request) but written by
``RedactingLogger``, so the link tokens in request paths (``/preferences/<token>``, feeds, unsubscribe links) never
reach a log file. Command-line options given after ``-c`` still override these (workers, bind).
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from service.redact import redact

accesslog = "-"
logger_class = "service.gunicorn_conf.RedactingLogger"
bind = "0.0.0.0:8000"
workers = 2


class RedactingLogger(Logger):
    """gunicorn's logger with every link token in the request line, path, query and referer masked."""

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:  # noqa: ANN401
        return {
            k: redact(v) if isinstance(v, str) else v
            for k, v in super().atoms(resp, req, environ, request_time).items()
        }
