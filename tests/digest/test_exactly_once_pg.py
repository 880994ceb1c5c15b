"""Exactly once on the real PostgreSQL: workers racing on the same date never send a digest twice."""

from __future__ import annotations

import threading
from collections import Counter

from sqlalchemy import select

from service.digest import send_due_digests
from service.digest.batch import send_batch
from service.digest.plan import plan_deliveries
from service.models import Delivery
from service.runtime import Runtime
from tests.digest.conftest import DAY, add_papers, add_subscriber, sendgrid_runtime

N = 40


def _race(target, n_workers: int) -> list:
    barrier = threading.Barrier(n_workers)
    results: list = [None] * n_workers
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = target(i)
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n_workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    return results


def test_two_senders_racing_on_one_date_send_each_digest_once(pg_runtime, sink):
    with pg_runtime.db.session() as session:
        add_papers(session, 5)
        for i in range(N):
            add_subscriber(session, f"reader{i}@example.com")
    workers = [sendgrid_runtime(pg_runtime, sink) for _ in range(2)]  # separate engines, like two processes
    try:
        reports = _race(lambda i: send_due_digests(workers[i], DAY), 2)
    finally:
        for rt in workers:
            rt.close()
    assert sum(r["planned"] for r in reports) == N  # the unique row kept planning to one per subscriber
    assert sum(r["sent"] for r in reports) == N
    assert [r["failed"] for r in reports] == [0, 0]  # what the other sender holds is in progress, not failed
    per_recipient = Counter(r["to"] for r in sink.received)
    assert len(per_recipient) == N and set(per_recipient.values()) == {1}
    with pg_runtime.db.session() as session:
        assert set(session.scalars(select(Delivery.status))) == {"sent"}


def test_redelivered_batches_racing_on_the_same_ids_send_once(pg_runtime, tmp_path):
    with pg_runtime.db.session() as session:
        add_papers(session, 5)
        for i in range(N):
            add_subscriber(session, f"reader{i}@example.com")
    with pg_runtime.db.session() as session:
        ids = plan_deliveries(session, DAY).planned
    workers = [Runtime.from_settings(pg_runtime.settings) for _ in range(4)]
    try:
        results = _race(lambda i: send_batch(workers[i], ids), 4)  # the same task delivered to 4 workers
    finally:
        for rt in workers:
            rt.close()
    assert sum(r.sent for r in results) == N
    files = sorted(pg_runtime.settings.OUTBOX_DIR.glob("delivery-*.eml"))
    assert len(files) == N
    assert not list(pg_runtime.settings.OUTBOX_DIR.glob(".*.tmp"))


def test_two_paperboy_send_processes_at_once_both_succeed(pg_runtime, pg_database_url, tmp_path):
    """As operators run it: two ``paperboy send`` for one date at the same moment deliver each digest once, and
    neither reports the other's deliveries as failed (exit 0 for both)."""
    import json
    import os
    import subprocess
    import sys

    readers = 300
    with pg_runtime.db.session() as session:
        add_papers(session, 8)
        for i in range(readers):
            add_subscriber(session, f"reader{i}@example.com")
    outbox = tmp_path / "outbox"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY", "EMAIL_", "SENDGRID"))}
    env.update(
        DATABASE_URL=pg_database_url,
        PAPERBOY_INSTANCE_DIR=str(tmp_path / "instance"),
        SECRET_KEY="two-senders-secret-key-0123456789",
        OUTBOX_DIR=str(outbox),
        DIGEST_BATCH_SIZE="25",
        OPENBLAS_NUM_THREADS="1",
    )
    command = [sys.executable, "-m", "service", "send", "--json", "--date", DAY.isoformat()]
    procs = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-2000:]
    reports = [json.loads(out) for out, _ in outputs]
    assert sum(r["sent"] for r in reports) == readers and all(r["failed"] == 0 for r in reports)
    assert len(list(outbox.glob("delivery-*.eml"))) == readers
    with pg_runtime.db.session() as session:
        assert set(session.scalars(select(Delivery.status))) == {"sent"}
