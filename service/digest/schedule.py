"""Is a digest due for a subscriber on a date (and, for the hourly beat, at this hour)?

A digest belongs to the subscriber's *local* date. ``paperboy send --date D`` ignores the hour; the beat
(``respect_hour``) sends once the subscriber's local clock has reached their send hour on D. Checking
"reached" rather than "equal" means a beat that missed an hour (a deploy, an outage) still sends that day;
the unique (subscriber, date) delivery row keeps it to one email.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from service.digest.states import why_not_mailable
from service.models import Subscriber

DAILY, WEEKDAYS, WEEKLY = "daily", "weekdays", "weekly"


@dataclass(frozen=True)
class Due:
    due: bool
    reason: str  # why not (or "due")

    def __bool__(self) -> bool:
        return self.due


def subscriber_zone(subscriber: Subscriber) -> ZoneInfo:
    """The subscriber's time zone; an unknown name falls back to UTC rather than never sending."""
    try:
        return ZoneInfo(subscriber.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_now(subscriber: Subscriber, now: dt.datetime) -> dt.datetime:
    """``now`` (aware, or naive UTC) on the subscriber's wall clock."""
    aware = now if now.tzinfo else now.replace(tzinfo=dt.UTC)
    return aware.astimezone(subscriber_zone(subscriber))


def day_matches(subscriber: Subscriber, digest_date: dt.date) -> Due:
    """Frequency rule: daily, weekdays (Monday to Friday), weekly (on ``weekly_day``, 0 = Monday)."""
    frequency = subscriber.frequency or DAILY
    weekday = digest_date.weekday()
    if frequency == WEEKDAYS and weekday >= 5:
        return Due(False, "weekdays only")
    if frequency == WEEKLY and weekday != (subscriber.weekly_day or 0) % 7:
        return Due(False, "not the weekly day")
    if frequency not in {DAILY, WEEKDAYS, WEEKLY}:
        return Due(False, f"unknown frequency {frequency!r}")
    return Due(True, "due")


def is_due(
    subscriber: Subscriber,
    digest_date: dt.date,
    *,
    now: dt.datetime | None = None,
    respect_hour: bool = False,
    suppressed: Collection[str] = frozenset(),
) -> Due:
    """Whether ``subscriber`` should get the digest of ``digest_date`` (at ``now`` when ``respect_hour``);
    ``suppressed``: the suppressed addresses (``states.why_not_mailable``, the one eligibility rule)."""
    reason = why_not_mailable(subscriber.status, subscriber.email, suppressed)
    if reason is not None:
        return Due(False, reason)
    if subscriber.paused_until is not None and digest_date < subscriber.paused_until:
        return Due(False, f"paused until {subscriber.paused_until.isoformat()}")
    rule = day_matches(subscriber, digest_date)
    if not rule:
        return rule
    if respect_hour:
        local = local_now(subscriber, now or dt.datetime.now(dt.UTC))
        if local.date() != digest_date:
            return Due(False, "not that date in the subscriber's time zone")
        if local.hour < subscriber.send_hour:
            return Due(False, "before the send hour")
    return Due(True, "due")


def local_dates(now: dt.datetime) -> list[dt.date]:
    """Every date some time zone is on at ``now`` (UTC-12 … UTC+14): the dates the hourly beat considers."""
    aware = now if now.tzinfo else now.replace(tzinfo=dt.UTC)
    return sorted({(aware + dt.timedelta(hours=h)).date() for h in (-12, 0, 14)})
