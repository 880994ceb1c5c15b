"""Preference updates are validated field by field and applied all at once or not at all."""

from __future__ import annotations

import datetime as dt

import pytest

from service.models import Subscriber
from service.subscribers.preferences import InvalidPreferences, parse_list, parse_preferences, update_preferences
from tests.web.support import add_subscriber

TODAY = dt.date(2025, 6, 3)


def valid_form(**changes: str) -> dict[str, str]:
    form = {
        "topics": "diffusion models, Robotics\nrobotics",
        "include_keywords": "transformer",
        "exclude_keywords": "survey; benchmark",
        "followed_authors": "Yann LeCun",
        "papers_per_email": "5",
        "frequency": "weekly",
        "weekly_day": "2",
        "send_hour": "18",
        "timezone": "Europe/Paris",
        "email_format": "text",
        "paused_until": "2025-07-01",
        "tracking_enabled": "on",
    }
    form.update(changes)
    return form


def test_a_valid_form_becomes_column_values():
    values = parse_preferences(valid_form(), TODAY)
    assert values["topics"] == ["diffusion models", "Robotics"]  # de-duplicated case-insensitively, order kept
    assert values["exclude_keywords"] == ["survey", "benchmark"]
    assert values["papers_per_email"] == 5
    assert values["frequency"] == "weekly" and values["weekly_day"] == 2
    assert values["send_hour"] == 18 and values["timezone"] == "Europe/Paris"
    assert values["paused_until"] == dt.date(2025, 7, 1)
    assert values["tracking_enabled"] is True


def test_an_unticked_checkbox_turns_tracking_off_and_empty_pause_clears_it():
    form = valid_form(paused_until="")
    del form["tracking_enabled"]
    values = parse_preferences(form, TODAY)
    assert values["tracking_enabled"] is False
    assert values["paused_until"] is None


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("timezone", "Mars/Olympus_Mons", "time zone"),
        ("timezone", "../../etc/passwd", "time zone"),
        ("send_hour", "24", "send hour"),
        ("send_hour", "seven", "send hour"),
        ("papers_per_email", "0", "papers per email"),
        ("papers_per_email", "500", "papers per email"),
        ("frequency", "hourly", "frequency"),
        ("weekly_day", "7", "day of the week"),
        ("email_format", "pdf", "email format"),
        ("paused_until", "2025-13-45", "pause until"),
        ("paused_until", "2025-01-01", "today or later"),
        ("topics", "x" * 200, "at most"),
        ("followed_authors", ",".join(f"author {i}" for i in range(40)), "at most"),
    ],
)
def test_each_bad_field_is_named(field, value, words):
    with pytest.raises(InvalidPreferences) as info:
        parse_preferences(valid_form(**{field: value}), TODAY)
    assert set(info.value.errors) == {field}
    assert words in info.value.errors[field]


def test_every_bad_field_is_reported_at_once():
    with pytest.raises(InvalidPreferences) as info:
        parse_preferences(valid_form(send_hour="-1", timezone="Nowhere", frequency="never"), TODAY)
    assert set(info.value.errors) == {"send_hour", "timezone", "frequency"}


def test_control_characters_are_refused():
    with pytest.raises(ValueError, match="control characters"):
        parse_list("ok, bad\x07item", "topics")


def test_update_applies_everything_or_nothing(any_runtime):
    subscriber = add_subscriber(any_runtime)
    with any_runtime.db.session() as session:
        row = session.get(Subscriber, subscriber.id)
        with pytest.raises(InvalidPreferences):
            update_preferences(session, row, valid_form(timezone="Not/AZone"), TODAY)
    with any_runtime.db.session() as session:
        row = session.get(Subscriber, subscriber.id)
        assert row.timezone == "UTC" and row.frequency == "daily" and row.topics == []
        changed = update_preferences(session, row, valid_form(), TODAY)
        assert changed["timezone"] == ("UTC", "Europe/Paris")
    with any_runtime.db.session() as session:
        row = session.get(Subscriber, subscriber.id)
        assert row.timezone == "Europe/Paris" and row.frequency == "weekly" and row.email_format == "text"
        assert row.followed_authors == ["Yann LeCun"] and row.paused_until == dt.date(2025, 7, 1)
