"""The ``paperboy`` command: init, ingest, train, send, daily, demo, serve, and the lab's simulate, evaluate and
online-check (through the ``paperboy.commands`` entry points).

Each subcommand is a thin wrapper; the work lives in the service packages. ``--json`` prints one JSON object
on stdout; the exit status is non-zero when the command did not do what was asked.
"""

from __future__ import annotations

import datetime as dt
import os
from importlib.metadata import entry_points
from pathlib import Path
from urllib.parse import urlsplit

import click

from service.cli_support import (
    emit,
    first_line,
    get_runtime,
    instance_overrides,
    json_option,
    locate_database,
    require_schema,
)
from service.config import ConfigError

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--instance",
    type=click.Path(file_okay=False, path_type=Path),
    help="Instance folder (default: $PAPERBOY_INSTANCE_DIR or ./instance).",
)
@click.pass_context
def main(ctx: click.Context, instance: Path | None) -> None:
    """Paperboy: a personalised daily digest of new research papers."""
    ctx.ensure_object(dict)
    ctx.obj["instance"] = instance


@main.command()
@click.pass_context
def init(ctx: click.Context) -> None:
    """Create or upgrade the database schema (Alembic, to head)."""
    rt = get_runtime(ctx, needs_schema=False)
    rt.db.upgrade()
    click.echo(f"database ready: {rt.db.engine.url.render_as_string(hide_password=True)}")


@main.command()
@click.option("--date", "digest_date", type=click.DateTime(["%Y-%m-%d"]), help="Digest date (default: today, UTC).")
@json_option
@click.pass_context
def daily(ctx: click.Context, digest_date: dt.datetime | None, as_json: bool) -> None:
    """The whole daily job: ingest the inbox and the recent listings (re-read days, arXiv feeds), train, send."""
    from service.daily import run_daily
    from service.summaries import describe_daily

    rt = get_runtime(ctx)
    day = digest_date.date() if digest_date else dt.datetime.now(dt.UTC).date()
    report = run_daily(rt, day)
    emit(report, as_json, describe_daily(report))
    if not report["ok"]:
        raise SystemExit(1)


@main.command()
@click.option(
    "--dir",
    "demo_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo"),
    show_default=True,
    help="Folder for the demo's database, outbox and models (emptied first).",
)
@click.option(
    "--pages",
    type=click.Path(exists=True, path_type=Path),
    help="Pages to ingest instead of the bundled samples (e.g. ../shared/seeds).",
)
@click.option("--subscribers", "n_subscribers", type=click.IntRange(1), default=12, show_default=True)
@click.option("--days", type=click.IntRange(1), default=10, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=5000,
    show_default=True,
    help="Port of the demo's web server (the emails' links point at http://127.0.0.1:PORT).",
)
def demo(demo_dir: Path, pages: Path | None, n_subscribers: int, days: int, seed: int, port: int) -> None:
    """Run the whole daily job on sample pages into a fresh folder, with no server needed."""
    from service.demo import DemoError, run_demo

    try:
        run_demo(demo_dir, pages=pages, n_subscribers=n_subscribers, days=days, seed=seed, port=port, echo=click.echo)
    except DemoError as exc:
        raise click.ClickException(f"the demo stopped: {exc}") from exc


LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), help="Default: BASE_URL's port when it is local, else 5000.")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int | None) -> None:
    """Development web server for the instance (production: gunicorn "service:create_app()").

    Links it builds start with BASE_URL; unset, that is this server's own address.
    """
    from service import create_app
    from service.config import Settings

    overrides = instance_overrides(ctx)
    require_schema(locate_database(overrides))
    base_url = overrides.get("BASE_URL") or os.environ.get("BASE_URL")
    if port is None:
        parts = urlsplit(base_url or "")
        port = parts.port if base_url and parts.hostname in LOCAL_HOSTS and parts.port else 5000
    if not base_url:
        overrides["BASE_URL"] = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"  # noqa: S104
    app = create_app(overrides)
    settings: Settings = app.config["PAPERBOY"]
    click.echo(f"Paperboy for {settings.INSTANCE_DIR} on http://{host}:{port}/ (links: {settings.BASE_URL})")
    app.run(host=host, port=port)


COMMAND_GROUP = "paperboy.commands"  # entry points adding commands from outside ``service`` (the lab's)


def _register_area_commands() -> None:
    from service.digest.commands import send
    from service.ingest.commands import ingest
    from service.recommend.commands import train

    for command in (ingest, train, send):
        main.add_command(command)
    for entry in entry_points(group=COMMAND_GROUP):
        try:
            main.add_command(entry.load(), entry.name)
        except ImportError as exc:  # an installed plugin that cannot load must not take the whole CLI down
            click.echo(f"warning: command {entry.name!r} unavailable ({exc})", err=True)


_register_area_commands()


def run() -> None:
    """The console script: expected failures end in one line on stderr and a non-zero exit, never a traceback."""
    from sqlalchemy.exc import OperationalError

    try:
        main(standalone_mode=True)
    except ConfigError as exc:
        raise SystemExit(f"Error: configuration: {exc}") from None
    except OperationalError as exc:
        raise SystemExit(f"Error: the database did not answer: {first_line(exc)}") from None
