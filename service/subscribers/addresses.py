"""Email addresses: one canonical form, so one person is one subscriber."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


class InvalidEmail(ValueError):
    """The address is not one we can deliver to; the message says why."""


def normalise_email(email: str) -> str:
    """Lower-cased and stripped; the identity key of a subscriber and of a suppression."""
    return email.strip().lower()


def validate_address(email: str, *, check_deliverability: bool = False) -> str:
    """Validate syntax (and optionally DNS) and return the normalised address, or raise ``InvalidEmail``."""
    if not email or len(email) > 320:
        raise InvalidEmail("enter an email address (at most 320 characters)")
    if any(ch in email for ch in "\r\n\0"):
        raise InvalidEmail("an email address cannot contain line breaks")
    try:
        result = validate_email(email.strip(), check_deliverability=check_deliverability)
    except EmailNotValidError as exc:
        raise InvalidEmail(str(exc)) from exc
    return normalise_email(result.normalized)
