"""What the case tests share: ``paperboy`` run as a user runs it, readers, and what each reader was sent."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from click.testing import CliRunner, Result
from sqlalchemy import select

from service.cli import main
from service.models import Delivery, Paper, RawPage
from service.runtime import Runtime
from service.subscribers.lifecycle import create_confirmed


def paperboy(rt: Runtime, *args: str) -> Result:
    """``paperboy --instance … <args>`` against the test's database (SQLite or PostgreSQL)."""
    env = {"DATABASE_URL": rt.settings.DATABASE_URL, "SECRET_KEY": "test", "CELERY_BROKER_URL": ""}
    return CliRunner().invoke(main, ["--instance", str(rt.settings.INSTANCE_DIR), *args], env=env)


def one_json_object(result: Result) -> dict[str, Any]:
    """stdout is exactly one JSON object (no traceback, nothing else)."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, result.stdout
    data = json.loads(lines[0])
    assert isinstance(data, dict)
    return data


def add_reader(rt: Runtime, email: str, **preferences: object) -> int:
    with rt.db.session() as session:
        return create_confirmed(session, email, **preferences).id


def page_statuses(rt: Runtime) -> dict[str, str]:
    """origin → status of every stored raw page."""
    with rt.db.session() as session:
        return dict(session.execute(select(RawPage.origin, RawPage.status)).all())


def arxiv_ids_sent(rt: Runtime) -> dict[int, list[str]]:
    """subscriber id → the arXiv ids of every paper sent to them, once per sending (repeats show)."""
    with rt.db.session() as session:
        arxiv = dict(session.execute(select(Paper.id, Paper.arxiv_id)).all())
        rows = session.execute(
            select(Delivery.subscriber_id, Delivery.picks).where(Delivery.status == "sent").order_by(Delivery.id)
        ).all()
    out: dict[int, list[str]] = defaultdict(list)
    for subscriber_id, picks in rows:
        out[subscriber_id].extend(arxiv[p["paper_id"]] for p in picks)
    return dict(out)


def picks_by_date(rt: Runtime, subscriber_id: int) -> dict[str, list[str]]:
    """digest date → the arXiv ids in that day's sent digest of one reader."""
    with rt.db.session() as session:
        deliveries = session.scalars(
            select(Delivery).where(Delivery.subscriber_id == subscriber_id, Delivery.status == "sent")
        ).all()
        ids = {p["paper_id"] for d in deliveries for p in d.picks}
        arxiv = dict(session.execute(select(Paper.id, Paper.arxiv_id).where(Paper.id.in_(ids))).all())
        return {d.digest_date.isoformat(): sorted(arxiv[p["paper_id"]] for p in d.picks) for d in deliveries}
