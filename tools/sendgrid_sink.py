"""A local stand-in for SendGrid's v3 ``POST /v3/mail/send``, for tests, the benchmark and development.

It answers like SendGrid: ``202 Accepted`` with an ``X-Message-Id`` header and an empty body; ``400`` with
SendGrid's ``{"errors": [...]}`` body for a malformed request; ``401`` for a wrong API key. It can be told to
answer 429, 500 or 400 (the next N requests, or every request for one recipient), or to accept a message and
close the connection without answering (``drop_answer_next``: the client cannot know), records every request it
accepted, and keeps HTTP/1.1 connections open so a client can reuse them (``connections`` counts them).

    python tools/sendgrid_sink.py --port 8025 [--api-key KEY] [--fail-every 10 --fail-status 429]
    SENDGRID_API_HOST=http://127.0.0.1:8025 EMAIL_BACKEND=sendgrid SENDGRID_API_KEY=KEY paperboy send

In Python: ``with SendGridSink() as sink: ... sink.url, sink.received, sink.fail_next(429, times=2)``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import secrets
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

DROP_ANSWER = 0  # a scripted "status": accept the message, then close the connection without answering
REASONS = {
    202: "Accepted",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass
class SinkState:
    api_key: str | None = None
    received: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    connections: int = 0
    scripted: deque[int] = field(default_factory=deque)  # statuses to answer next, in order
    per_recipient: dict[str, int] = field(default_factory=dict)  # recipient → status, every time
    fail_every: int = 0  # answer ``fail_status`` to every Nth request (0 = never)
    fail_status: int = 429
    retry_after: str | None = "0"
    record_bodies: bool = True
    delay_s: float = 0.0  # think time before answering each well-formed request (a slow provider)
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: itertools.count = field(default_factory=itertools.count)


def _validate(body: Any) -> str | None:
    """The checks SendGrid makes that a client can get wrong; None when the request is well formed."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    personalizations = body.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        return "personalizations: at least one personalization is required"
    for p in personalizations:
        if (
            not isinstance(p, dict)
            or not p.get("to")
            or not all(isinstance(t, dict) and "@" in str(t.get("email", "")) for t in p["to"])
        ):
            return "personalizations.to: every personalization needs at least one valid to address"
    sender = body.get("from")
    if not isinstance(sender, dict) or "@" not in str(sender.get("email", "")):
        return "from: a valid from address is required"
    if not body.get("template_id"):
        if not body.get("subject") and not all(p.get("subject") for p in personalizations):
            return "subject: a subject is required"
        content = body.get("content")
        if (
            not isinstance(content, list)
            or not content
            or not all(isinstance(c, dict) and c.get("value") for c in content)
        ):
            return "content: at least one content item with a non-empty value is required"
        if content[0].get("type") != "text/plain" and any(c.get("type") == "text/plain" for c in content):
            return "content: text/plain must come first"
    for key, value in (body.get("custom_args") or {}).items():
        if not isinstance(value, str):
            return f"custom_args.{key}: values must be strings"
    for key, value in (body.get("headers") or {}).items():
        if not isinstance(value, str) or "\n" in value or "\r" in value:
            return f"headers.{key}: header values must be single-line strings"
    return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients may reuse the connection
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.state.lock:
            self.server.state.connections += 1

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
        return

    def _answer(self, status: int, payload: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status, REASONS.get(status))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def _error(self, status: int, message: str, field_name: str | None = None) -> None:
        headers = {}
        if status == 429 and self.server.state.retry_after is not None:
            headers["Retry-After"] = self.server.state.retry_after
        self._answer(status, {"errors": [{"message": message, "field": field_name, "help": None}]}, headers)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._error(404, "not found")

    def do_POST(self) -> None:  # noqa: N802
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.rstrip("/") != "/v3/mail/send":
            self._error(404, f"no such endpoint: {self.path}")
            return
        if state.api_key is not None and self.headers.get("Authorization") != f"Bearer {state.api_key}":
            self._error(401, "The provided authorization grant is invalid, expired, or revoked")
            return
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            self._error(400, "Invalid JSON body")
            return
        problem = _validate(body)
        if problem:
            self._error(400, problem, problem.split(":", 1)[0])
            return
        recipient = str(body["personalizations"][0]["to"][0]["email"]).lower()
        if state.delay_s:
            time.sleep(state.delay_s)  # the request is in: it is accepted even if the client goes away meanwhile
        with state.lock:
            state.requests += 1
            status = 202
            if state.scripted:
                status = state.scripted.popleft()
            elif recipient in state.per_recipient:
                status = state.per_recipient[recipient]
            elif state.fail_every and state.requests % state.fail_every == 0:
                status = state.fail_status
            if status in (202, DROP_ANSWER):
                message_id = f"sink{next(state.ids):08d}.{secrets.token_hex(6)}"
                state.received.append(
                    {
                        "message_id": message_id,
                        "body": body if state.record_bodies else None,
                        "to": recipient,
                        "custom_args": dict(body.get("custom_args") or {}),
                        "headers": dict(self.headers),
                    }
                )
        if status == DROP_ANSWER:
            self.close_connection = True  # accepted, and the answer never leaves: the connection just closes
        elif status == 202:
            self._answer(202, None, {"X-Message-Id": message_id})
        elif status == 429:
            self._error(429, "too many requests")
        elif status >= 500:
            self._error(status, "internal error")
        else:
            self._error(status, "The from address does not match a verified Sender Identity", "from")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512

    def __init__(self, address: tuple[str, int], state: SinkState) -> None:
        self.state = state
        super().__init__(address, _Handler)


class SendGridSink:
    """The sink on a background thread; ``url`` is what ``SENDGRID_API_HOST`` should be."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, api_key: str | None = None) -> None:
        self.state = SinkState(api_key=api_key)
        self._server = _Server((host, port), self.state)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def received(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return list(self.state.received)

    @property
    def requests(self) -> int:
        return self.state.requests

    @property
    def connections(self) -> int:
        return self.state.connections

    def fail_next(self, status: int, times: int = 1) -> None:
        """Answer ``status`` to the next ``times`` well-formed requests."""
        with self.state.lock:
            self.state.scripted.extend([status] * times)

    def drop_answer_next(self, times: int = 1) -> None:
        """Accept the next ``times`` well-formed requests (recorded in ``received``) and close each connection
        without answering: a provider that took the message while the answer was lost."""
        self.fail_next(DROP_ANSWER, times)

    def fail_recipient(self, email: str, status: int) -> None:
        """Answer ``status`` to every request for ``email``."""
        with self.state.lock:
            self.state.per_recipient[email.lower()] = status

    def start(self) -> SendGridSink:
        self._thread = threading.Thread(target=self._server.serve_forever, name="sendgrid-sink", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SendGridSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_sink_process(*args: str) -> tuple[subprocess.Popen, str]:
    """This sink as its own process (benchmarks: it must not share the caller's GIL); returns it and its URL."""
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    return proc, json.loads(proc.stdout.readline())["url"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025, help="0 picks a free port (printed on stdout)")
    parser.add_argument("--api-key", default=None, help="require this API key (default: accept any)")
    parser.add_argument("--fail-every", type=int, default=0, help="answer --fail-status to every Nth request")
    parser.add_argument("--fail-status", type=int, default=429, choices=[400, 429, 500, 503])
    parser.add_argument("--no-record", action="store_true", help="do not keep request bodies (long benchmarks)")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before answering each request")
    args = parser.parse_args(argv)
    sink = SendGridSink(args.host, args.port, api_key=args.api_key)
    sink.state.fail_every, sink.state.fail_status = args.fail_every, args.fail_status
    sink.state.record_bodies = not args.no_record
    sink.state.delay_s = args.delay
    print(json.dumps({"url": sink.url}), flush=True)
    try:
        sink._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sink._server.server_close()
        print(
            json.dumps(
                {"requests": sink.requests, "accepted": len(sink.state.received), "connections": sink.connections}
            ),
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
