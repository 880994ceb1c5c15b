"""The outbox backend: every message as a complete ``.eml`` file in ``OUTBOX_DIR`` (the embedded default).

Files are written to a temporary name and linked into place, so a reader never sees half a message and a
digest's file name (``delivery-<id>.eml``) exists at most once: a second attempt for the same delivery finds the
file and reports it as already accepted instead of writing it again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from service.mail.backends import (
    SendError,
    SendResult,
    TransientSendError,
    send_guarded,
)
from service.mail.message import OutgoingMessage


class OutboxBackend:
    name = "outbox"
    in_flight = 16  # files are written one at a time; ``was_accepted`` settles any left in doubt exactly

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def path_for(self, message: OutgoingMessage) -> Path:
        if message.delivery_id is not None:
            return self.directory / f"delivery-{message.delivery_id:08d}.eml"
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        return self.directory / f"{message.category}-{stamp}-{secrets.token_hex(4)}.eml"

    def prepare(self, message: OutgoingMessage) -> OutgoingMessage:
        """``message`` with its file's bytes built: a message that cannot be built fails here, before it is
        marked as submitted, never half-way through a group."""
        if message.payload is not None:
            return message
        return dataclasses.replace(message, payload=message.to_mime().as_bytes())

    def send(self, message: OutgoingMessage) -> SendResult:
        try:
            return self._write(message)
        except OSError as exc:  # disk full, permissions: nothing was accepted, a later attempt may succeed
            raise TransientSendError(f"outbox write failed: {exc}") from exc

    def _write(self, message: OutgoingMessage) -> SendResult:
        data = message.payload if message.payload is not None else message.to_mime().as_bytes()
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.path_for(message)
        tmp = self.directory / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:  # a full or read-only disk leaves no temporary file behind
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            # atomic and never overwrites: the first writer wins; a delivery already written was accepted once
            with contextlib.suppress(FileExistsError):
                os.link(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return SendResult(provider_message_id=target.name)

    def send_many(self, messages: Sequence[OutgoingMessage]) -> list[SendResult | SendError]:
        return [send_guarded(self.send, message) for message in messages]

    def was_accepted(self, delivery_id: int) -> bool | None:
        return (self.directory / f"delivery-{delivery_id:08d}.eml").exists()

    def close(self) -> None:
        return None
