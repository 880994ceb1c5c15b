"""The daily job in one call (``paperboy daily``): new pages in (the inbox; the HF API's day and the days it
re-reads, the arXiv category feeds: ``service.ingest.listings``), model refreshed, due digests out.

Each stage's failure is reported, and a failed stage does not stop the later ones: a failed fetch still lets
the inbox's pages go out, and a failed training leaves the last good model in use. The run is ``ok`` only when
no stage failed (``failed_stages`` names the ones that did), so the command's exit status tells an operator.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from service.runtime import Runtime

log = logging.getLogger(__name__)

STAGES = ("inbox", "fetch", "train", "send")


def run_daily(rt: Runtime, day: dt.date) -> dict[str, Any]:
    """Run every stage for ``day``; returns each stage's report, ``failed_stages`` and ``ok``."""
    from service.digest import send_due_digests
    from service.ingest import fetch_recent_listings, poll_inbox
    from service.recommend import train_model
    from service.recommend.train import nothing_to_learn

    report: dict[str, Any] = {"date": day.isoformat()}
    report["inbox"] = poll_inbox(rt).to_json()
    try:
        fetched = fetch_recent_listings(rt, day)
        report["fetch"] = fetched.to_json()
        if fetched.failed:  # each source fails alone; the day goes on with what came
            report["fetch"]["error"] = "; ".join(f"{f['path']}: {f['error']}" for f in fetched.failed)
    except Exception as exc:  # noqa: BLE001 - the network is an edge; the day goes on without it
        log.info("fetching the listings for %s failed: %s", day, exc)  # the report says it too
        report["fetch"] = {"error": f"{exc.__class__.__name__}: {exc}"}
    empty = nothing_to_learn(rt)
    report["train"] = {"status": "skipped", "reason": empty} if empty else train_model(rt)
    report["send"] = send_due_digests(rt, day)
    report["failed_stages"] = [stage for stage in STAGES if stage_failed(stage, report[stage])]
    report["ok"] = not report["failed_stages"]
    return report


def stage_failed(stage: str, outcome: dict[str, Any]) -> bool:
    """Whether one stage's report says it did not do its job (a page that failed to parse counts)."""
    if stage in ("inbox", "fetch"):
        return "error" in outcome or bool(outcome.get("failed"))
    if stage == "train":
        return outcome.get("status") not in ("ready", "skipped")
    return bool(outcome.get("failed"))
