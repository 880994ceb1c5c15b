"""MIME messages: one ``OutgoingMessage`` becomes a complete RFC 5322 message with text and HTML alternatives.

Header values come only from our settings, our templates (folded to one line) and validated addresses; the
``email`` package's policy also refuses any header value with a line break, so a subscriber's name or a paper
title can never add a header.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, parseaddr
from functools import lru_cache

from service.mail.addresses import InvalidEmail, envelope_address
from service.mail.render import RenderedMessage, one_line

SMTP_POLICY = policy.SMTP.clone(max_line_length=998)


class BadAddress(ValueError):
    """An address that cannot go into a header (line breaks, no ``@``, several addresses in one)."""


@dataclass(frozen=True)
class OutgoingMessage:
    """A message ready for a backend: envelope, content and the delivery it belongs to (if any)."""

    to: str
    from_: str
    subject: str
    text: str
    html: str | None
    message_id: str
    headers: dict[str, str] = field(default_factory=dict)
    delivery_id: int | None = None
    category: str = "digest"
    date: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    payload: bytes | None = field(default=None, repr=False)  # the backend's request body (``Backend.prepare``)
    # (body, its JSON string literal) pairs from rendering (``RenderedMessage.json_literals``), matched by identity
    json_literals: tuple[tuple[str, str], ...] = field(default=(), repr=False, compare=False)

    @property
    def from_address(self) -> tuple[str, str]:
        """(display name, address) of the sender."""
        return sender_address(self.from_)

    def to_mime(self) -> EmailMessage:
        return build_mime(self)


def parse_single_address(value: str) -> tuple[str, str]:
    """``"Name <a@b>"`` → ("Name", "a@b"); refuses anything that is not exactly one plain address."""
    if any(ch in value for ch in "\r\n\0"):
        raise BadAddress(f"address contains a line break: {value!r}")
    if len(getaddresses([value])) != 1:
        raise BadAddress(f"expected one address, got {value!r}")
    name, addr = parseaddr(value)
    if "@" not in addr or any(ch.isspace() for ch in addr):
        raise BadAddress(f"not an email address: {value!r}")
    return one_line(name), addr


@lru_cache(maxsize=16)
def sender_address(value: str) -> tuple[str, str]:
    """``parse_single_address`` of a sender: one of a few configured addresses, so parsed once per process, not
    twice per message (``email.utils`` parsing costs more than building the rest of the envelope)."""
    return parse_single_address(value)


def make_message_id(from_addr: str, label: str = "") -> str:
    """A globally unique Message-ID on the sender's domain; ``label`` makes logs readable (e.g. delivery id)."""
    domain = from_addr.rsplit("@", 1)[-1].strip(">") or "paperboy.localhost"
    prefix = f"{label}." if label else ""
    return f"<{prefix}{secrets.token_hex(12)}@{domain}>"


def outgoing(
    rendered: RenderedMessage,
    *,
    to: str,
    from_: str,
    delivery_id: int | None = None,
    category: str = "digest",
    message_id: str | None = None,
) -> OutgoingMessage:
    """Combine a rendered message with its envelope; ``BadAddress`` when ``to`` cannot be carried (ASCII only)."""
    _, from_addr = sender_address(from_)
    try:
        to = envelope_address(to)
    except InvalidEmail as exc:
        raise BadAddress(str(exc)) from exc
    return OutgoingMessage(
        to=to,
        from_=from_,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id=message_id or make_message_id(from_addr, f"d{delivery_id}" if delivery_id else category),
        headers=dict(rendered.headers),
        delivery_id=delivery_id,
        category=category,
        json_literals=rendered.json_literals,
    )


def build_mime(msg: OutgoingMessage) -> EmailMessage:
    """The complete MIME message: ``multipart/alternative`` (text, then HTML) or text only."""
    name, addr = msg.from_address
    _, to_addr = parse_single_address(msg.to)
    mime = EmailMessage(policy=SMTP_POLICY)
    mime["From"] = Address(display_name=name, addr_spec=addr)
    mime["To"] = Address(addr_spec=to_addr)
    mime["Subject"] = one_line(msg.subject)
    mime["Date"] = format_datetime(msg.date if msg.date.tzinfo else msg.date.replace(tzinfo=dt.UTC))
    mime["Message-ID"] = msg.message_id
    for key, value in msg.headers.items():
        mime[key] = one_line(value)
    mime.set_content(msg.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if msg.html is not None:
        mime.add_alternative(msg.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return mime
