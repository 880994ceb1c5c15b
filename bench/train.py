"""Benchmark: nightly training from PostgreSQL as the interaction history grows (1M events; 10M with ``--big``).

A send appends 13 ``sent`` events per digest (1.3M a day at 100k readers), and training learns from all of them.
For each history size, in the same run and each in a fresh process (for its own peak memory):

read        ``load_training_data``: the events streamed as integers from a server-side cursor, folded per
            (reader, paper) with numpy
baseline    the previous read: every event as a SQLAlchemy row, folded per event in Python (``confidence_matrix``)
train       the whole ``train_model`` (read, text model, hybrid fit, save)

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

from service.models import Interaction, Paper, Subscriber  # noqa: E402
from service.recommend.als import confidence_matrix  # noqa: E402
from service.runtime import Runtime  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
READERS, PAPERS = 100_000, 5_000
TOPICS = ["retrieval", "diffusion", "reinforcement learning", "graph networks", "speech", "robotics"]


def runtime(url: str, instance: str) -> Runtime:
    return Runtime.from_env(
        {"DATABASE_URL": url, "SECRET_KEY": "bench-secret-key-0123456789", "INSTANCE_DIR": Path(instance)}
    )


def populate(rt: Runtime, events: int) -> None:
    """100k readers, 5k papers, ``events`` events: each reader shown distinct papers, 2% of them clicked."""
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
        conn.execute(
            text(
                "INSERT INTO interactions (subscriber_id, paper_id, delivery_id, kind, position, created_at,"
                " suspected_scanner)"
                " SELECT (SELECT min(id) FROM subscribers) + (g * 7919) % :readers,"
                " (SELECT min(id) FROM papers) + ((g * 2654435761) % 4294967296) % :papers, g / 13,"
                " CASE WHEN g % 50 = 0 THEN 'click' ELSE 'sent' END, 1 + g % 13, now(), false"
                " FROM generate_series(1::bigint, :events) AS g"
            ),
            {"readers": READERS, "papers": PAPERS, "events": events},
        )
        conn.execute(text("ANALYZE"))


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
    """The previous read, kept here as the baseline: one row object per event, folded per event in Python."""
    with rt.db.session() as s:
        item_ids = [p for (p,) in s.execute(select(Paper.id).order_by(Paper.id))]
        rows = s.execute(
            select(Interaction.subscriber_id, Interaction.paper_id, Interaction.kind)
            .where(Interaction.kind.in_(("click", "more", "less", "sent")), Interaction.suspected_scanner.is_(False))
            .order_by(Interaction.id)
        ).all()
    item_row = {p: i for i, p in enumerate(item_ids)}
    user_row = {u: i for i, u in enumerate(sorted({r.subscriber_id for r in rows}))}
    rows = [r for r in rows if r.paper_id in item_row]
    conf = confidence_matrix(
        np.array([user_row[r.subscriber_id] for r in rows], dtype=np.int64),
        np.array([item_row[r.paper_id] for r in rows], dtype=np.int64),
        [r.kind for r in rows],
        (len(user_row), len(item_row)),
    )
    return {"pairs": int(conf.nnz), "events": len(rows)}


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
            populate(rt, events)
            rt.close()
            out: dict = {"events": events, "readers": READERS, "papers": PAPERS}
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
