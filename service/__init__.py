"""Paperboy: a personalised daily digest of new research papers.

``create_app`` is the Flask application factory (``flask --app service run``,
``gunicorn "service:create_app()"``).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from service.config import Settings
from service.runtime import Runtime


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the web app. ``config`` overrides environment settings (tests pass a temporary instance dir)."""
    settings = Settings.from_env(config)
    if not logging.getLogger().handlers:  # a server's own process: log JSON lines (production), tokens masked
        from service.observability import configure_logging

        configure_logging(settings.LOG_LEVEL, json_lines=settings.is_production)
    app = Flask(__name__, template_folder="../templates", instance_path=str(settings.INSTANCE_DIR))
    app.config.update(
        SECRET_KEY=settings.SECRET_KEY,
        PAPERBOY=settings,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.BASE_URL.startswith("https://"),
        RATELIMIT_STORAGE_URI=settings.RATELIMIT_STORAGE_URI,
        RATELIMIT_HEADERS_ENABLED=True,
        # a Redis outage must not turn the subscribe form into an error page: fall back to per-process limits
        RATELIMIT_SWALLOW_ERRORS=True,
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
        MAX_CONTENT_LENGTH=1024 * 1024,
    )
    for key, value in (config or {}).items():
        if key not in Settings.__dataclass_fields__:
            app.config[key] = value  # Flask's own keys (TESTING, WTF_CSRF_ENABLED, ...)
    app.extensions["paperboy"] = Runtime.from_settings(settings, impatient=True)
    if settings.TRUSTED_PROXIES > 0:  # the client address and scheme as the proxies in front saw them
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = settings.TRUSTED_PROXIES
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    from service.extensions import csrf, limiter
    from service.web.limits import warn_if_unshared

    csrf.init_app(app)
    limiter.init_app(app)
    warn_if_unshared(settings)

    from service.web import register_web

    register_web(app)
    return app
