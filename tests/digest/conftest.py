"""Fixtures for the digest tests: papers, subscribers and a local SendGrid sink."""

from __future__ import annotations

from service.runtime import Runtime
from tests.factories import DAY, HOSTILE_ABSTRACT, HOSTILE_TITLE, add_papers, add_subscriber  # noqa: F401 - the tests' builders
from tools.sendgrid_sink import SendGridSink


def send_counts(report: dict) -> dict:
    """The counts of a send report (``send_due_digests``), without the reasons listed beside them."""
    return {k: report[k] for k in ("planned", "sent", "skipped", "failed")}


def sendgrid_runtime(base: Runtime, sink: SendGridSink) -> Runtime:
    """The same database, mailing through SendGrid at the sink."""
    from service.config import Settings

    settings = Settings.from_env(
        {
            "INSTANCE_DIR": base.settings.INSTANCE_DIR,
            "DATABASE_URL": base.settings.DATABASE_URL,
            "SECRET_KEY": base.settings.SECRET_KEY,
            "BASE_URL": base.settings.BASE_URL,
            "CELERY_BROKER_URL": "",
            "EMAIL_BACKEND": "sendgrid",
            "SENDGRID_API_KEY": "SG.test-key",
            "SENDGRID_API_HOST": sink.url,
            "SENDGRID_CONCURRENCY": 4,
        }
    )
    return Runtime.from_settings(settings)
