"""Exactly once on the real PostgreSQL: workers racing on the same date never send a digest twice."""

from __future__ import annotations

import threading
from collections import Counter

from sqlalchemy import select

from service.digest import send_due_digests
from service.digest.plan import plan_deliveries
from service.digest.send import send_batch
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
