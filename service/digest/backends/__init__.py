"""Mail backends: ``outbox`` (complete ``.eml`` files, the embedded default) and ``sendgrid``.

Every backend answers the same three questions for the exactly-once protocol in ``claim.py``: did the provider
accept this message (``send``), could it still be retried (``TransientSendError``: we know it was *not*
accepted) or must it never be (``PermanentSendError``), and, after a crash, was a message accepted
(``was_accepted``: True, False or None for "cannot know").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from service.config import Settings
from service.digest.message import OutgoingMessage


class SendError(Exception):
    """The provider did not accept a message."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TransientSendError(SendError):
    """Not accepted, for now (429, 5xx, connection refused): safe to try again later."""


class PermanentSendError(SendError):
    """Refused for good (4xx other than 429): record the failure, never retry."""


class OutcomeUnknownError(SendError):
    """The request may have reached the provider (timeout after sending): never retried automatically."""


class NotSubmitted(SendError):
    """The caller withdrew the message just before its request (``before_send`` said no): never sent."""

    def __init__(self, message: str, *, retry: bool = False) -> None:
        super().__init__(message)
        self.retry = retry  # True: withdrawn for a passing reason (database away), the claim is still ours


# Called in the sending thread right before each request; False withdraws the message (``NotSubmitted``).
BeforeSend = Callable[[OutgoingMessage], bool]
# Called in the sending thread with each answer as soon as it arrives (to record it at once).
AfterSend = Callable[[OutgoingMessage, "SendResult | SendError"], None]


def withdrawn_by(message: OutgoingMessage, before_send: BeforeSend | None) -> NotSubmitted | None:
    """Ask ``before_send`` about ``message``: None to go ahead, else the ``NotSubmitted`` to report."""
    if before_send is None:
        return None
    try:
        return None if before_send(message) else NotSubmitted("withdrawn before the request")
    except NotSubmitted as exc:
        return exc


def send_guarded(
    send: Callable[[OutgoingMessage], SendResult],
    message: OutgoingMessage,
    before_send: BeforeSend | None,
    after_send: AfterSend | None,
) -> SendResult | SendError:
    """One message through ``send_many``'s protocol: ask ``before_send``, send, report to ``after_send``.

    Every backend's ``send_many`` uses this, so withdrawal and recording behave the same whatever the backend.
    """
    withdrawn = withdrawn_by(message, before_send)
    if withdrawn is not None:
        return withdrawn
    outcome: SendResult | SendError
    try:
        outcome = send(message)
    except SendError as exc:
        outcome = exc
    if after_send is not None:
        after_send(message, outcome)
    return outcome


@dataclass(frozen=True)
class SendResult:
    """The provider accepted the message; its id (SendGrid's X-Message-Id, the outbox file name)."""

    provider_message_id: str | None


class Backend(Protocol):
    name: str
    in_flight: int  # messages sent at once by ``send_many``: the most a crash can leave in doubt

    def prepare(self, message: OutgoingMessage) -> OutgoingMessage:
        """The message ready to send (e.g. its request body encoded): done when it is built, not when it goes."""
        ...

    def send(self, message: OutgoingMessage) -> SendResult: ...

    def send_many(
        self,
        messages: Sequence[OutgoingMessage],
        before_send: BeforeSend | None = None,
        after_send: AfterSend | None = None,
    ) -> list[SendResult | SendError]: ...

    def was_accepted(self, delivery_id: int) -> bool | None: ...

    def close(self) -> None: ...


def get_backend(settings: Settings) -> Backend:
    """The backend ``EMAIL_BACKEND`` names."""
    if settings.EMAIL_BACKEND == "sendgrid":
        from service.digest.backends.sendgrid import SendGridBackend

        return SendGridBackend.from_settings(settings)
    from service.digest.backends.outbox import OutboxBackend

    return OutboxBackend(settings.OUTBOX_DIR)  # type: ignore[arg-type]


__all__ = [
    "AfterSend",
    "Backend",
    "BeforeSend",
    "NotSubmitted",
    "OutcomeUnknownError",
    "PermanentSendError",
    "SendError",
    "SendResult",
    "TransientSendError",
    "get_backend",
    "send_guarded",
    "withdrawn_by",
]
