"""``paperboy train`` (the lab adds ``evaluate`` and ``online-check``: see ``lab/commands.py``)."""

from __future__ import annotations

import click

from service.cli_support import emit, get_runtime, json_option, progress_bar, show_progress


@click.command()
@json_option
@click.pass_context
def train(ctx: click.Context, as_json: bool) -> None:
    """Train the recommender on all interactions; a failed run never replaces the last good model.

    Exits 1 when there is nothing to learn from (no papers yet) or the training failed."""
    from service.recommend import train_model
    from service.recommend.train import TRAIN_STEPS, nothing_to_learn
    from service.summaries import describe_training

    rt = get_runtime(ctx)
    empty = nothing_to_learn(rt)
    if empty:
        report = {"status": "skipped", "reason": empty}
    else:
        with progress_bar("train", TRAIN_STEPS, show_progress(as_json)) as progress:
            progress("reading interactions", 0)
            report = train_model(rt, progress=progress)
    emit(report, as_json, f"train: {describe_training(report)}")
    if report.get("status") != "ready":
        raise SystemExit(1)
