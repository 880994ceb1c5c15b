"""When a digest is due: frequency, pause, send hour and time zone."""

from __future__ import annotations

import datetime as dt

import pytest

from service.digest.schedule import is_due, local_dates
from service.models import Subscriber

TUESDAY, SATURDAY = dt.date(2025, 6, 3), dt.date(2025, 6, 7)


def sub(**prefs) -> Subscriber:
    values = {
        "email": "r@example.com",
        "status": "confirmed",
        "frequency": "daily",
        "weekly_day": 0,
        "send_hour": 7,
        "timezone": "UTC",
        "paused_until": None,
    }
    values.update(prefs)
    return Subscriber(**values)


@pytest.mark.parametrize(
    ("prefs", "day", "due"),
    [
        ({}, SATURDAY, True),
        ({"frequency": "weekdays"}, TUESDAY, True),
        ({"frequency": "weekdays"}, SATURDAY, False),
        ({"frequency": "weekly", "weekly_day": 1}, TUESDAY, True),
        ({"frequency": "weekly", "weekly_day": 0}, TUESDAY, False),
        ({"paused_until": dt.date(2025, 6, 4)}, TUESDAY, False),
        ({"paused_until": dt.date(2025, 6, 3)}, TUESDAY, True),  # digests resume on the paused_until date
        ({"status": "unconfirmed"}, TUESDAY, False),
        ({"status": "unsubscribed"}, TUESDAY, False),
    ],
)
def test_frequency_pause_and_status(prefs, day, due):
    assert bool(is_due(sub(**prefs), day)) is due


def test_suppressed_address_is_never_due():
    verdict = is_due(sub(), TUESDAY, suppressed={"r@example.com"})
    assert not verdict and verdict.reason == "address suppressed"


def test_send_hour_is_local_to_the_subscribers_time_zone():
    tokyo = sub(timezone="Asia/Tokyo", send_hour=7)  # UTC+9
    # 21:30 UTC on June 2 is 06:30 on June 3 in Tokyo: not yet; 22:00 UTC is 07:00: due.
    assert not is_due(tokyo, TUESDAY, respect_hour=True, now=dt.datetime(2025, 6, 2, 21, 30, tzinfo=dt.UTC))
    assert is_due(tokyo, TUESDAY, respect_hour=True, now=dt.datetime(2025, 6, 2, 22, 0, tzinfo=dt.UTC))
    # Without respect_hour (paperboy send --date) the hour does not matter.
    assert is_due(tokyo, TUESDAY, now=dt.datetime(2025, 6, 2, 0, 0, tzinfo=dt.UTC))


def test_a_missed_beat_still_sends_later_the_same_local_day_but_not_the_next():
    ny = sub(timezone="America/New_York", send_hour=8)  # UTC-4 in June
    assert is_due(ny, TUESDAY, respect_hour=True, now=dt.datetime(2025, 6, 3, 15, 0, tzinfo=dt.UTC))  # 11:00 local
    assert not is_due(ny, TUESDAY, respect_hour=True, now=dt.datetime(2025, 6, 4, 5, 0, tzinfo=dt.UTC))  # next day


def test_daylight_saving_shift_keeps_the_local_hour():
    berlin = sub(timezone="Europe/Berlin", send_hour=7)
    winter = dt.date(2025, 1, 14)
    assert is_due(berlin, winter, respect_hour=True, now=dt.datetime(2025, 1, 14, 6, 0, tzinfo=dt.UTC))  # 07:00 CET
    assert not is_due(berlin, TUESDAY, respect_hour=True, now=dt.datetime(2025, 6, 3, 4, 59, tzinfo=dt.UTC))  # 06:59
    assert is_due(berlin, TUESDAY, respect_hour=True, now=dt.datetime(2025, 6, 3, 5, 0, tzinfo=dt.UTC))  # 07:00 CEST


def test_unknown_time_zone_falls_back_to_utc():
    assert is_due(
        sub(timezone="Mars/Olympus_Mons"), TUESDAY, respect_hour=True, now=dt.datetime(2025, 6, 3, 7, 0, tzinfo=dt.UTC)
    )


def test_beat_considers_every_date_some_zone_is_on():
    assert local_dates(dt.datetime(2025, 6, 3, 12, 0, tzinfo=dt.UTC)) == [dt.date(2025, 6, 3), dt.date(2025, 6, 4)]
    assert dt.date(2025, 6, 2) in local_dates(dt.datetime(2025, 6, 3, 1, 0, tzinfo=dt.UTC))
