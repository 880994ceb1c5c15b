"""Suppression: addresses we must never mail again (bounces, spam reports, manual), whatever their status."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.mail.addresses import normalise_email
from service.models import Suppression


def is_suppressed(session: Session, email: str) -> bool:
    return session.scalar(select(Suppression.id).where(Suppression.email == normalise_email(email))) is not None


def suppress(session: Session, email: str, reason: str, detail: str | None = None) -> bool:
    """Suppress ``email``; returns False when it already was (the first reason is kept)."""
    address = normalise_email(email)
    if is_suppressed(session, address):
        return False
    session.add(Suppression(email=address, reason=reason, detail=detail))
    session.flush()
    return True


def lift(session: Session, email: str) -> bool:
    """Remove a suppression (an operator's decision, e.g. after a mailbox was fixed)."""
    row = session.scalar(select(Suppression).where(Suppression.email == normalise_email(email)))
    if row is None:
        return False
    session.delete(row)
    return True
