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
from service.mail.message import OutgoingMessage


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


def send_guarded(send: Callable[[OutgoingMessage], SendResult], message: OutgoingMessage) -> SendResult | SendError:
    """One message of ``send_many``: its ``SendResult``, or the ``SendError`` it raised as the answer.

    Every backend's ``send_many`` uses this, so one refused message never stops the rest of its group. Any other
    error (a bug, a message the backend cannot encode) is that message's answer too: the backend did not accept
    it, and it is recorded as failed with the error rather than left in flight."""
    try:
        return send(message)
    except SendError as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - one message's failure, whatever it is, stays that message's
        return PermanentSendError(f"the message could not be sent: {exc.__class__.__name__}: {exc}")


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

    def send_many(self, messages: Sequence[OutgoingMessage]) -> list[SendResult | SendError]: ...

    def was_accepted(self, delivery_id: int) -> bool | None: ...

    def close(self) -> None: ...


def get_backend(settings: Settings) -> Backend:
    """The backend ``EMAIL_BACKEND`` names."""
    if settings.EMAIL_BACKEND == "sendgrid":
        from service.mail.backends.sendgrid import SendGridBackend

        return SendGridBackend.from_settings(settings)
    from service.mail.backends.outbox import OutboxBackend

    return OutboxBackend(settings.OUTBOX_DIR)  # type: ignore[arg-type]


__all__ = [
    "Backend",
    "OutcomeUnknownError",
    "PermanentSendError",
    "SendError",
    "SendResult",
    "TransientSendError",
    "get_backend",
    "send_guarded",
    "withdrawn_by",
]
