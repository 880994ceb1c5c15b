"""Benchmark: nightly training from PostgreSQL as the history grows (1M events; 10M with ``--big``), and what the
history costs to store.

A digest shows 13 papers (1.3M "shown" events a day at 100k readers), and training learns from all of them. They
are read from the digests' picks (``service.impressions``); until migration 0006 each was also a ``sent``
interaction row. The history is written both ways here, so that both reads see the same facts, side by side, each
in a fresh process (for its own peak memory):

read        ``load_training_data``: the picks expanded by PostgreSQL and the reactions, streamed as integers from a
            server-side cursor, folded per (reader, paper) with numpy
baseline    the previous read: the same events from the ``sent`` rows, streamed the same way
train       the whole ``train_model`` (read, text model, hybrid fit, save)
bytes       bytes stored per digest: the delivery row (with its picks) now, plus its 13 ``sent`` rows and their
            index entries before

    .venv/bin/python bench/train.py [--big] [--no-fit]

Prints one JSON object. Needs PostgreSQL at 127.0.0.1:5432 (trust); uses a database of its own, dropped after.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from sqlalchemy import create_engine, insert, select, text  # noqa: E402

from service.models import Paper, Subscriber  # noqa: E402
from service.runtime import Runtime  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
READERS, PAPERS = 100_000, 5_000
TOPICS = ["retrieval", "diffusion", "reinforcement learning", "graph networks", "speech", "robotics"]


def runtime(url: str, instance: str) -> Runtime:
    return Runtime.from_env(
        {"DATABASE_URL": url, "SECRET_KEY": "bench-secret-key-0123456789", "INSTANCE_DIR": Path(instance)}
    )


def populate(rt: Runtime, events: int) -> dict:
    """100k readers, 5k papers, ``events`` shown papers (13 a digest, one digest a reader a day), 2% of them
    clicked; returns the bytes of the history in each representation."""
    digests = events // 13
    with rt.db.session() as session:
        session.execute(
            insert(Subscriber), [{"email": f"r{i}@example.com", "status": "confirmed"} for i in range(READERS)]
        )
        session.execute(
            insert(Paper),
            [
                {
                    "title_key": f"p{i}",
                    "title": f"Paper {i} on {TOPICS[i % 6]}",
                    "abstract": f"We study {TOPICS[i % 6]} {i % 97}.",
                }
                for i in range(PAPERS)
            ],
        )
    with rt.db.engine.begin() as conn:
        params = {"readers": READERS, "papers": PAPERS, "digests": digests}
        conn.execute(
            text(
                "INSERT INTO deliveries (subscriber_id, digest_date, status, picks, attempts, planned_at, sent_at)"
                " SELECT (SELECT min(id) FROM subscribers) + g % :readers, current_date - 1 - (g / :readers)::int,"
                " 'sent', (SELECT json_agg(json_build_object('paper_id', (SELECT min(id) FROM papers)"
                " + ((g * 13 + k) * 2654435761 % 4294967296) % :papers, 'position', k + 1, 'section', 'for_you',"
                " 'reason', 'matches your topic \u201cdiffusion\u201d', 'score', 0.5))"
                " FROM generate_series(0, 12) AS k),"
                " 1, now(), now() FROM generate_series(0::bigint, :digests - 1) AS g"
            ),
            params,
        )
        conn.execute(text("ANALYZE"))
        size = "SELECT pg_total_relation_size('deliveries'), pg_total_relation_size('interactions')"
        deliveries_bytes, reactions_before = conn.execute(text(size)).one()
        conn.execute(  # what a send wrote before: the same picks as one row each, and the clicks
            text(
                "INSERT INTO interactions (subscriber_id, paper_id, delivery_id, kind, position, created_at,"
                " suspected_scanner) SELECT d.subscriber_id, CAST(e.value ->> 'paper_id' AS INTEGER), d.id, 'sent',"
                " CAST(e.value ->> 'position' AS INTEGER), d.sent_at, false"
                " FROM deliveries AS d CROSS JOIN LATERAL json_array_elements(d.picks) AS e"
            )
        )
        conn.execute(text("ANALYZE"))
        with_sent_rows = conn.execute(text(size)).one()[1]
        conn.execute(
            text(
                "INSERT INTO interactions (subscriber_id, paper_id, delivery_id, kind, position, created_at,"
                " suspected_scanner) SELECT subscriber_id, paper_id, delivery_id, 'click', position, created_at, false"
                " FROM interactions WHERE kind = 'sent' AND id % 50 = 0"
            )
        )
        conn.execute(text("ANALYZE"))
    return {
        "digests": digests,
        "bytes_per_digest_now": round(deliveries_bytes / max(1, digests)),
        "bytes_per_digest_before": round((deliveries_bytes + with_sent_rows - reactions_before) / max(1, digests)),
    }


def _peak_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def read_now(rt: Runtime) -> dict:
    from service.recommend.train import load_training_data

    data = load_training_data(rt)
    return {"pairs": int(data["conf"].nnz), "events": data["n_interactions"]}


def read_before(rt: Runtime) -> dict:
    """The previous read, kept here as the baseline: the same events from one ``sent`` row per paper shown."""
    from service.recommend.train import READ_CHUNK, fold_events

    with rt.db.session() as s:
        item_ids = np.array([p for (p,) in s.execute(select(Paper.id).order_by(Paper.id))], dtype=np.int64)
        driver = s.connection().connection.driver_connection
        cursor = driver.cursor(name="bench_previous_read")
        cursor.execute(
            "SELECT subscriber_id, paper_id, CASE kind WHEN 'click' THEN 0 WHEN 'more' THEN 1 WHEN 'less' THEN 2"
            " ELSE 3 END FROM interactions WHERE kind IN ('click', 'more', 'less', 'sent')"
            " AND suspected_scanner IS false"
        )
        chunks = [np.empty((0, 3), dtype=np.int64)]
        while rows := cursor.fetchmany(READ_CHUNK):
            chunks.append(np.array(rows, dtype=np.int64))
        cursor.close()
    _users, conf, used = fold_events(np.concatenate(chunks), item_ids)
    return {"pairs": int(conf.nnz), "events": used}


def train(rt: Runtime) -> dict:
    from service.recommend.train import train_model

    report = train_model(rt)
    return {"status": report["status"], "users": report["n_users"], "events": report["n_interactions"]}


def _child(job: str, url: str, instance: str, queue: multiprocessing.Queue) -> None:
    import service.recommend.train  # noqa: F401 - imported before the clock starts: the reads are timed, not imports

    rt = runtime(url, instance)
    start = time.perf_counter()
    out = {"read": read_now, "baseline": read_before, "train": train}[job](rt)
    queue.put(out | {"seconds": round(time.perf_counter() - start, 2), "peak_rss_mib": _peak_mib()})


def measure(job: str, url: str, instance: str) -> dict:
    """``job`` in a fresh process (spawned: its peak memory is its own, not this one's)."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(job, url, instance, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def bench_size(events: int, fit: bool) -> dict:
    name = f"paperboy_bench_train_{os.getpid()}_{events}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    try:
        with tempfile.TemporaryDirectory(prefix="paperboy-bench-train-") as instance:
            rt = runtime(url, instance)
            rt.db.upgrade()
            start = time.perf_counter()
            stored = populate(rt, events)
            rt.close()
            out: dict = {"events": events, "readers": READERS, "papers": PAPERS, **stored}
            out["populate_s"] = round(time.perf_counter() - start, 1)
            out["read"] = measure("read", url, instance)
            out["baseline_read"] = measure("baseline", url, instance)
            if fit:
                out["train_model"] = measure("train", url, instance)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--big", action="store_true", help="also 10M events")
    ap.add_argument("--no-fit", action="store_true", help="measure the reads only, not the whole training")
    args = ap.parse_args()
    report = {"cpus": os.cpu_count(), "1m": bench_size(1_000_000, not args.no_fit)}
    if args.big:
        report["10m"] = bench_size(10_000_000, not args.no_fit)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
