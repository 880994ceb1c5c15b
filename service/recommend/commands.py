"""``paperboy train`` (the lab adds ``evaluate`` and ``online-check``: see ``lab/commands.py``)."""

from __future__ import annotations

import click

from service.cli_support import emit, get_runtime, json_option


@click.command()
@json_option
@click.pass_context
def train(ctx: click.Context, as_json: bool) -> None:
    """Train the recommender on all interactions; a failed run never replaces the last good model."""
    from service.recommend import train_model

    rt = get_runtime(ctx)
    report = train_model(rt)
    emit(report, as_json, "\n".join(f"{k}: {v}" for k, v in report.items()))
    if report.get("status") != "ready":
        raise SystemExit(1)
