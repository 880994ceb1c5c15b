"""Reports in words: what ``paperboy`` prints for a person when it is not asked for ``--json``."""

from __future__ import annotations

from typing import Any

from service.wording import plural


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
