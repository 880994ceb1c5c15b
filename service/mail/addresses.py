"""Email addresses: one canonical form, so one person is one subscriber, one suppression and one rate limit.

The canonical form is what every header, provider payload and lookup uses: Unicode NFKC (fullwidth and decomposed
spellings become one), lower case, and the domain in its ASCII form (IDNA 2008: ``bücher.example`` is
``xn--bcher-kva.example``). The reader is shown the Unicode form (``display_address``).

Addresses whose local part (before the @) is not ASCII are refused at the form: they need SMTPUTF8 (RFC 6531),
which SendGrid and most relays do not carry, so no message to them could ever be built or delivered.
"""

from __future__ import annotations

import contextlib
import unicodedata

import idna
from email_validator import EmailNotValidError, validate_email

MAX_LENGTH = 320

NON_ASCII_LOCAL = (
    "the part before the @ can only use plain letters a-z, digits and . _ + - (our mail provider cannot deliver "
    "to {local!r}); please use another address"
)


class InvalidEmail(ValueError):
    """The address is not one we can deliver to; the message says why, in words for the person who typed it."""


def canonical_address(raw: str, *, check_deliverability: bool = False) -> str:
    """The canonical form of a typed address, or ``InvalidEmail`` saying what is wrong with it."""
    if not raw or not raw.strip():
        raise InvalidEmail("enter an email address")
    if len(raw) > MAX_LENGTH:
        raise InvalidEmail(f"an email address has at most {MAX_LENGTH} characters")
    if any(ch in raw for ch in "\r\n\0"):
        raise InvalidEmail("an email address cannot contain line breaks")
    text = unicodedata.normalize("NFKC", raw).strip()
    local = text.rsplit("@", 1)[0]
    if "@" in text and not local.isascii():
        raise InvalidEmail(NON_ASCII_LOCAL.format(local=local[:64]))
    try:
        result = validate_email(text, check_deliverability=check_deliverability, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(str(exc)) from exc
    if not result.ascii_email:  # pragma: no cover - allow_smtputf8=False guarantees it
        raise InvalidEmail(NON_ASCII_LOCAL.format(local=local[:64]))
    return result.ascii_email.lower()


def validate_address(raw: str, *, check_deliverability: bool = False) -> str:
    """``canonical_address``: every form that takes an address validates it with this."""
    return canonical_address(raw, check_deliverability=check_deliverability)


def normalise_email(raw: str) -> str:
    """The lookup key of any address, valid or not (never raises): the canonical form when there is one, else the
    same folding applied as far as it goes (NFKC, lower case, ASCII domain when it converts)."""
    try:
        return canonical_address(raw)
    except InvalidEmail:
        pass
    text = unicodedata.normalize("NFKC", raw or "").strip().casefold()[:MAX_LENGTH]
    local, at, domain = text.rpartition("@")
    if not at:
        return text
    with contextlib.suppress(idna.IDNAError, UnicodeError, ValueError):
        domain = idna.encode(domain, uts46=True).decode("ascii")
    return f"{local}@{domain}"


def display_address(address: str) -> str:
    """The address as its owner writes it: the domain's ASCII (``xn--``) labels shown in Unicode."""
    local, at, domain = address.rpartition("@")
    if not at or "xn--" not in domain:
        return address
    try:
        return f"{local}@{idna.decode(domain)}"
    except (idna.IDNAError, UnicodeError, ValueError):
        return address


def envelope_address(address: str) -> str:
    """The address as a message header and a provider payload need it (ASCII only), or ``InvalidEmail``: a stored
    address that cannot be carried (e.g. a non-ASCII local part saved before such addresses were refused)."""
    local = address.rsplit("@", 1)[0]
    if not local.isascii():
        raise InvalidEmail(f"cannot send to {address!r}: " + NON_ASCII_LOCAL.format(local=local[:64]))
    ascii_address = normalise_email(address)
    if not ascii_address.isascii() or "@" not in ascii_address:
        raise InvalidEmail(f"cannot send to {address!r}: the domain has no ASCII form")
    return ascii_address
