"""The SendGrid backend: v3 ``POST /v3/mail/send`` at ``SENDGRID_API_HOST`` over a pooled ``urllib3`` client.

* 202 means accepted; the ``X-Message-Id`` answer header is kept as the provider's message id.
* 429 and 5xx, and requests that never left (connection refused), are retried with exponential backoff honouring
  ``Retry-After`` (``tenacity``); when the attempts run out the error is transient: the message was *not*
  accepted, so a later task may send it.
* Any other 4xx is a permanent failure, recorded and never retried.
* A request that may have reached SendGrid without an answer (read timeout, connection dropped after sending) is
  ``OutcomeUnknownError``: never retried automatically, because sending twice is worse than not at all.

Throughput: one ``urllib3.PoolManager`` per backend, its pool holding ``SENDGRID_CONCURRENCY`` kept-alive
connections shared by as many sending threads (urllib3 checks an idle connection is still open before reusing it).
urllib3 (the pool under ``requests``) costs ~0.3 ms of CPU a request against this stand-in, httpx ~0.5 ms
(measured: the same 38 KB body, 8 threads): at a digest a request, that is a tenth of a digest's whole cost.
The JSON body is encoded once, by ``prepare``, when the message is built, so nothing but the write happens between
marking a message ``submitting`` and its request leaving.

The request body is the documented v3 JSON built here rather than with the ``sendgrid`` package's
``helpers.mail.Mail``: that helper rejects any content matching its API-key pattern (``SG.x.y``), which signed link
tokens can match by chance. (The package's Event Webhook helper checks the webhook's signatures: ``webhooks.py``.)
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import tenacity
import urllib3
from urllib3.exceptions import HTTPError as ConnectionTrouble
from urllib3.exceptions import NewConnectionError, PoolError

from service.config import Settings
from service.mail.backends import (
    OutcomeUnknownError,
    PermanentSendError,
    SendError,
    SendResult,
    TransientSendError,
    send_guarded,
)
from service.mail.message import OutgoingMessage

USER_AGENT = "paperboy (+https://github.com/paperboy)"
# Errors of a request that certainly did not reach SendGrid whole: safe to send again.
NOT_SENT = (NewConnectionError, urllib3.exceptions.ConnectTimeoutError, PoolError)


class _Refused(Exception):
    """SendGrid answered 429/5xx: not accepted, may be tried again (carries the answer for its Retry-After)."""

    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        super().__init__(f"SendGrid answered {response.status}: {_detail(response)}")
        self.response = response


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
        self.url = host.rstrip("/") + "/v3/mail/send"
        self.concurrency = self.in_flight = max(1, concurrency)
        self.client = urllib3.PoolManager(
            num_pools=2,
            maxsize=self.concurrency,
            block=True,  # a sending thread waits for a free connection rather than opening one more
            retries=False,  # retries are ours (tenacity), which know what may be sent again
            timeout=urllib3.Timeout(connect=min(timeout, 10.0), read=timeout),
            headers={
                "Authorization": f"Bearer {api_key}",
                "User-Agent": USER_AGENT,
                "Content-Type": "application/json",
            },
        )
        self.max_attempts = max(1, max_attempts)
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._executor: ThreadPoolExecutor | None = None

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> SendGridBackend:  # noqa: ANN401
        return cls(
            settings.SENDGRID_API_KEY,
            settings.SENDGRID_API_HOST,
            concurrency=settings.SENDGRID_CONCURRENCY,
            timeout=settings.HTTP_TIMEOUT_S,
            **kwargs,
        )

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """Exponential backoff, or the ``Retry-After`` SendGrid asked for (capped)."""
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, _Refused):
            retry_after = error.response.headers.get("Retry-After")
            try:
                return min(self.max_backoff_s, max(0.0, float(retry_after))) if retry_after else self._backoff(state)
            except ValueError:
                pass
        return self._backoff(state)

    def _backoff(self, state: tenacity.RetryCallState) -> float:
        return min(self.max_backoff_s, self.backoff_s * 2 ** (state.attempt_number - 1))

    def prepare(self, message: OutgoingMessage) -> OutgoingMessage:
        """``message`` with its request body encoded, ready to go out the moment it is marked ``submitting``."""
        if message.payload is not None:
            return message
        return dataclasses.replace(message, payload=encode_v3(message))

    def _post(self, data: bytes) -> urllib3.BaseHTTPResponse:
        """One request: the answer when it is not 429/5xx (``_Refused``); urllib3's connection errors as raised."""
        response = self.client.request("POST", self.url, body=data)
        if response.status == 429 or response.status >= 500:
            raise _Refused(response)
        return response

    def send(self, message: OutgoingMessage) -> SendResult:
        data = message.payload if message.payload is not None else encode_v3(message)
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type((_Refused, *NOT_SENT)),
            stop=tenacity.stop_after_attempt(self.max_attempts),
            wait=self._wait,
            reraise=True,
        )
        try:
            response = retrying(self._post, data)
        except _Refused as exc:
            status = exc.response.status
            raise TransientSendError(f"{exc} (gave up after {self.max_attempts} attempts)", status=status) from exc
        except NOT_SENT as exc:
            raise TransientSendError(
                f"connection failed: {exc.__class__.__name__}: {exc} (gave up after {self.max_attempts} attempts)"
            ) from exc
        except ConnectionTrouble as exc:  # sent, and no answer: SendGrid may have accepted it
            lost = f"no answer from SendGrid after sending: {exc.__class__.__name__}: {exc}"
            raise OutcomeUnknownError(lost) from exc
        if response.status != 202:
            raise PermanentSendError(
                f"SendGrid refused the message ({response.status}): {_detail(response)}",
                status=response.status,
            )
        return SendResult(provider_message_id=response.headers.get("X-Message-Id"))

    def send_many(self, messages: Sequence[OutgoingMessage]) -> list[SendResult | SendError]:
        """Send several messages with up to ``concurrency`` requests in flight; results in input order."""
        if len(messages) <= 1:
            return [send_guarded(self.send, m) for m in messages]
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.concurrency, thread_name_prefix="sendgrid")
        return list(self._executor.map(lambda m: send_guarded(self.send, m), messages))

    def was_accepted(self, delivery_id: int) -> bool | None:
        """SendGrid has no lookup by our id: only its webhook events can tell (see ``webhooks.py``)."""
        return None

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self.client.clear()


def _detail(response: urllib3.BaseHTTPResponse) -> str:
    return response.data[:500].decode("utf-8", "replace")
