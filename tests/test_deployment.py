"""docker-compose.yml cannot run here (no Docker engine), so its commands run as plain processes instead.

Each service's command is taken from the compose file itself, so the file and these tests cannot drift apart.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import redis
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def _command(compose: dict, service: str, tmp: Path, port: int | None = None) -> list[str]:
    argv = [str(a) for a in compose["services"][service]["command"]]
    argv = [a.replace("0.0.0.0:8000", f"127.0.0.1:{port}") if port else a for a in argv]
    argv = [a.replace("/var/lib/paperboy", str(tmp)) for a in argv]
    return [str(BIN / argv[0]), *argv[1:]]


def _env(pg_url: str, broker: str, tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENDGRID", "EMAIL_"))}
    env.update(
        DATABASE_URL=pg_url,
        CELERY_BROKER_URL=broker,
        PAPERBOY_ENV="production",
        SECRET_KEY="deployment-test-secret-key-0123456789",
        PAPERBOY_INSTANCE_DIR=str(tmp),
        OPENBLAS_NUM_THREADS="1",
    )
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    """Poll ``predicate``; fail at once, with the process's output, if ``proc`` dies meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            output = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"{what}: the process exited with {proc.returncode}:\n{output}")
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _started(argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _stop(*procs: subprocess.Popen) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_compose_describes_the_whole_system(compose: dict) -> None:
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "web", "worker", "beat", "flower"} <= set(services)
    assert services["beat"]["deploy"]["replicas"] == 1
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    for name in ("postgres", "redis", "web", "worker", "flower"):
        assert "healthcheck" in services[name], name
    # Flower can revoke tasks and stop workers: compose refuses to start it without a password, and only this
    # host reaches it
    assert services["flower"]["environment"]["FLOWER_BASIC_AUTH"].startswith("${FLOWER_BASIC_AUTH:?")
    assert all(port.startswith("127.0.0.1:") for port in services["flower"]["ports"])


def test_migrate_then_web_serves_health(compose: dict, pg_database_url: str, redis_url: str, tmp_path: Path) -> None:
    env = _env(pg_database_url, redis_url, tmp_path)
    subprocess.run(_command(compose, "migrate", tmp_path), env=env, check=True, capture_output=True, timeout=120)
    port = _free_port()
    web = subprocess.Popen(
        _command(compose, "web", tmp_path, port), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:

        def healthy() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        _wait_for(healthy, 60, "gunicorn /healthz", web)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json()["database"] == "ok"
        # an emailed link's token must never reach the access log: it opens a reader's account
        token = "eyJrIjoiYWJjZGVmZ2hpamtsIiwicyI6MSwidiI6MX0.tpachf.cdRUY5IJbKe-6YSTovhhKqbL"
        for path in (f"/preferences/{token}", f"/c/{token}/pdf", f"/feed/{token}.atom", "/unsubscribe/cut-off-tok"):
            httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)
    finally:
        web.terminate()
        web.wait(timeout=30)
    log = web.stdout.read().decode()
    assert "/preferences/[token]" in log and "/c/[token]/pdf" in log and "/unsubscribe/[token]" in log
    assert token not in log and "cut-off-tok" not in log and "tpachf" not in log


def test_worker_and_beat_start_on_the_real_redis(
    compose: dict, pg_database_url: str, redis_url: str, tmp_path: Path
) -> None:
    broker = redis_url.rsplit("/", 1)[0] + "/7"
    redis.Redis.from_url(broker).flushdb()
    env = _env(pg_database_url, broker, tmp_path)
    worker_cmd = _command(compose, "worker", tmp_path) + ["--hostname", f"deploytest-{os.getpid()}@%h"]
    worker = _started(worker_cmd, env)
    beat = _started(_command(compose, "beat", tmp_path), env)
    try:

        def worker_answers() -> bool:
            ping = subprocess.run(
                [str(BIN / "celery"), "-A", "workers", "inspect", "ping", "--timeout", "2"],
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
            )
            return "pong" in ping.stdout

        _wait_for(worker_answers, 90, "celery worker to answer ping", worker)
        _wait_for(
            lambda: (tmp_path / "celerybeat-schedule").exists() or any(tmp_path.glob("celerybeat-schedule*")),
            60,
            "beat to write its schedule",
        )
        assert beat.poll() is None, "beat exited"
    finally:
        _stop(beat, worker)
        redis.Redis.from_url(broker).flushdb()


def test_flower_shows_the_workers_only_to_whoever_has_the_password(
    compose: dict, pg_database_url: str, redis_url: str, tmp_path: Path
) -> None:
    broker = redis_url.rsplit("/", 1)[0] + "/6"
    redis.Redis.from_url(broker).flushdb()
    env = _env(pg_database_url, broker, tmp_path) | {"FLOWER_BASIC_AUTH": "ops:flower-test-password"}
    hostname = f"flowertest-{os.getpid()}"
    worker = _started(_command(compose, "worker", tmp_path) + ["--hostname", f"{hostname}@%h"], env)
    port = _free_port()
    flower_cmd = [a.replace("--port=5555", f"--port={port}") for a in _command(compose, "flower", tmp_path)]
    flower = _started(flower_cmd + ["--address=127.0.0.1"], env)
    base = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            try:
                return httpx.get(f"{base}/healthcheck", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        _wait_for(up, 60, "flower /healthcheck", flower)
        assert httpx.get(f"{base}/api/workers", timeout=5).status_code == 401
        assert httpx.get(f"{base}/", timeout=5, auth=("ops", "wrong")).status_code == 401

        def lists_worker() -> bool:
            answer = httpx.get(f"{base}/api/workers?refresh=1", timeout=10, auth=("ops", "flower-test-password"))
            return answer.status_code == 200 and any(name.startswith(hostname) for name in answer.json())

        _wait_for(lists_worker, 90, "flower to list the worker", worker)
    finally:
        _stop(flower, worker)
        redis.Redis.from_url(broker).flushdb()
