"""A local HTTP server standing in for the Hugging Face API (there is no internet in tests)."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from service.runtime import Runtime


class FakeApi:
    """Answers each GET from a queue of (status, body, delay_s) per path+query; records every request."""

    def __init__(self) -> None:
        self.responses: dict[str, list[tuple[int, bytes, float]]] = {}
        self.requests: list[str] = []
        self.user_agents: list[str] = []

    def add(self, path: str, status: int, body: bytes = b"", delay_s: float = 0.0) -> None:
        self.responses.setdefault(path, []).append((status, body, delay_s))

    def next_for(self, path: str) -> tuple[int, bytes, float]:
        queue = self.responses.get(path) or [(404, b'{"error": "not found"}', 0.0)]
        return queue.pop(0) if len(queue) > 1 else queue[0]  # the last answer repeats


@pytest.fixture
def fake_api() -> Iterator[tuple[FakeApi, str]]:
    api = FakeApi()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            api.requests.append(self.path)
            api.user_agents.append(self.headers.get("User-Agent", ""))
            status, body, delay = api.next_for(self.path)
            time.sleep(delay)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield api, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def with_settings(rt: Runtime, **changes: object) -> Runtime:
    """The same database with some settings changed (the API's URL, timeouts, limits)."""
    return Runtime(dataclasses.replace(rt.settings, **changes), rt.db, rt.links)


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries still happen, without the real waits between them."""
    monkeypatch.setattr("service.ingest.fetch._sleep", lambda _s: None)
