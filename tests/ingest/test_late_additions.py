"""hf-late-addition: a paper added to yesterday's listing after the first fetch is stored by the next day's job
and reaches each reader once, in that day's digest; nothing already sent goes out again."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from service.daily import run_daily
from service.runtime import Runtime
from tests.ingest.conftest import with_settings
from tests.ingest.support import add_reader, arxiv_ids_sent, picks_by_date

DAY1, DAY2, DAY3 = dt.date(2026, 11, 27), dt.date(2026, 11, 28), dt.date(2026, 11, 29)


def _path(day: dt.date) -> str:
    return f"/api/daily_papers?date={day.isoformat()}"


def test_a_late_addition_to_yesterdays_listing_goes_out_once(
    runtime: Runtime, fake_api, shared_dir: Path, no_backoff: None
) -> None:
    api, base = fake_api
    case = shared_dir / "cases" / "hf-late-addition"
    for quiet in (DAY1 - dt.timedelta(days=2), DAY1 - dt.timedelta(days=1)):
        api.add(_path(quiet), 200, b"[]")
    api.add(_path(DAY1), 200, (case / "day1_first_fetch.json").read_bytes())  # the 27th's job: A
    api.add(_path(DAY1), 200, (case / "day1_after_midnight.json").read_bytes())  # from then on: A and late B
    api.add(_path(DAY2), 200, (case / "day2.json").read_bytes())
    api.add(_path(DAY3), 200, b"[]")
    rt = with_settings(runtime, HF_API_BASE_URL=base, FETCH_REREAD_DAYS=2)
    daily = add_reader(rt, "daily@example.com")
    weekly = add_reader(rt, "weekly@example.com", frequency="weekly", weekly_day=DAY3.weekday())

    first = run_daily(rt, DAY1)
    assert first["fetch"]["new_papers"] == 1 and first["send"]["sent"] == 1
    second = run_daily(rt, DAY2)  # re-reads the 27th: B is stored now, and C of the 28th
    assert (second["fetch"]["new_papers"], second["fetch"]["updated_papers"]) == (2, 1)
    assert second["send"]["sent"] == 1
    third = run_daily(rt, DAY3)  # a daily reader has nothing new; the weekly reader gets the week
    assert third["send"]["sent"] == 1

    assert picks_by_date(rt, daily) == {
        "2026-11-27": ["2611.50001"],
        "2026-11-28": ["2611.50002", "2611.50003"],
    }
    assert picks_by_date(rt, weekly) == {"2026-11-29": ["2611.50001", "2611.50002", "2611.50003"]}
    sent = arxiv_ids_sent(rt)
    assert sorted(sent[daily]) == ["2611.50001", "2611.50002", "2611.50003"]  # each once
    assert sorted(sent[weekly]) == ["2611.50001", "2611.50002", "2611.50003"]
    assert api.requests.count(_path(DAY1)) == 3  # read on its day, re-read on the two days after
