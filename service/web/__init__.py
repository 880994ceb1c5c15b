"""The web app's blueprints: public pages, subscription, preferences, unsubscribe, tracking, webhooks."""

from __future__ import annotations

from flask import Flask


def register_web(app: Flask) -> None:
    """Attach every blueprint, the security headers and the error pages."""
    from service.web.health import bp as health_bp

    app.register_blueprint(health_bp)
