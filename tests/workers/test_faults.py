"""Faults of a real deployment: the database connection drops under the workers, Redis restarts under the web app.

Real processes throughout: ``celery`` workers and ``paperboy send`` on the real Redis and PostgreSQL, gunicorn
serving clicks; only the faults are staged (a TCP proxy in front of PostgreSQL that drops every connection, a
private ``redis-server`` that is killed and started again).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections import Counter
from urllib.parse import urlsplit

import httpx
import pytest
import redis
from sqlalchemy import func, select

from service.links import Links
from service.models import Delivery, Interaction, Subscriber, utcnow
from tests.digest.conftest import send_counts
from tests.workers.support import (
    BIN,
    DAY,
    REPO,
    TcpProxy,
    Worker,
    add_papers,
    add_subscribers,
    free_port,
    paperboy_send,
    process_env,
    recipients,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


def test_a_dropped_database_connection_makes_send_tasks_retry_not_fail(
    pg_runtime, pg_database_url, broker, sink, workers, tmp_path
) -> None:
    with pg_runtime.db.session() as session:
        add_papers(session, 12)
        emails = add_subscribers(session, 40)
    parts = urlsplit(pg_database_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432).restore()
    through_proxy = pg_database_url.replace(f":{parts.port}/", f":{proxy.port}/")
    worker_env = process_env(through_proxy, broker, sink.url, tmp_path, DIGEST_BATCH_SIZE=5, SENDGRID_CONCURRENCY=2)
    cli_env = process_env(pg_database_url, broker, sink.url, tmp_path, DIGEST_BATCH_SIZE=5)
    sink.state.delay_s = 0.1
    worker = Worker(worker_env, "dbdrop", concurrency=2).start()
    workers.append(worker)
    try:
        send = paperboy_send(cli_env)
        wait_for(lambda: len(sink.received) >= 6, 60, "the first digests to reach the sink")
        proxy.cut()  # every connection of the workers to PostgreSQL dies, new ones are refused
        time.sleep(3.0)
        proxy.restore()
        out, err = send.communicate(timeout=150)
    finally:
        proxy.cut()

    report = json.loads(out or "{}")
    assert send_counts(report) == {"planned": 40, "sent": 40, "skipped": 0, "failed": 0}, err[-3000:]
    assert recipients(sink) == Counter({email: 1 for email in emails})
    with pg_runtime.db.session() as session:
        statuses = dict(session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all())
        rows = session.scalar(select(func.count()).select_from(Interaction))
        picks = list(session.scalars(select(Delivery.picks)))
    assert statuses == {"sent": 40}
    # what each email showed, stored once by a retried batch: its picks, each paper once, nothing else written
    assert rows == 0 and all(len({p["paper_id"] for p in ps}) == len(ps) > 0 for ps in picks)
    log = "".join(worker.lines)
    assert "retrying" in log and "Retry in" in log, worker.output()  # the outage was felt, and retried
    assert "raised unexpected" not in log, worker.output()


# --- Redis restarted under the web app -----------------------------------------------------------------------


class PrivateRedis:
    """A redis-server of the test's own on a free port, so restarting it disturbs nobody else."""

    def __init__(self, tmp) -> None:  # noqa: ANN001
        self.port = free_port()
        self.dir = tmp
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)

        def up() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_for(up, 15, "the private redis-server")
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def test_redis_restarting_while_the_web_app_serves_clicks_loses_no_click_and_shows_no_error(
    pg_runtime, pg_database_url, tmp_path
) -> None:
    with pg_runtime.db.session() as session:
        papers = add_papers(session, 10)
        add_subscribers(session, 1)
        delivery = Delivery(
            subscriber_id=1,
            digest_date=DAY,
            status="sent",
            sent_at=utcnow(),
            picks=[{"paper_id": p, "position": i + 1, "section": "picks"} for i, p in enumerate(papers)],
        )
        session.add(delivery)
        session.flush()
        delivery_id = delivery.id
    secret = "redis-restart-secret-key-0123456789"
    links = Links("http://127.0.0.1", secret)
    with pg_runtime.db.session() as session:
        key = session.get(Subscriber, 1).link_key
    tokens = [urlsplit(links.pick(delivery_id, p, i + 1, key).url).path for i, p in enumerate(papers)]

    private = PrivateRedis(tmp_path).start()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY", "REDIS", "RATELIMIT"))}
    env.update(
        PYTHONPATH=str(REPO),
        DATABASE_URL=pg_database_url,
        REDIS_URL=private.url,
        CELERY_BROKER_URL=private.url,
        SECRET_KEY=secret,
        PAPERBOY_ENV="production",
        BASE_URL=f"http://127.0.0.1:{port}",
        PAPERBOY_INSTANCE_DIR=str(tmp_path),
    )
    web = subprocess.Popen(
        [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "2", "service:create_app()"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    answers: Counter = Counter()
    bad: list[tuple[str, int]] = []
    clicks = Counter()
    stop = threading.Event()

    def reader(n: int) -> None:
        browser = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"}
        with httpx.Client(base_url=base, timeout=10, headers=browser) as client:
            i = n
            while not stop.is_set():
                path = tokens[i % len(tokens)]
                response = client.get(path)
                answers[response.status_code] += 1
                if response.status_code == 302:
                    clicks["ok"] += 1
                else:
                    bad.append((path, response.status_code))
                for extra in ("/metrics", "/healthz"):
                    status = client.get(extra).status_code
                    if status != 200:
                        bad.append((extra, status))
                i += 1

    try:

        def serving() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(serving, 60, "gunicorn")
        threads = [threading.Thread(target=reader, args=(n,)) for n in range(3)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        before = clicks["ok"]
        private.kill()  # Redis goes away ...
        time.sleep(2.0)
        during = clicks["ok"] - before
        private.start()  # ... and comes back on the same port, empty
        time.sleep(1.5)
        stop.set()
        for t in threads:
            t.join(timeout=30)
    finally:
        stop.set()
        web.terminate()
        web.wait(timeout=30)
        private.kill()

    assert not bad, f"error answers while Redis restarted: {bad[:10]}"
    assert during > 0, "no click was served while Redis was down"
    with pg_runtime.db.session() as session:
        stored = session.scalar(select(func.count()).select_from(Interaction).where(Interaction.kind == "click"))
    assert stored == clicks["ok"], "a click was lost"
