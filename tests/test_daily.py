"""``paperboy daily``: the inbox's pages go out as digests even when the API cannot be reached, and the run says
that the fetch failed."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil

from service.daily import run_daily
from service.demo import SAMPLE_PAGES
from service.runtime import Runtime
from service.subscribers.lifecycle import create_confirmed
from tests.digest.conftest import send_counts


def test_daily_ingests_the_inbox_trains_and_sends_despite_a_failed_fetch(runtime: Runtime) -> None:
    settings = dataclasses.replace(runtime.settings, HF_API_BASE_URL="http://127.0.0.1:9", HTTP_TIMEOUT_S=1.0)
    rt = Runtime(settings, runtime.db, runtime.links)
    inbox = settings.INBOX_DIR
    inbox.mkdir(parents=True, exist_ok=True)
    # a capture without a listing date is news on the day it arrives (a dated page is news on its own day)
    shutil.copy(SAMPLE_PAGES / "02_layout_a.txt", inbox / "today.txt")
    with rt.db.session() as session:
        create_confirmed(session, "reader@example.com", topics=["diffusion"])

    report = run_daily(rt, dt.datetime.now(dt.UTC).date())

    assert report["inbox"]["pages"] == 1 and report["inbox"]["new_papers"] > 0
    assert "error" in report["fetch"]  # nothing listens on port 9: reported, not fatal
    assert report["train"]["status"] == "ready"
    assert send_counts(report["send"]) == {"planned": 1, "sent": 1, "skipped": 0, "failed": 0}
    assert report["failed_stages"] == ["fetch"] and report["ok"] is False  # the rest went on; the run still failed
    assert len(list(settings.OUTBOX_DIR.glob("*.eml"))) == 1
    again = run_daily(rt, dt.datetime.now(dt.UTC).date())
    assert again["send"]["sent"] == 0 and again["inbox"]["pages"] == 0


def test_the_report_reads_as_one_line_a_stage() -> None:
    from service.summaries import describe_daily

    report = {
        "date": "2026-07-31",
        "inbox": {"pages": 1, "entries": 1, "new_papers": 1, "updated_papers": 0, "failed": []},
        "fetch": {"error": "FetchError: network error"},
        "train": {"status": "ready", "model_version": 3, "n_items": 1, "n_users": 1, "n_interactions": 1, "fit_s": 0.5},
        "send": {"planned": 1, "sent": 1, "skipped": 0, "failed": 0},
        "failed_stages": ["fetch"],
        "ok": False,
    }
    assert describe_daily(report).splitlines() == [
        "daily run for 2026-07-31",
        "  inbox  1 page, 1 entry: 1 new, 0 updated",
        "  fetch  FAILED: FetchError: network error",
        "  train  model v3 on 1 paper and 1 interaction of 1 reader in 0.5s",
        "  send   1 digest planned, 1 sent, 0 skipped, 0 failed",
        "failed: fetch",
    ]
