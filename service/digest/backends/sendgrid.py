"""The SendGrid backend: v3 ``POST /mail/send`` at ``SENDGRID_API_HOST``, configured by the ``sendgrid`` library.

* 202 means accepted; the ``X-Message-Id`` answer header is kept as the provider's message id.
* 429 and 5xx are retried here with exponential backoff (honouring ``Retry-After``); when the attempts run out
  the error is transient (the message was *not* accepted, so a later task may send it).
* Any other 4xx is a permanent failure, recorded and never retried.
* A request that may have reached SendGrid without an answer (timeout, connection dropped after sending) is
  ``OutcomeUnknownError``: never retried automatically, because sending twice is worse than not at all.

Throughput. ``SendGridAPIClient`` supplies the endpoint URL and the request headers (API key, user agent) and its
``python_http_client`` supplies the error types; the requests themselves go out over one persistent HTTP/1.1
connection per sending thread, with ``SENDGRID_CONCURRENCY`` threads in flight. The library's own request path
costs ~0.7 ms of CPU per digest-sized message (a new urllib opener per request, the whole payload formatted into
a debug log line whatever the log level, a new connection per request): more than building the digest itself.
The JSON body is encoded once, by ``prepare``, when the message is built, so nothing but the write happens
between marking a message ``submitting`` and its request leaving.

The request body is the documented v3 JSON built here rather than with ``helpers.mail.Mail``: that helper
rejects any content matching its API-key pattern (``SG.x.y``), which signed link tokens can match by chance.
"""

from __future__ import annotations

import dataclasses
import http.client
import io
import json
import threading
import time
import urllib.error
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from python_http_client.exceptions import HTTPError as SendGridHTTPError
from python_http_client.exceptions import handle_error
from sendgrid import SendGridAPIClient

from service.config import Settings
from service.digest.backends import (
    OutcomeUnknownError,
    PermanentSendError,
    SendError,
    SendResult,
    TransientSendError,
    send_guarded,
)
from service.digest.message import OutgoingMessage

IDLE_RECONNECT_S = 20.0  # reconnect before reusing a connection idle this long (servers close idle ones)


class _ConnectionPool:
    """One persistent connection per thread and host: reused across requests, replaced after an error."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._local = threading.local()

    def get(self, scheme: str, netloc: str) -> tuple[http.client.HTTPConnection, bool]:
        """(connection, reused) for this thread."""
        key = (scheme, netloc)
        conns: dict[tuple[str, str], tuple[http.client.HTTPConnection, float]] = self._local.__dict__.setdefault(
            "conns", {}
        )
        entry = conns.get(key)
        if entry is not None and time.monotonic() - entry[1] < IDLE_RECONNECT_S:
            return entry[0], True
        if entry is not None:
            entry[0].close()
        cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        conn = cls(netloc, timeout=self.timeout)
        conns[key] = (conn, time.monotonic())
        return conn, False

    def touch(self, scheme: str, netloc: str) -> None:
        conns = self._local.__dict__.get("conns", {})
        if (scheme, netloc) in conns:
            conns[(scheme, netloc)] = (conns[(scheme, netloc)][0], time.monotonic())

    def drop(self, scheme: str, netloc: str) -> None:
        conns = self._local.__dict__.get("conns", {})
        entry = conns.pop((scheme, netloc), None)
        if entry is not None:
            entry[0].close()


class RequestNotSent(Exception):
    """The request never fully left this machine (connect or write failed): certainly not accepted."""


class AnswerLost(Exception):
    """The request was sent but no answer came back: it may have been accepted."""


def v3_body(message: OutgoingMessage) -> dict[str, Any]:
    """The v3 ``mail/send`` JSON for one message."""
    name, addr = message.from_address
    sender: dict[str, str] = {"email": addr}
    if name:
        sender["name"] = name
    personalization: dict[str, Any] = {"to": [{"email": message.to}]}
    custom_args = {"category": message.category}
    if message.delivery_id is not None:
        custom_args["delivery_id"] = str(message.delivery_id)
    content = [{"type": "text/plain", "value": message.text}]
    if message.html is not None:
        content.append({"type": "text/html", "value": message.html})
    headers = dict(message.headers)
    headers["Message-ID"] = message.message_id
    return {
        "personalizations": [personalization],
        "from": sender,
        "subject": message.subject,
        "content": content,
        "headers": headers,
        "custom_args": custom_args,
        "categories": [message.category],
        # Our links are already signed and tracked by the web app: SendGrid must not rewrite them.
        "tracking_settings": {"click_tracking": {"enable": False, "enable_text": False}},
    }


def encode_v3(message: OutgoingMessage) -> bytes:
    """``json.dumps(v3_body(message)).encode()``, taking the bodies' JSON from the message when rendering made it
    (escaping ~40 KB of text and HTML is most of the cost of encoding a digest)."""
    body = v3_body(message)
    if not message.json_literals:
        return json.dumps(body).encode()
    # json.dumps of a dict is "{" + its items' encodings joined by ", " + "}": encode the items around "content".
    items = list(body.items())
    at = next(i for i, (key, _) in enumerate(items) if key == "content")
    content = ", ".join(
        f'{{"type": {json.dumps(part["type"])}, "value": {_json_string(part["value"], message.json_literals)}}}'
        for part in body["content"]
    )
    around = (json.dumps(dict(items[:at]))[1:-1], f'"content": [{content}]', json.dumps(dict(items[at + 1 :]))[1:-1])
    return ("{" + ", ".join(part for part in around if part) + "}").encode()


def _json_string(value: str, literals: Sequence[tuple[str, str]]) -> str:
    """``json.dumps(value)``: the literal rendering made for this very string, else encoded here."""
    for string, literal in literals:
        if string is value:
            return literal
    return json.dumps(value)


class SendGridBackend:
    name = "sendgrid"

    def __init__(
        self,
        api_key: str,
        host: str,
        *,
        concurrency: int = 8,
        timeout: float = 20.0,
        max_attempts: int = 4,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
    ) -> None:
        self.client = SendGridAPIClient(api_key=api_key, host=host.rstrip("/"))
        self.url = self.client.client.mail.send._build_url(None)
        parts = urlsplit(self.url)
        self._scheme, self._netloc = parts.scheme, parts.netloc
        self._path = parts.path + (f"?{parts.query}" if parts.query else "")
        self._headers = {**self.client.client.request_headers, "Content-Type": "application/json"}
        self.pool = _ConnectionPool(timeout)
        self.concurrency = self.in_flight = max(1, concurrency)
        self.max_attempts = max(1, max_attempts)
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> SendGridBackend:
        return cls(
            settings.SENDGRID_API_KEY,
            settings.SENDGRID_API_HOST,
            concurrency=settings.SENDGRID_CONCURRENCY,
            timeout=settings.HTTP_TIMEOUT_S,
            **kwargs,
        )

    def _delay(self, attempt: int, error: SendGridHTTPError | None) -> float:
        retry_after = None
        if error is not None and error.headers is not None:
            retry_after = error.headers.get("Retry-After")
        if retry_after:
            try:
                return min(self.max_backoff_s, max(0.0, float(retry_after)))
            except ValueError:
                pass
        return min(self.max_backoff_s, self.backoff_s * (2 ** (attempt - 1)))

    def prepare(self, message: OutgoingMessage) -> OutgoingMessage:
        """``message`` with its request body encoded, ready to go out the moment it is marked ``submitting``."""
        if message.payload is not None:
            return message
        return dataclasses.replace(message, payload=encode_v3(message))

    def _post(self, data: bytes) -> tuple[int, http.client.HTTPMessage]:
        """One request on this thread's kept-alive connection: (status, answer headers) of a 2xx/3xx answer."""
        conn, _reused = self.pool.get(self._scheme, self._netloc)
        try:
            conn.request("POST", self._path, body=data, headers=self._headers)
        except OSError as exc:
            self.pool.drop(self._scheme, self._netloc)
            raise RequestNotSent(f"{exc.__class__.__name__}: {exc}") from exc
        try:
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.pool.drop(self._scheme, self._netloc)
            raise AnswerLost(f"{exc.__class__.__name__}: {exc}") from exc
        if response.will_close:
            self.pool.drop(self._scheme, self._netloc)
        else:
            self.pool.touch(self._scheme, self._netloc)
        if response.status >= 400:  # the library's error types, as its own client raises them
            raise handle_error(
                urllib.error.HTTPError(self.url, response.status, response.reason, response.msg, io.BytesIO(body))
            )
        return response.status, response.msg

    def send(self, message: OutgoingMessage) -> SendResult:
        data = message.payload if message.payload is not None else encode_v3(message)
        last = ""
        for attempt in range(1, self.max_attempts + 1):
            error: SendGridHTTPError | None = None
            try:
                status, headers = self._post(data)
            except RequestNotSent as exc:
                last = f"connection failed: {exc}"
            except AnswerLost as exc:
                raise OutcomeUnknownError(f"no answer from SendGrid after sending: {exc}") from exc
            except SendGridHTTPError as exc:
                status = int(exc.status_code)
                detail = _error_detail(exc)
                if status != 429 and status < 500:
                    raise PermanentSendError(
                        f"SendGrid refused the message ({status}): {detail}", status=status
                    ) from exc
                error, last = exc, f"SendGrid answered {status}: {detail}"
            else:
                if status != 202:
                    raise PermanentSendError(f"SendGrid answered {status}, expected 202")
                return SendResult(provider_message_id=headers.get("X-Message-Id"))
            if attempt < self.max_attempts:
                time.sleep(self._delay(attempt, error))
        status = int(error.status_code) if error is not None else None
        raise TransientSendError(f"{last} (gave up after {self.max_attempts} attempts)", status=status)

    def _pool(self) -> ThreadPoolExecutor:
        with self._executor_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.concurrency, thread_name_prefix="sendgrid")
            return self._executor

    def send_many(self, messages: Sequence[OutgoingMessage]) -> list[SendResult | SendError]:
        """Send several messages with up to ``concurrency`` requests in flight; results in input order."""

        def one(message: OutgoingMessage) -> SendResult | SendError:
            return send_guarded(self.send, message)

        if len(messages) <= 1:
            return [one(m) for m in messages]
        return list(self._pool().map(one, messages))

    def was_accepted(self, delivery_id: int) -> bool | None:
        """SendGrid has no lookup by our id: only its webhook events can tell (see ``webhooks.py``)."""
        return None

    def close(self) -> None:
        with self._executor_lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None


def _error_detail(exc: SendGridHTTPError) -> str:
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    return str(body)[:500]
