"""``paperboy demo``: the whole daily job on sample pages, in a fresh folder, with no server running.

Ingest → simulated readers with a click history → train → one personalised digest each, as .eml files.

The folder is a self-contained instance: a marker file (``DEMO_MARKER``) records the demo's ``BASE_URL``, and
``paperboy --instance FOLDER …`` (``serve`` included) then uses the folder's database, outbox and models whatever
the environment says, so the server the demo suggests is the one its emails' links point at.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
import shutil
import sys
import time
from collections.abc import Callable
from importlib import import_module
from pathlib import Path

from sqlalchemy import select

from service.instance import DEFAULT_PORT, DEMO_MARKER, demo_base_url, demo_settings
from service.models import Delivery, DeliveryStatus, Paper
from service.runtime import Runtime

SAMPLE_PAGES = Path(__file__).parent / "samples" / "pages"


class DemoError(RuntimeError):
    """A demo stage did not do its job; the message names the stage."""


def demo_runtime(folder: Path, port: int = DEFAULT_PORT) -> Runtime:
    return Runtime.from_env(demo_settings(folder, demo_base_url(port)))


def program_name() -> str:
    """How the person ran ``paperboy`` (``.venv/bin/paperboy`` from ``make demo``), for commands we print."""
    argv0 = sys.argv[0] if sys.argv else ""
    if Path(argv0).name == "paperboy":
        return shlex.quote(argv0)
    return f"{shlex.quote(sys.executable)} -m service"


def run_demo(
    folder: Path,
    *,
    pages: Path | None = None,
    n_subscribers: int = 12,
    days: int = 10,
    seed: int = 7,
    port: int = DEFAULT_PORT,
    echo: Callable[[str], None] = print,
) -> dict[str, object]:
    """Run the demo into ``folder`` (emptied first) and return what it did.

    Its emails link to ``http://127.0.0.1:<port>``: the server ``paperboy --instance <folder> serve`` starts.
    """
    from service.digest import send_due_digests
    from service.ingest import ingest_targets
    from service.recommend import train_model

    simulate_population = import_module("lab.simulate").simulate_population  # the lab, loaded at run time

    started = time.perf_counter()
    empty_demo_folder(folder)
    rt = demo_runtime(folder, port)
    (folder / DEMO_MARKER).write_text(json.dumps({"base_url": rt.settings.BASE_URL}) + "\n", encoding="utf-8")
    try:
        rt.db.upgrade()
        source = pages or SAMPLE_PAGES
        ingested = ingest_targets(rt, [str(source)]).to_json()
        echo(
            f"1. ingested {ingested['pages']} pages from {source}: {ingested['entries']} entries, "
            f"{ingested['new_papers']} distinct papers"
            + (f", {len(ingested['failed'])} failed" if ingested["failed"] else "")
        )
        if not ingested["new_papers"]:
            raise DemoError(f"ingest: no papers found in {source}")

        simulated = simulate_population(rt, n_subscribers=n_subscribers, days=days, seed=seed)
        echo(
            f"2. simulated {simulated['subscribers']} confirmed readers over {simulated['days']} days: "
            f"{simulated['sent']} papers shown, {simulated['clicks']} clicks"
        )

        trained = train_model(rt)
        if trained.get("status") != "ready":
            raise DemoError(f"train: {trained.get('error') or trained}")
        echo(
            f"3. trained model v{trained['model_version']} on {trained['n_interactions']} interactions "
            f"({trained['n_users']} readers × {trained['n_items']} papers) in {trained['fit_s']:.2f}s"
        )

        today = dt.datetime.now(dt.UTC).date()
        sent = send_due_digests(rt, today)
        echo(
            f"4. digests for {today}: planned {sent['planned']}, sent {sent['sent']}, skipped {sent['skipped']}, "
            f"failed {sent['failed']}"
        )
        if sent["failed"] or not sent["sent"]:
            raise DemoError(f"send: {sent['sent']} digests sent, {sent['failed']} failed")

        distinct = _describe_digests(rt, today, echo)
        outbox = rt.settings.OUTBOX_DIR
        n_files = len(list(Path(outbox).glob("*.eml")))
        elapsed = time.perf_counter() - started
        echo(f"\n{n_files} emails in {outbox} ({distinct} different selections), done in {elapsed:.1f}s.")
        echo("Open one with any mail client. Every link in them opens on the demo's own web server:")
        echo(f"  {serve_command(folder)}")
        echo(f"then visit {rt.settings.BASE_URL}/ (Ctrl+C stops the server).")
        return {
            "ingest": ingested,
            "simulate": simulated,
            "train": trained,
            "send": sent,
            "emails": n_files,
            "distinct_selections": distinct,
            "seconds": round(elapsed, 2),
        }
    finally:
        rt.close()


# What a demo leaves in its folder: only a folder holding nothing else is emptied for the next run.
DEMO_ENTRIES = {DEMO_MARKER, "paperboy.db", "paperboy.db-wal", "paperboy.db-shm", "outbox", "models", "inbox",
                "secret_key"}  # fmt: skip


def empty_demo_folder(folder: Path) -> None:
    """Remove the previous demo in ``folder``; refuse (``DemoError``) to empty a folder that holds anything else."""
    if not folder.exists():
        return
    if not folder.is_dir():
        raise DemoError(f"{folder} is a file, not a folder: choose another --dir")
    strangers = sorted(p.name for p in folder.iterdir() if p.name not in DEMO_ENTRIES)
    if strangers:
        raise DemoError(f"{folder} holds files a demo did not make ({', '.join(strangers[:3])}): choose another --dir")
    shutil.rmtree(folder)


def serve_command(folder: Path) -> str:
    """The command that serves the demo in ``folder`` at the address its emails link to."""
    return f"{program_name()} --instance {shlex.quote(str(folder))} serve"


def _describe_digests(rt: Runtime, day: dt.date, echo: Callable[[str], None]) -> int:
    """Print each reader's top picks; return how many different selections were sent."""
    selections: set[tuple[int, ...]] = set()
    with rt.db.session() as session:
        deliveries = session.scalars(
            select(Delivery)
            .where(Delivery.digest_date == day, Delivery.status == DeliveryStatus.SENT)
            .order_by(Delivery.id)
        ).all()
        titles = dict(session.execute(select(Paper.id, Paper.title)).tuples().all())
        for delivery in deliveries[:5]:
            top = delivery.picks[0] if delivery.picks else None
            if top:
                echo(f"   delivery {delivery.id}: “{titles.get(top['paper_id'], '?')[:60]}” — {top.get('reason', '')}")
        for delivery in deliveries:
            selections.add(tuple(p["paper_id"] for p in delivery.picks or []))
    return len(selections)
