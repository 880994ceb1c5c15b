"""What every ``paperboy`` subcommand shares: the runtime, JSON output and exit codes."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from service.runtime import Runtime


def get_runtime(ctx: click.Context) -> Runtime:
    """The runtime built once per invocation from the environment (and ``--instance``)."""
    root = ctx.find_root()
    root.ensure_object(dict)
    if "runtime" not in root.obj:
        overrides = {"INSTANCE_DIR": root.obj["instance"]} if root.obj.get("instance") else None
        root.obj["runtime"] = Runtime.from_env(overrides)
        root.call_on_close(root.obj["runtime"].close)
    return root.obj["runtime"]


def emit(report: dict[str, Any], as_json: bool, human: str) -> None:
    """``--json``: exactly one JSON object on stdout. Otherwise a human summary."""
    if as_json:
        click.echo(json.dumps(report, default=str, sort_keys=True))
    else:
        click.echo(human)


def fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
