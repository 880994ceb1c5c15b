"""``paperboy train`` and ``paperboy evaluate``."""

from __future__ import annotations

from pathlib import Path

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


@click.command()
@click.option(
    "--dataset",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="Folder with items.jsonl, train.csv and test.csv.",
)
@click.option("--k", "ks", default="20,50,100", show_default=True, help="Cut-offs for recall@K.")
@json_option
def evaluate(dataset: Path, ks: str, as_json: bool) -> None:
    """Offline evaluation on a new-paper split: the production recommender against baselines."""
    from service.recommend.evaluate import evaluate_dataset, format_table

    try:
        cutoffs = sorted({int(k) for k in ks.split(",") if k.strip()})
    except ValueError as exc:
        raise click.BadParameter(f"--k must be comma-separated integers, got {ks!r}") from exc
    report = evaluate_dataset(dataset, ks=cutoffs)
    emit(report, as_json, format_table(report))
