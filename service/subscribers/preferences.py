"""Preferences: validate what a reader submits, then apply it all at once (or nothing at all).

The form is the only input; every field is checked and every problem is reported by field name, so one bad
value never half-applies the rest. Changes take effect on the next digest because the planner reads the row.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import zoneinfo
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

from service.models import Subscriber

FREQUENCIES = ("daily", "weekdays", "weekly")
FORMATS = ("html", "text")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
LIST_FIELDS = {
    "topics": "topics",
    "include_keywords": "keywords to include",
    "exclude_keywords": "keywords to exclude",
    "followed_authors": "followed authors",
}
MAX_LIST_ITEMS = 30
MAX_ITEM_LENGTH = 100
MIN_PAPERS, MAX_PAPERS = 1, 30
MAX_PAUSE_DAYS = 366
_SPLIT = re.compile(r"[,;\n]+")


class InvalidPreferences(ValueError):
    """Some fields were invalid; ``errors`` maps each field name to what was wrong with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = errors


@lru_cache(maxsize=1)
def time_zones() -> tuple[str, ...]:
    """Every IANA zone this machine knows, for the form's menu."""
    return tuple(sorted(zoneinfo.available_timezones()))


def valid_time_zone(name: str) -> bool:
    if not name or len(name) > 64:
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        return False
    return True


def parse_list(raw: str, label: str) -> list[str]:
    """Comma-, semicolon- or line-separated items: trimmed, de-duplicated (case-insensitively), order kept."""
    items: list[str] = []
    seen: set[str] = set()
    for part in _SPLIT.split(raw or ""):
        item = " ".join(part.split())
        if not item:
            continue
        if any(unicodedata.category(ch).startswith("C") for ch in item):
            raise ValueError(f"{label} cannot contain control characters")
        if len(item) > MAX_ITEM_LENGTH:
            raise ValueError(f"each of the {label} must be at most {MAX_ITEM_LENGTH} characters ({item[:20]}…)")
        if item.casefold() not in seen:
            seen.add(item.casefold())
            items.append(item)
    if len(items) > MAX_LIST_ITEMS:
        raise ValueError(f"at most {MAX_LIST_ITEMS} {label}, not {len(items)}")
    return items


def _int_in(raw: str | None, low: int, high: int, label: str) -> int:
    try:
        value = int((raw or "").strip())
    except ValueError:
        raise ValueError(f"{label} must be a whole number from {low} to {high}") from None
    if not low <= value <= high:
        raise ValueError(f"{label} must be from {low} to {high}, not {value}")
    return value


def _choice(raw: str | None, choices: tuple[str, ...], label: str) -> str:
    value = (raw or "").strip()
    if value not in choices:
        raise ValueError(f"{label} must be one of {', '.join(choices)}")
    return value


def _pause(raw: str | None, today: dt.date) -> dt.date | None:
    value = (raw or "").strip()
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError("pause until must be a date like 2025-01-31") from None
    if day < today:
        raise ValueError("pause until must be today or later (leave it empty to keep receiving emails)")
    if day > today + dt.timedelta(days=MAX_PAUSE_DAYS):
        raise ValueError("pause until must be within a year")
    return day


def parse_preferences(form: Mapping[str, str], today: dt.date | None = None) -> dict[str, Any]:
    """Validate a submitted preferences form into column values; raises ``InvalidPreferences`` naming every bad field.

    ``tracking_enabled`` is a checkbox: absent means off, as a browser sends it.
    """
    today = today or dt.datetime.now(dt.UTC).date()
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    checks: dict[str, Any] = {
        "papers_per_email": lambda raw: _int_in(raw, MIN_PAPERS, MAX_PAPERS, "papers per email"),
        "frequency": lambda raw: _choice(raw, FREQUENCIES, "frequency"),
        "weekly_day": lambda raw: _int_in(raw, 0, 6, "day of the week"),
        "send_hour": lambda raw: _int_in(raw, 0, 23, "send hour"),
        "email_format": lambda raw: _choice(raw, FORMATS, "email format"),
        "paused_until": lambda raw: _pause(raw, today),
    }
    for field, label in LIST_FIELDS.items():
        checks[field] = lambda raw, label=label: parse_list(raw or "", label)
    for field, check in checks.items():
        try:
            values[field] = check(form.get(field))
        except ValueError as exc:
            errors[field] = str(exc)
    zone = (form.get("timezone") or "").strip()
    if valid_time_zone(zone):
        values["timezone"] = zone
    else:
        errors["timezone"] = f"unknown time zone {zone[:64]!r}; pick one like Europe/Paris or UTC"
    values["tracking_enabled"] = form.get("tracking_enabled") in ("on", "1", "true", "yes")
    if errors:
        raise InvalidPreferences(errors)
    return values


def current_preferences(subscriber: Subscriber) -> dict[str, Any]:
    """The subscriber's preferences as column values (what the form shows and the data export lists)."""
    fields = [*LIST_FIELDS, "papers_per_email", "frequency", "weekly_day", "send_hour", "timezone"]
    fields += ["email_format", "paused_until", "tracking_enabled"]
    return {field: getattr(subscriber, field) for field in fields}


def update_preferences(
    session: Session, subscriber: Subscriber, form: Mapping[str, str], today: dt.date | None = None
) -> dict[str, Any]:
    """Validate ``form`` and apply it to ``subscriber``; returns the fields that changed (old, new)."""
    values = parse_preferences(form, today)
    changed: dict[str, Any] = {}
    for field, value in values.items():
        old = getattr(subscriber, field)
        if old != value:
            changed[field] = (old, value)
            setattr(subscriber, field, value)
    session.flush()
    return changed
