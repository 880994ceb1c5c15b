"""The web app's blueprints: public pages, paper pages, subscription, preferences, unsubscribe, tracking, webhooks."""

from __future__ import annotations

from flask import Flask

from service.mail.addresses import display_address


def register_web(app: Flask) -> None:
    """Attach every blueprint, the security headers and the error pages."""
    from service.web import errors, filters, headers
    from service.web.health import bp as health_bp
    from service.web.manage import bp as manage_bp
    from service.web.onboarding import bp as onboarding_bp
    from service.web.papers import bp as papers_bp
    from service.web.privacy import bp as privacy_bp
    from service.web.public import bp as public_bp
    from service.web.reader import bp as reader_bp
    from service.web.tracking import bp as tracking_bp
    from service.web.webhooks import bp as webhooks_bp

    app.register_blueprint(health_bp)
    app.register_blueprint(public_bp)
    app.register_blueprint(manage_bp)
    app.register_blueprint(onboarding_bp)
    app.register_blueprint(tracking_bp)
    app.register_blueprint(webhooks_bp)
    app.register_blueprint(reader_bp)
    app.register_blueprint(privacy_bp)
    app.register_blueprint(papers_bp)
    filters.install(app)
    headers.install(app)
    errors.install(app)
    app.jinja_env.filters["display_address"] = display_address  # an IDN domain shown as its owner writes it
