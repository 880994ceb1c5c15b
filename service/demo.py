"""``paperboy demo``: the whole daily job on sample pages, in a fresh folder, with no server running.

Ingest → simulated readers with a click history → train → one personalised digest each, as .eml files.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections.abc import Callable
from importlib import import_module
from pathlib import Path

from sqlalchemy import select

from service.models import Delivery, Paper
from service.runtime import Runtime

SAMPLE_PAGES = Path(__file__).parent / "samples" / "pages"


class DemoError(RuntimeError):
    """A demo stage did not do its job; the message names the stage."""


def demo_runtime(folder: Path) -> Runtime:
    """Everything inside ``folder``, whatever the environment says: no broker, outbox delivery, SQLite."""
    folder = folder.resolve()
    return Runtime.from_env(
        {
            "INSTANCE_DIR": folder,
            "DATABASE_URL": f"sqlite:///{folder / 'paperboy.db'}",
            "OUTBOX_DIR": folder / "outbox",
            "MODEL_DIR": folder / "models",
            "INBOX_DIR": folder / "inbox",
            "CELERY_BROKER_URL": "",
            "EMAIL_BACKEND": "outbox",
            "PAPERBOY_ENV": "development",
            "SECRET_KEY": "",
        }
    )


def run_demo(
    folder: Path,
    *,
    pages: Path | None = None,
    n_subscribers: int = 12,
    days: int = 10,
    seed: int = 7,
    echo: Callable[[str], None] = print,
) -> dict[str, object]:
    """Run the demo into ``folder`` (emptied first) and return what it did."""
    from service.digest import send_due_digests
    from service.ingest import ingest_targets
    from service.recommend import train_model

    simulate_population = import_module("lab.simulate").simulate_population  # the lab, loaded at run time

    started = time.perf_counter()
    if folder.exists():
        shutil.rmtree(folder)
    rt = demo_runtime(folder)
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
            raise DemoError(f"send: {sent}")

        distinct = _describe_digests(rt, today, echo)
        outbox = rt.settings.OUTBOX_DIR
        n_files = len(list(Path(outbox).glob("*.eml")))
        elapsed = time.perf_counter() - started
        echo(f"\n{n_files} emails in {outbox} ({distinct} different selections) — done in {elapsed:.1f}s.")
        echo("Open one with any mail client, or look at the web side:")
        echo(f"  .venv/bin/paperboy --instance {folder} serve   # then http://127.0.0.1:5000/")
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


def _describe_digests(rt: Runtime, day: dt.date, echo: Callable[[str], None]) -> int:
    """Print each reader's top picks; return how many different selections were sent."""
    selections: set[tuple[int, ...]] = set()
    with rt.db.session() as session:
        deliveries = session.scalars(
            select(Delivery).where(Delivery.digest_date == day, Delivery.status == "sent").order_by(Delivery.id)
        ).all()
        titles = dict(session.execute(select(Paper.id, Paper.title)).tuples().all())
        for delivery in deliveries[:5]:
            top = delivery.picks[0] if delivery.picks else None
            if top:
                echo(f"   delivery {delivery.id}: “{titles.get(top['paper_id'], '?')[:60]}” — {top.get('reason', '')}")
        for delivery in deliveries:
            selections.add(tuple(p["paper_id"] for p in delivery.picks or []))
    return len(selections)
