"""Fixtures for the digest tests: papers, subscribers and a local SendGrid sink."""

from __future__ import annotations

import datetime as dt

from service.models import Paper, Subscriber, utcnow
from service.runtime import Runtime
from tools.sendgrid_sink import SendGridSink

DAY = dt.date(2025, 6, 3)  # a Tuesday

HOSTILE_TITLE = (
    '<script>alert("x")</script> Bounds & $\\alpha < \\beta$ for Über-Ñets 数学 \U0001f680\r\nBcc: evil@example.com'
)
HOSTILE_ABSTRACT = (
    "We show that $O(n \\log n) < O(n^2)$ & that <b>bold</b> claims hold: \\begin{align} x &= y \\end{align} "
    "— with ‘quotes’, \u202eevil bidi\u202c and a NUL\x00 byte. "
)


def add_papers(session, n: int, day: dt.date = DAY, *, prefix: str = "Paper", hostile: bool = False) -> list[int]:
    """``n`` papers listed on ``day``; ``hostile`` makes the first one full of markup, LaTeX and control characters."""
    ids = []
    for i in range(n):
        bad = hostile and i == 0
        paper = Paper(
            title_key=f"{prefix.lower()}-{day}-{i}",
            title=HOSTILE_TITLE if bad else f"{prefix} {i}: learning to rank {i} things",
            abstract=(HOSTILE_ABSTRACT * 3)
            if bad
            else f"Abstract of {prefix.lower()} {i} about ranking and retrieval.",
            authors=["Ada <Lovelace>", "Alan Turing", "Grace Hopper", "Edsger Dijkstra"] if bad else [f"Author {i}"],
            author_count=4 if bad else 1,
            listing_date=day,
            first_seen_at=dt.datetime.combine(day, dt.time(6)),
            upvotes=100 - i,
            github_repo="owner/repo" if i % 2 == 0 else "javascript:alert(1)",
            url=f"https://arxiv.org/abs/2506.{i:05d}",
            ai_keywords=["ranking"],
        )
        session.add(paper)
        session.flush()
        ids.append(paper.id)
    return ids


def add_subscriber(session, email: str, **prefs) -> int:
    prefs.setdefault("status", "confirmed")
    prefs.setdefault("confirmed_at", utcnow())
    subscriber = Subscriber(email=email, **prefs)
    session.add(subscriber)
    session.flush()
    return subscriber.id


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
