"""What every ``paperboy`` subcommand shares: the runtime, the schema check, JSON output, progress and errors.

Expected failures (no database yet, a database that does not answer, a bad argument) end a command with one line
on stderr and a non-zero exit (``click.ClickException``), never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from sqlalchemy import create_engine
from sqlalchemy.exc import SQLAlchemyError

from service.config import Settings
from service.db import alembic_config, normalise_url
from service.progress import Progress, quiet
from service.runtime import Runtime

INIT_FIRST = "run `paperboy init` first"


def instance_overrides(ctx: click.Context) -> dict[str, Any]:
    """The settings ``--instance`` implies: the folder, and everything inside it when it is a demo's folder."""
    from service.instance import demo_overrides

    root = ctx.find_root()
    root.ensure_object(dict)
    folder = root.obj.get("instance")
    if folder is None:
        return {}
    return demo_overrides(Path(folder)) or {"INSTANCE_DIR": Path(folder)}


def get_runtime(ctx: click.Context, *, needs_schema: bool = True) -> Runtime:
    """The runtime built once per invocation from the environment (and ``--instance``).

    ``needs_schema``: refuse, in one line, when the database has no schema yet (or an older one), without creating
    anything: no empty database file, no instance folder.
    """
    root = ctx.find_root()
    root.ensure_object(dict)
    if "runtime" not in root.obj:
        overrides = instance_overrides(ctx)
        if needs_schema:
            require_schema(locate_database(overrides))
        root.obj["runtime"] = Runtime.from_env(overrides or None)
        root.call_on_close(root.obj["runtime"].close)
    return root.obj["runtime"]


def locate_database(overrides: dict[str, Any]) -> str:
    """The database URL the settings resolve to, found without generating a development secret key (which would
    create the instance folder)."""
    return Settings.from_env({**overrides, "SECRET_KEY": "only-locating-the-database"}).DATABASE_URL


def require_schema(url: str) -> None:
    """Raise ``click.ClickException`` unless the database at ``url`` exists, answers and has the current schema."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    url = normalise_url(url)
    shown = _shown_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:" and not Path(path).is_file():
            raise click.ClickException(f"no database at {path}: {INIT_FIRST}")
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        raise click.ClickException(f"cannot open the database {shown}: {first_line(exc)}") from exc
    finally:
        engine.dispose()
    scripts = ScriptDirectory.from_config(alembic_config(url))
    head = scripts.get_current_head()
    if current is None:
        raise click.ClickException(f"the database {shown} has no tables yet: {INIT_FIRST}")
    if current != head:
        known = {script.revision for script in scripts.walk_revisions()}
        if current in known:
            raise click.ClickException(
                f"the database {shown} has schema {current}, this Paperboy needs {head}: run `paperboy init` to upgrade"
            )
        raise click.ClickException(f"the database {shown} has schema {current}, made by a newer Paperboy than this")


def _shown_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a URL SQLAlchemy cannot parse is shown as the setting's name only
        return "DATABASE_URL"


def first_line(exc: BaseException) -> str:
    """An exception's message on one line (SQLAlchemy appends the statement and a help link on later lines)."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0]


def emit(report: dict[str, Any], as_json: bool, human: str) -> None:
    """``--json``: exactly one JSON object on stdout. Otherwise a human summary."""
    if as_json:
        click.echo(json.dumps(report, default=str, sort_keys=True))
    else:
        click.echo(human)


def show_progress(as_json: bool) -> bool:
    """A bar only for a person at a terminal: never in ``--json`` runs, pipes or logs."""
    return not as_json and sys.stderr.isatty()


@contextmanager
def progress_bar(desc: str, total: int | None, enabled: bool, unit: str = "step") -> Iterator[Progress]:
    """A tqdm bar on stderr, advanced by the ``Progress`` callback it yields; removed when the work ends."""
    if not enabled:
        yield quiet
        return
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True) as bar:

        def advance(label: str = "", steps: int = 1) -> None:
            if label:
                bar.set_postfix_str(label, refresh=False)
            bar.update(steps)

        yield advance


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
