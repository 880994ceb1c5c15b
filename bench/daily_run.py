"""Benchmark: a full daily send at scale through the real stack, side by side with the sink's raw POST rate.

N simulated subscribers and P new papers in a PostgreSQL database of its own; ``paperboy send`` with the broker
set plans the day and fans the batches out over Redis to W real ``celery`` workers, which rank, render and POST
every digest to the local SendGrid stand-in (``tools/sendgrid_sink.py``, its own process). Then, in the same
run, against the same sink: the raw POST rate of the same request body from as many client processes and
connections as the workers used. Peak memory (RSS) of each worker is sampled from /proc during the run.

    .venv/bin/python bench/daily_run.py [--subscribers 10000] [--papers 200] [--workers 2]

Prints one JSON object on stdout. Needs PostgreSQL at 127.0.0.1:5432 (trust) and Redis at 127.0.0.1:6379.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
BIN = Path(sys.executable).parent

import redis  # noqa: E402
from sqlalchemy import create_engine, insert, select, text  # noqa: E402

from service.digest.build import render_delivery  # noqa: E402
from service.mail.backends.sendgrid import v3_body  # noqa: E402
from service.mail.message import outgoing  # noqa: E402
from service.models import Delivery, Paper, Subscriber, utcnow  # noqa: E402
from service.runtime import Runtime  # noqa: E402
from tools.sendgrid_sink import start_sink_process  # noqa: E402

DAY = dt.date(2025, 6, 3)
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def populate(rt: Runtime, n_subscribers: int, n_papers: int) -> None:
    """The day's new papers and the confirmed subscribers, inserted in bulk (the run, not the setup, is timed)."""
    topics = ["retrieval", "diffusion", "reinforcement learning", "graph networks", "speech", "robotics"]
    with rt.db.session() as session:
        session.execute(
            insert(Paper),
            [
                {
                    "title_key": f"bench-{i}",
                    "title": f"Paper {i}: scaling <laws> & $\\alpha$-divergences for {topics[i % len(topics)]}",
                    "abstract": f"We study {topics[i % len(topics)]} models and objectives at scale. " * 8,
                    "authors": [f"Author {i}", "Grace Hopper", "Alan Turing", "Ada Lovelace"],
                    "author_count": 4,
                    "listing_date": DAY,
                    "first_seen_at": dt.datetime.combine(DAY, dt.time(6)),
                    "upvotes": (n_papers - i) % 300,
                    "github_repo": "owner/repo",
                    "url": f"https://arxiv.org/abs/2506.{i:05d}",
                }
                for i in range(n_papers)
            ],
        )
    stamp = utcnow()
    for start in range(0, n_subscribers, 5000):
        with rt.db.session() as session:
            session.execute(
                insert(Subscriber),
                [
                    {"email": f"reader{i}@example.com", "status": "confirmed", "confirmed_at": stamp}
                    for i in range(start, min(n_subscribers, start + 5000))
                ],
            )
    with rt.db.session() as session:  # a database in use has statistics; a freshly filled one would have none
        session.execute(text("ANALYZE"))


def start_worker(env: dict[str, str], name: str, concurrency: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            str(BIN / "celery"),
            "-A",
            "workers",
            "worker",
            "--queues",
            "send,default",
            "--concurrency",
            str(concurrency),
            "--hostname",
            f"{name}@%h",
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "WARNING",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return proc


def group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pgid:
                    pids.append(int(entry))
            except OSError:
                continue
    return pids


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (0 once it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU time the whole machine has spent busy (all cores; /proc/stat minus idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def process_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


class RunSampler:
    """During the run: every 0.25 s the peak RSS of each worker (main process + pool children, summed) and of its
    largest process; every second the CPU time every process on the machine used, by role (workers, sink,
    PostgreSQL, Redis, the send command, this benchmark, anything else): where the two cores went."""

    def __init__(self, workers: list[subprocess.Popen], sink_pid: int) -> None:
        self.workers = workers
        self.roles = {sink_pid: "sink", os.getpid(): "this_benchmark"}  # pid → role, for the known processes
        self.peak_total = [0] * len(workers)
        self.peak_process = [0] * len(workers)
        self._start_cpu: dict[int, float] = {}
        self._last_cpu: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _role(self, pid: int) -> str:
        if pid in self.roles:
            return self.roles[pid]
        name = process_name(pid)
        if name.startswith("postgres"):
            return "postgresql"
        if name.startswith("redis"):
            return "redis"
        try:
            pgid = os.getpgid(pid)
        except OSError:
            return "other"
        return "workers" if any(pgid == w.pid for w in self.workers) else "other"

    def _sample_cpu(self) -> None:
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                pid = int(entry)
                used = cpu_seconds(pid)
                known = self._last_cpu.get(pid)
                role = self.roles.get(pid) or (known[0] if known else self._role(pid))
                self._last_cpu[pid] = (role, used)

    def _run(self) -> None:
        tick = 0
        while not self._stop.is_set():
            for i, worker in enumerate(self.workers):
                sizes = [rss_kib(pid) for pid in group_pids(worker.pid)]
                self.peak_total[i] = max(self.peak_total[i], sum(sizes))
                self.peak_process[i] = max([self.peak_process[i], *sizes])
            tick += 1
            if tick % 4 == 0:  # CPU once a second: reading every process's stat costs CPU of its own
                self._sample_cpu()
            self._stop.wait(0.25)

    def cpu_by_role(self) -> dict[str, float]:
        """CPU seconds used during the run, by role (processes started during the run count from zero)."""
        out: dict[str, float] = {}
        for pid, (role, used) in self._last_cpu.items():
            out[role] = out.get(role, 0.0) + used - self._start_cpu.get(pid, 0.0)
        return {role: round(seconds, 1) for role, seconds in sorted(out.items())}

    def __enter__(self) -> RunSampler:
        self._sample_cpu()
        self._start_cpu = {pid: used for pid, (_role, used) in self._last_cpu.items()}
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample_cpu()


def _post_loop(url: str, data: bytes, threads: int, total: int) -> tuple[int, int]:
    """One client process: ``threads`` keep-alive connections POSTing ``data``; (accepted, errors)."""
    host = url.split("://", 1)[1]
    headers = {"Authorization": "Bearer SG.bench", "Content-Type": "application/json"}
    counts = {"ok": 0, "err": 0}
    lock = threading.Lock()
    per_thread = total // threads

    def run() -> None:
        conn = http.client.HTTPConnection(host, timeout=30)
        ok = err = 0
        for _ in range(per_thread):
            conn.request("POST", "/v3/mail/send", body=data, headers=headers)
            response = conn.getresponse()
            response.read()
            ok, err = (ok + 1, err) if response.status == 202 else (ok, err + 1)
        conn.close()
        with lock:
            counts["ok"] += ok
            counts["err"] += err

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return counts["ok"], counts["err"]


def raw_post_rate(url: str, body: dict, processes: int, threads: int, total: int, sink_pid: int) -> dict[str, Any]:
    """The ceiling: the same JSON body POSTed by as many processes and connections as the workers had, with the
    CPU a POST costs the machine (clients, sink, all cores)."""
    data = json.dumps(body).encode()
    per_process = total // processes
    with ProcessPoolExecutor(processes) as pool:
        list(pool.map(_post_loop, [url] * processes, [data] * processes, [threads] * processes, [threads] * processes))
        clients = list(pool._processes)  # noqa: SLF001 - the pids whose CPU the baseline costs
        before = (sum(cpu_seconds(pid) for pid in clients), cpu_seconds(sink_pid), machine_busy_seconds())
        start = time.perf_counter()
        results = list(
            pool.map(
                _post_loop, [url] * processes, [data] * processes, [threads] * processes, [per_process] * processes
            )
        )
        elapsed = time.perf_counter() - start
        after = (sum(cpu_seconds(pid) for pid in clients), cpu_seconds(sink_pid), machine_busy_seconds())
    ok = sum(r[0] for r in results)
    used = [b - a for a, b in zip(before, after, strict=True)]
    return {
        "posts": ok,
        "errors": sum(r[1] for r in results),
        "seconds": round(elapsed, 2),
        "per_second": round(ok / elapsed, 1),
        "body_bytes": len(data),
        "cpu_ms_per_post": {
            "clients": round(1000 * used[0] / max(1, ok), 3),
            "sink": round(1000 * used[1] / max(1, ok), 3),
            "machine": round(1000 * used[2] / max(1, ok), 3),
        },
    }


def sample_body(rt: Runtime) -> dict:
    """The v3 JSON of one digest the run actually sent (so the raw POSTs carry the same payload)."""
    with rt.db.session() as session:
        delivery_id = session.scalar(select(Delivery.id).where(Delivery.status == "sent").limit(1))
        delivery = session.get(Delivery, delivery_id)
        subscriber = session.get(Subscriber, delivery.subscriber_id)
        rendered = render_delivery(rt, session, delivery_id)
        message = outgoing(rendered, to=subscriber.email, from_=rt.settings.MAIL_FROM, delivery_id=delivery_id)
    return v3_body(message)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--papers", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2, help="celery worker processes (each with a pool)")
    parser.add_argument("--worker-concurrency", type=int, default=2, help="pool processes per worker")
    parser.add_argument("--sendgrid-concurrency", type=int, default=8, help="requests in flight per pool process")
    parser.add_argument("--batch-size", type=int, default=500, help="deliveries per send task (DIGEST_BATCH_SIZE)")
    parser.add_argument("--raw-posts", type=int, default=0, help="raw POSTs for the baseline (default: N/2, 2k..20k)")
    args = parser.parse_args()

    name = f"paperboy_bench_{os.getpid()}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db_url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    broker = "redis://127.0.0.1:6379/9"
    sink, sink_url = start_sink_process("--no-record")
    workers: list[subprocess.Popen] = []
    tmp = tempfile.TemporaryDirectory(prefix="paperboy-bench-")
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY", "SENDGRID", "EMAIL_", "DIGEST_"))}
        env.update(
            PYTHONPATH=str(REPO),
            OPENBLAS_NUM_THREADS="1",
            DATABASE_URL=db_url,
            CELERY_BROKER_URL=broker,
            CELERY_KEY_PREFIX=prefix,
            EMAIL_BACKEND="sendgrid",
            SENDGRID_API_KEY="SG.bench",
            SENDGRID_API_HOST=sink_url,
            SENDGRID_CONCURRENCY=str(args.sendgrid_concurrency),
            DIGEST_BATCH_SIZE=str(args.batch_size),
            SECRET_KEY="bench-secret-key-0123456789",  # noqa: S106 - a throwaway database
            BASE_URL="https://paperboy.example.org",
            PAPERBOY_INSTANCE_DIR=tmp.name,
            LOG_LEVEL="WARNING",
        )
        rt = Runtime.from_env(
            {k: v for k, v in env.items() if k in {"DATABASE_URL", "SECRET_KEY", "BASE_URL"}}
            | {"INSTANCE_DIR": Path(tmp.name), "CELERY_BROKER_URL": ""}
        )
        rt.db.upgrade()
        setup_start = time.perf_counter()
        populate(rt, args.subscribers, args.papers)
        setup_s = time.perf_counter() - setup_start

        workers = [start_worker(env, f"bench{i}-{os.getpid()}", args.worker_concurrency) for i in range(args.workers)]
        time.sleep(4.0)  # workers import the app and connect
        busy_before = machine_busy_seconds()
        with RunSampler(workers, sink.pid) as memory:
            start = time.perf_counter()
            cli = subprocess.Popen(
                [str(BIN / "paperboy"), "send", "--date", DAY.isoformat(), "--json"],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            memory.roles[cli.pid] = "send_command"
            out, err = cli.communicate(timeout=3600)
            elapsed = time.perf_counter() - start
        busy_s = machine_busy_seconds() - busy_before
        if not out.strip():
            print(err[-3000:], file=sys.stderr)
            return 1
        report = json.loads(out)
        body = sample_body(rt)
        raw_total = args.raw_posts or max(2000, min(20_000, args.subscribers // 2))
        clients = args.workers * args.worker_concurrency
        raw = raw_post_rate(sink_url, body, clients, args.sendgrid_concurrency, raw_total, sink.pid)
        rt.close()
    finally:
        for worker in workers:
            try:
                os.killpg(worker.pid, 15)
                worker.wait(30)
            except (OSError, subprocess.TimeoutExpired):
                os.killpg(worker.pid, 9)
        sink.terminate()
        sink.wait(10)
        client = redis.Redis.from_url(broker)
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        tmp.cleanup()

    rate = report["sent"] / elapsed
    cpu = memory.cpu_by_role()
    result = {
        "subscribers": args.subscribers,
        "papers": args.papers,
        "workers": args.workers,
        "worker_concurrency": args.worker_concurrency,
        "sendgrid_concurrency": args.sendgrid_concurrency,
        "batch_size": args.batch_size,
        "cpus": os.cpu_count(),
        "setup_seconds": round(setup_s, 1),
        "daily_run": {
            "report": report,
            "seconds": round(elapsed, 1),
            "digests_per_second": round(rate, 1),
            "note": "paperboy send: plan, fan out over Redis, claim, rank, render, POST, record (PostgreSQL)",
        },
        "raw_post_to_sink": raw,
        "digests_vs_raw_posts": round(rate / raw["per_second"], 3),
        "cpu_seconds_during_run": cpu,
        "cpu_ms_per_digest": {role: round(1000 * seconds / max(1, report["sent"]), 3) for role, seconds in cpu.items()},
        # The physical limit side by side: with every core busy in both phases, the rates are in inverse ratio to
        # the CPU each item costs the machine, so this is the ratio the code (not the machine) decides.
        "machine_cpu_ms": {
            "per_digest": round(1000 * busy_s / max(1, report["sent"]), 3),
            "per_raw_post": raw["cpu_ms_per_post"]["machine"],
            "ratio": round(raw["cpu_ms_per_post"]["machine"] / max(1e-9, 1000 * busy_s / max(1, report["sent"])), 3),
        },
        "worker_peak_rss_mib": {
            "per_worker_total": [round(kib / 1024, 1) for kib in memory.peak_total],
            "largest_process": round(max(memory.peak_process) / 1024, 1),
        },
        "goals": {
            "within_2_minutes": elapsed <= 120,
            "at_least_half_raw_rate": rate >= raw["per_second"] / 2,
        },
    }
    print(json.dumps(result, indent=2))
    return 0 if report["failed"] == 0 and report["sent"] == args.subscribers else 1


if __name__ == "__main__":
    raise SystemExit(main())
