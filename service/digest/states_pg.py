"""The hot transitions of ``states.py`` as PostgreSQL array statements: one statement per group, whatever its size.

The rows of a group travel as a few bound arrays (``unnest``): the same compare-and-set on (id, attempts, status) as
the portable statements, without a CASE arm and two IN-list parameters per row for the driver to bind and the
server to parse. Arrays go as one text literal
each (``pg_array``): the driver would otherwise adapt a Python list element by element, seven times the CPU of the
statement.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.orm import Session


class Claim(Protocol):
    """A claim as these statements need it (``states.Claim``): which row, under which attempt."""

    delivery_id: int
    attempt: int


def pg_array(values: Iterable[str | None]) -> str:
    """A text array literal (``{"a\\"b",NULL}``) for one text parameter cast to an array type."""
    quoted = ("NULL" if v is None else '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(quoted) + "}"


def pg_int_array(values: Iterable[int]) -> str:
    """An integer array literal (``{1,2,3}``); ``int()`` refuses anything that is not a whole number."""
    return "{" + ",".join([str(int(v)) for v in values]) + "}"


def _fencing(claims: Iterable[Claim]) -> dict[str, str]:
    """The ``ids`` and ``attempts`` arrays of the statements: which rows, under which claims."""
    taken = list(claims)
    return {"ids": pg_int_array(c.delivery_id for c in taken), "attempts": pg_int_array(c.attempt for c in taken)}


_MARK_SUBMITTING = text(
    """
    UPDATE deliveries AS d SET status = 'submitting', message_id = u.message_id, claimed_at = :now
    FROM unnest(CAST(:ids AS integer[]), CAST(:attempts AS integer[]), CAST(:message_ids AS varchar[]))
        AS u(id, attempt, message_id)
    WHERE d.id = u.id AND d.attempts = u.attempt AND d.status = 'sending'
    RETURNING d.id
    """
)

_RECORD_SENT = text(
    """
    UPDATE deliveries AS d SET status = 'sent', provider_message_id = u.provider_id, sent_at = :now, error = NULL
    FROM unnest(CAST(:ids AS integer[]), CAST(:attempts AS integer[]), CAST(:provider_ids AS varchar[]))
        AS u(id, attempt, provider_id)
    WHERE d.id = u.id AND d.attempts = u.attempt AND d.status = 'submitting'
    RETURNING d.id
    """
)

_STORE_PICKS = text(
    """
    UPDATE deliveries AS d SET picks = CAST(u.picks AS json), model_version_id = :model_version_id
    FROM unnest(CAST(:ids AS integer[]), CAST(:attempts AS integer[]), CAST(:picks AS text[]))
        AS u(id, attempt, picks)
    WHERE d.id = u.id AND d.attempts = u.attempt AND d.status = 'sending'
    RETURNING d.id
    """
)


def mark_submitting(session: Session, items: Sequence[tuple[Claim, str]], now: dt.datetime) -> set[int]:
    params = {
        **_fencing(c for c, _ in items),
        "message_ids": pg_array(message_id for _, message_id in items),
        "now": now,
    }
    return set(session.scalars(_MARK_SUBMITTING, params))


def record_sent(session: Session, items: Sequence[tuple[Claim, str | None]], now: dt.datetime) -> set[int]:
    params = {**_fencing(c for c, _ in items), "provider_ids": pg_array(p for _, p in items), "now": now}
    return set(session.scalars(_RECORD_SENT, params))


def store_picks(session: Session, items: Sequence[tuple[Claim, list[dict]]], model_version_id: int | None) -> set[int]:
    params = {
        **_fencing(c for c, _ in items),
        "picks": pg_array(json.dumps(picks) for _, picks in items),
        "model_version_id": model_version_id,
    }
    return set(session.scalars(_STORE_PICKS, params))
