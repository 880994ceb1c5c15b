"""``paperboy send``: every digest due on a date, whatever the hour."""

from __future__ import annotations

import datetime as dt
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy import func, select

from service.cli_support import emit, get_runtime, json_option, show_progress
from service.models import Delivery
from service.runtime import Runtime

DONE = ("sent", "skipped", "failed")
POLL_S = 0.5


@click.command()
@click.option("--date", "digest_date", type=click.DateTime(["%Y-%m-%d"]), help="Digest date (default: today, UTC).")
@json_option
@click.pass_context
def send(ctx: click.Context, digest_date: dt.datetime | None, as_json: bool) -> None:
    """Send every digest due on DATE; running it again for the same date sends nothing new."""
    from service.digest import send_due_digests
    from service.summaries import describe_sending

    rt = get_runtime(ctx)
    day = digest_date.date() if digest_date else dt.datetime.now(dt.UTC).date()
    with watch_deliveries(rt, day, show_progress(as_json)):
        report = send_due_digests(rt, day)
    emit(report, as_json, describe_sending(report, day.isoformat()))
    if report["failed"]:
        raise SystemExit(1)


def delivery_counts(rt: Runtime, day: dt.date) -> tuple[int, int]:
    """(deliveries of ``day``, those finished: sent, skipped or failed)."""
    with rt.db.session() as session:
        rows = session.execute(
            select(Delivery.status, func.count()).where(Delivery.digest_date == day).group_by(Delivery.status)
        ).all()
    return sum(n for _, n in rows), sum(n for status, n in rows if status in DONE)


@contextmanager
def watch_deliveries(rt: Runtime, day: dt.date, enabled: bool) -> Iterator[None]:
    """A bar of the day's deliveries as they finish, read from the database: it follows the sending whether it
    runs in this process or on the workers (planning adds rows as it goes, so the total grows too)."""
    if not enabled:
        yield
        return
    from tqdm import tqdm

    stop = threading.Event()
    with tqdm(desc=f"send {day}", unit="digest", file=sys.stderr, leave=False, dynamic_ncols=True) as bar:

        def show() -> None:
            try:
                total, done = delivery_counts(rt, day)
            except Exception:  # noqa: BLE001 - the bar is a nicety; the sending reports its own errors
                return
            bar.total, bar.n = total, done
            bar.refresh()

        def poll() -> None:
            while not stop.wait(POLL_S):
                show()

        watcher = threading.Thread(target=poll, name="send-progress", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            stop.set()
            watcher.join(timeout=5)
            show()  # the end state, however quickly it came
