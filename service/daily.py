"""The daily job in one call (``paperboy daily``): new pages in (the inbox; the HF API's day and the days it
re-reads, the arXiv category feeds: ``service.ingest.listings``), model refreshed, due digests out.

Each stage's failure is reported, and a failed stage does not stop the later ones: a failed fetch still lets
the inbox's pages go out, and a failed training leaves the last good model in use.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from service.runtime import Runtime

log = logging.getLogger(__name__)


def run_daily(rt: Runtime, day: dt.date) -> dict[str, Any]:
    from service.digest import send_due_digests
    from service.ingest import fetch_recent_listings, poll_inbox
    from service.recommend import train_model

    report: dict[str, Any] = {"date": day.isoformat()}
    report["inbox"] = poll_inbox(rt).to_json()
    try:
        fetched = fetch_recent_listings(rt, day)
        report["fetch"] = fetched.to_json()
        if fetched.failed:  # each source fails alone; the day goes on with what came
            report["fetch"]["error"] = "; ".join(f"{f['path']}: {f['error']}" for f in fetched.failed)
    except Exception as exc:  # noqa: BLE001 - the network is an edge; the day goes on without it
        log.warning("fetching the listings for %s failed: %s", day, exc)
        report["fetch"] = {"error": f"{exc.__class__.__name__}: {exc}"}
    report["train"] = train_model(rt)
    report["send"] = send_due_digests(rt, day)
    report["ok"] = report["send"]["failed"] == 0
    return report
