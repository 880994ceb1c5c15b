"""Helpers for the worker integration tests: real ``celery`` worker processes, the ``paperboy`` CLI as a process,
a private broker namespace on the real Redis, a TCP proxy in front of PostgreSQL that can drop every connection.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import redis

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
from tests.factories import DAY, add_papers, add_subscribers  # noqa: E402, F401 - the tests' builders

BROKER_DB = 9  # the tests' own Redis database; each test also gets its own key prefix inside it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class BrokerNamespace:
    """A key prefix of our own on the real Redis: concurrent test runs never take each other's tasks."""

    def __init__(self, redis_url: str) -> None:
        self.url = redis_url.rsplit("/", 1)[0] + f"/{BROKER_DB}"
        self.prefix = f"pbtest-{os.getpid()}-{uuid.uuid4().hex[:8]}:"
        self.client = redis.Redis.from_url(self.url)

    def clear(self) -> None:
        keys = list(self.client.scan_iter(match=f"{self.prefix}*", count=1000))
        for start in range(0, len(keys), 500):
            self.client.delete(*keys[start : start + 500])


def process_env(
    database_url: str, broker: BrokerNamespace, sink_url: str, instance: Path, **extra: object
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENDGRID", "EMAIL_", "CELERY", "DIGEST_"))}
    env.update(
        PYTHONPATH=str(REPO),
        OPENBLAS_NUM_THREADS="1",
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker.url,
        CELERY_KEY_PREFIX=broker.prefix,
        EMAIL_BACKEND="sendgrid",
        SENDGRID_API_KEY="SG.worker-test",
        SENDGRID_API_HOST=sink_url,
        SECRET_KEY="worker-test-secret-key",
        BASE_URL="https://paperboy.test",
        PAPERBOY_INSTANCE_DIR=str(instance),
        TASK_RETRY_BASE_S="1",
        LOG_LEVEL="INFO",
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Worker:
    """``celery -A workers worker`` as a process group of its own, so ``kill -9`` takes its pool children too."""

    def __init__(self, env: dict[str, str], name: str, *, concurrency: int = 2, queues: str = "send,default") -> None:
        self.env, self.name, self.concurrency, self.queues = env, name, concurrency, queues
        self.proc: subprocess.Popen | None = None
        self.lines: list[str] = []

    def start(self, timeout: float = 60) -> Worker:
        argv = [
            str(BIN / "celery"),
            "-A",
            "workers",
            "worker",
            "--queues",
            self.queues,
            "--concurrency",
            str(self.concurrency),
            "--hostname",
            f"{self.name}-{uuid.uuid4().hex[:6]}@%h",
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "INFO",
        ]
        self.lines = []
        self.proc = subprocess.Popen(
            argv,
            cwd=REPO,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._pump, args=(self.proc,), daemon=True).start()
        wait_for(
            lambda: any(" ready." in line for line in self.lines) or self.proc.poll() is not None, timeout, "worker"
        )
        if self.proc.poll() is not None:
            raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.output()}")
        return self

    def _pump(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            self.lines.append(line)

    def output(self) -> str:
        return "".join(self.lines[-80:])

    def kill9(self) -> None:
        """SIGKILL to the whole worker (main process and pool children): nothing gets to clean up."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def paperboy_send(env: dict[str, str], day: dt.date = DAY) -> subprocess.Popen:
    """``paperboy send --date D --json`` with the broker set: it fans out to the workers and waits."""
    return subprocess.Popen(
        [str(BIN / "paperboy"), "send", "--date", day.isoformat(), "--json"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def recipients(sink) -> Counter:  # noqa: ANN001 - tools.sendgrid_sink.SendGridSink
    return Counter(entry["to"] for entry in sink.received)


class TcpProxy:
    """127.0.0.1:<port> → target; ``cut()`` drops every connection and refuses new ones until ``restore()``."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self.connections = 0

    def restore(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
                self.connections += 1
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket) -> None:
        sel = selectors.DefaultSelector()
        sel.register(a, selectors.EVENT_READ, b)
        sel.register(b, selectors.EVENT_READ, a)
        try:
            while True:
                for key, _ in sel.select():
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    key.data.sendall(data)
        except OSError:
            return
        finally:
            sel.close()
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.close()

    def cut(self) -> None:
        """The database is gone: every open connection dies, new ones are refused."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
