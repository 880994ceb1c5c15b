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

from sqlalchemy import func, select

from service.models import Paper
from service.runtime import Runtime
from service.wording import plural

log = logging.getLogger(__name__)

STAGES = ("inbox", "fetch", "train", "send")
NOTHING_TO_LEARN = "nothing to learn from: there are no papers yet (ingest some pages first)"


def nothing_to_learn(rt: Runtime) -> str | None:
    """Why training would be pointless (no papers at all), or None. Clicks are not needed: a model of the papers'
    text alone already ranks by stated topics."""
    with rt.db.session() as session:
        papers = session.scalar(select(func.count(Paper.id)))
    return NOTHING_TO_LEARN if not papers else None


def run_daily(rt: Runtime, day: dt.date) -> dict[str, Any]:
    """Run every stage for ``day``; returns each stage's report, ``failed_stages`` and ``ok``."""
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


def describe_ingest(outcome: dict[str, Any]) -> str:
    """One ingest report (``IngestReport.to_json``) in words."""
    if "error" in outcome:
        return f"FAILED: {outcome['error']}"
    text = (
        f"{plural(outcome['pages'], 'page')}, {plural(outcome['entries'], 'entry', 'entries')}: "
        f"{outcome['new_papers']:,} new, {outcome['updated_papers']:,} updated"
    )
    failed = outcome.get("failed") or []
    if failed:
        text = f"FAILED: {text}, {plural(len(failed), 'page')} failed" + "".join(
            f"\n      {f['path']}: {f['error']}" for f in failed
        )
    return text


def describe_training(outcome: dict[str, Any]) -> str:
    """One ``train_model`` report in words."""
    status = outcome.get("status")
    if status == "skipped":
        return f"skipped: {outcome.get('reason', 'nothing to do')}"
    if status != "ready":
        return f"FAILED: {outcome.get('error') or 'training did not finish'} (the last good model stays in use)"
    text = f"model v{outcome['model_version']} on {plural(outcome['n_items'], 'paper')}"
    if outcome.get("n_interactions"):
        text += (
            f" and {plural(outcome['n_interactions'], 'interaction')} of {plural(outcome['n_users'], 'reader')}"
            f" in {outcome.get('fit_s', 0):.1f}s"
        )
    else:
        text += ": no clicks or feedback yet, so picks follow readers' topics and what is trending"
    return text


def describe_sending(outcome: dict[str, Any], day: str | None = None) -> str:
    """One ``send_due_digests`` report in words."""
    text = (
        f"{plural(outcome['planned'], 'digest')} planned, {outcome['sent']:,} sent, {outcome['skipped']:,} skipped"
        f", {outcome['failed']:,} failed"
    )
    if outcome.get("elsewhere"):
        text += f", {outcome['elsewhere']:,} in progress in another sender"
    if outcome.get("failed"):
        text = f"FAILED: {text} (run it again to retry the ones put back)"
    text = f"{day}: {text}" if day else text
    reasons = "".join(
        f"\n    delivery {e['delivery_id']} ({e['status']}): {e['error']}" for e in outcome.get("errors") or []
    )
    return text + reasons


def describe_daily(report: dict[str, Any]) -> str:
    """The daily report for a person: one line a stage, then the verdict."""
    lines = [f"daily run for {report['date']}"]
    lines.append(f"  inbox  {describe_ingest(report['inbox'])}")
    lines.append(f"  fetch  {describe_ingest(report['fetch'])}")
    lines.append(f"  train  {describe_training(report['train'])}")
    lines.append(f"  send   {describe_sending(report['send'])}")
    failed = report.get("failed_stages") or []
    lines.append(f"failed: {', '.join(failed)}" if failed else "every stage did its job")
    return "\n".join(lines)
