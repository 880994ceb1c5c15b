"""``paperboy send``: every digest due on a date, whatever the hour."""

from __future__ import annotations

import datetime as dt

import click

from service.cli_support import emit, get_runtime, json_option


@click.command()
@click.option("--date", "digest_date", type=click.DateTime(["%Y-%m-%d"]), help="Digest date (default: today, UTC).")
@json_option
@click.pass_context
def send(ctx: click.Context, digest_date: dt.datetime | None, as_json: bool) -> None:
    """Send every digest due on DATE; running it again for the same date sends nothing new."""
    from service.digest import send_due_digests

    rt = get_runtime(ctx)
    day = digest_date.date() if digest_date else dt.datetime.now(dt.UTC).date()
    report = send_due_digests(rt, day)
    human = (
        f"{day}: planned {report['planned']}, sent {report['sent']}, skipped {report['skipped']}, "
        f"failed {report['failed']}"
        + (f", {report['elsewhere']} in progress in another sender" if report["elsewhere"] else "")
        + "".join(f"\n  delivery {e['delivery_id']} ({e['status']}): {e['error']}" for e in report["errors"])
    )
    emit(report, as_json, human)
    if report["failed"]:
        raise SystemExit(1)
