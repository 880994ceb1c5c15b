"""Click-redirect throughput and latency under gunicorn, side by side with a trivial route on the same server.

Starts gunicorn as a subprocess on a free port over a temporary SQLite database (or ``--database-url`` for
PostgreSQL), seeds papers, subscribers and sent deliveries, then sends a bounded number of requests from a
thread pool: first to ``/healthz`` (one ``SELECT 1``: the floor), then to ``/c/<token>`` (verify the token, read
the paper and delivery, write the click, 302). Prints one JSON object on stdout.

    .venv/bin/python bench/web.py [--requests 3000] [--concurrency 8] [--workers 2] [--database-url URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import func, select

from service.db import Database
from service.links import Links
from service.models import Delivery, Interaction, Paper, Subscriber

REPO = Path(__file__).resolve().parents[1]

SECRET = secrets.token_urlsafe(32)  # a throwaway key for this run's server
AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def seed(db: Database, links: Links, n_papers: int = 200, n_subscribers: int = 300, per_email: int = 10) -> list[str]:
    """Papers, confirmed subscribers and one sent delivery each; returns every tracked link's path."""
    today = dt.date.today()
    paths: list[str] = []
    with db.session() as session:
        papers = [
            Paper(title=f"Bench paper {i}", title_key=f"bench paper {i}", url=f"https://example.org/p/{i}")
            for i in range(n_papers)
        ]
        session.add_all(papers)
        subscribers = [Subscriber(email=f"bench{i}@example.com", status="confirmed") for i in range(n_subscribers)]
        session.add_all(subscribers)
        session.flush()
        for i, subscriber in enumerate(subscribers):
            picks = [papers[(i * 7 + k) % n_papers].id for k in range(per_email)]
            delivery = Delivery(
                subscriber_id=subscriber.id,
                digest_date=today,
                status="sent",
                picks=[{"paper_id": p, "reason": "bench", "section": "picks"} for p in picks],
            )
            session.add(delivery)
            session.flush()
            key = subscriber.link_key
            paths += [urlsplit(links.pick(delivery.id, p, k + 1, key).url).path for k, p in enumerate(picks)]
    return paths


def wait_ready(port: int, proc: subprocess.Popen, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not become ready")


def load(port: int, paths: list[str], requests: int, concurrency: int, expect: int) -> dict[str, float]:
    """``requests`` GETs over ``concurrency`` threads (one connection per thread, reopened when closed)."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = iter(range(requests))

    def worker() -> None:
        nonlocal errors
        conn: http.client.HTTPConnection | None = None
        mine: list[float] = []
        bad = 0
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            path = paths[i % len(paths)]
            start = time.perf_counter()
            try:
                conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("GET", path, headers={"User-Agent": AGENT})
                response = conn.getresponse()
                response.read()
                if response.status != expect:
                    bad += 1
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except OSError:
                bad += 1
                if conn is not None:
                    conn.close()
                conn = None
            mine.append(time.perf_counter() - start)
        with lock:
            latencies.extend(mine)
            errors += bad

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for _ in range(concurrency):
            pool.submit(worker)
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "requests": len(latencies),
        "errors": errors,
        "seconds": round(elapsed, 3),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--database-url", default="", help="default: a temporary SQLite file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="paperboy-bench-web-") as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        db = Database(url)
        db.upgrade()
        port = free_port()
        links = Links(f"http://127.0.0.1:{port}", SECRET)
        paths = seed(db, links)
        env = dict(
            os.environ,
            DATABASE_URL=url,
            SECRET_KEY=SECRET,
            BASE_URL=f"http://127.0.0.1:{port}",
            PAPERBOY_INSTANCE_DIR=tmp,
            EMAIL_BACKEND="outbox",
            CELERY_BROKER_URL="",
            OPENBLAS_NUM_THREADS="1",
        )
        command = [
            str(Path(sys.executable).parent / "gunicorn"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--log-level",
            "warning",
            "service:create_app()",
        ]
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_ready(port, proc)
            load(port, ["/healthz"], 200, args.concurrency, 200)  # warm every worker up
            trivial = load(port, ["/healthz"], args.requests, args.concurrency, 200)
            clicks = load(port, paths, args.requests, args.concurrency, 302)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        with db.session() as session:
            recorded = session.scalar(select(func.count()).select_from(Interaction).where(Interaction.kind == "click"))
        db.dispose()
    result = {
        "benchmark": "web.click_redirect",
        "database": url.split(":", 1)[0],
        "gunicorn_workers": args.workers,
        "concurrency": args.concurrency,
        "healthz": trivial,
        "click_redirect": clicks,
        "clicks_recorded": recorded,
        "click_vs_healthz_throughput": round(clicks["requests_per_s"] / trivial["requests_per_s"], 3),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
