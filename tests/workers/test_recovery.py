"""Recovery without an operator: ``kill -9`` of a worker mid-send, a worker started again (as a supervisor would),
and every due digest goes out exactly once within two minutes, with no second ``paperboy send``.

Production settings throughout (60 s leases, the beat's 30 s reaper, an hour's visibility timeout): the dead
worker's batch is taken back by the reaper after its lease lapses, not by Redis after the visibility timeout.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import time
from collections import Counter

import pytest
from sqlalchemy import func, select

from service.models import Delivery
from service.queue import PLAN_DUE_DIGESTS, Dispatcher
from tests.workers.support import (
    BIN,
    DAY,
    REPO,
    Worker,
    add_papers,
    add_subscribers,
    paperboy_send,
    process_env,
    recipients,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

READERS = 60
RECOVERY_S = 120  # the bound: from the kill to every digest out


def _statuses(rt) -> Counter:
    with rt.db.session() as session:
        return Counter(dict(session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()))


def _kill_mid_batch(sink, first: Worker) -> tuple[float, int]:
    wait_for(lambda: len(sink.received) >= 6, 90, "the first digests to reach the sink")
    first.kill9()
    killed_at = time.monotonic()
    at_kill = len(sink.received)
    assert at_kill < READERS, "the kill came too late to land mid-run"
    return killed_at, at_kill


def _env(pg_database_url, broker, sink, tmp_path) -> dict[str, str]:
    # batches of 10 with 2 requests in flight: the kill lands mid-batch; every recovery setting at its default
    return process_env(pg_database_url, broker, sink.url, tmp_path, DIGEST_BATCH_SIZE=10, SENDGRID_CONCURRENCY=2)


def test_paperboy_send_finishes_the_run_after_its_worker_is_killed_and_restarted(
    pg_runtime, pg_database_url, broker, sink, workers, tmp_path
) -> None:
    with pg_runtime.db.session() as session:
        add_papers(session, 12)
        emails = add_subscribers(session, READERS)
    env = _env(pg_database_url, broker, sink, tmp_path)
    sink.state.delay_s = 0.2  # slow enough that the kill lands in the middle of a batch
    first = Worker(env, "doomed", concurrency=2).start()
    workers.append(first)
    send = paperboy_send(env)
    killed_at, _ = _kill_mid_batch(sink, first)
    workers.append(Worker(env, "restarted", concurrency=2).start())  # the supervisor restarts it at once

    wait_for(lambda: len(recipients(sink)) == READERS, RECOVERY_S, "every reader's digest after the kill")
    recovered_s = time.monotonic() - killed_at
    out, err = send.communicate(timeout=RECOVERY_S)
    assert recipients(sink) == Counter(dict.fromkeys(emails, 1)), "a digest was duplicated or lost"
    import json

    report = json.loads(out)
    statuses = _statuses(pg_runtime)
    # in flight at the kill: the provider has them but the worker never heard back: failed, outcome unknown, never
    # sent again; everything else is sent, and nothing is left in flight
    assert set(statuses) <= {"sent", "failed"} and sum(statuses.values()) == READERS, statuses
    assert report["sent"] == statuses["sent"] and report["failed"] == statuses.get("failed", 0), err[-2000:]
    assert all("outcome unknown" in e["error"] for e in report["errors"])
    print(f"recovered {recovered_s:.0f} s after the kill")  # noqa: T201 - shown with -s


def test_the_beats_reaper_recovers_a_planned_day_with_nobody_waiting(
    pg_runtime, pg_database_url, broker, sink, workers, tmp_path
) -> None:
    """The hourly planner's batches, a worker killed mid-batch and restarted, and only the beat running: no CLI."""
    with pg_runtime.db.session() as session:
        add_papers(session, 12)
        emails = add_subscribers(session, READERS)
    env = _env(pg_database_url, broker, sink, tmp_path)
    sink.state.delay_s = 0.2
    beat = subprocess.Popen(
        [str(BIN / "celery"), "-A", "workers", "beat", "--loglevel", "INFO", "--schedule", str(tmp_path / "beat")],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        first = Worker(env, "doomed", concurrency=2).start()
        workers.append(first)
        from service.config import Settings

        dispatcher = Dispatcher(Settings.from_env(environ=env))
        at_seven = dt.datetime.combine(DAY, dt.time(7, 30), dt.UTC).isoformat()
        dispatcher.send(PLAN_DUE_DIGESTS, at_seven)  # what the beat sends every hour
        dispatcher.close()
        killed_at, _ = _kill_mid_batch(sink, first)
        workers.append(Worker(env, "restarted", concurrency=2).start())
        wait_for(lambda: len(recipients(sink)) == READERS, RECOVERY_S, "every reader's digest after the kill")
        print(f"recovered {time.monotonic() - killed_at:.0f} s after the kill")  # noqa: T201
        wait_for(lambda: not {"planned", "sending", "submitting"} & set(_statuses(pg_runtime)), 90, "settled rows")
    finally:
        beat.terminate()
        beat.wait(timeout=30)
    assert recipients(sink) == Counter(dict.fromkeys(emails, 1)), "a digest was duplicated or lost"
    assert set(_statuses(pg_runtime)) <= {"sent", "failed"}
