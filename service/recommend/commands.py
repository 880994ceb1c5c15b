"""``paperboy train`` and ``paperboy evaluate``."""

from __future__ import annotations

from pathlib import Path

import click

from service.cli_support import emit, get_runtime, json_option, progress_bar, show_progress


@click.command()
@json_option
@click.pass_context
def train(ctx: click.Context, as_json: bool) -> None:
    """Train the recommender on all interactions; a failed run never replaces the last good model.

    Exits 1 when there is nothing to learn from (no papers yet) or the training failed."""
    from service.daily import describe_training, nothing_to_learn
    from service.recommend import train_model
    from service.recommend.train import TRAIN_STEPS

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
    from service.recommend.evaluate import EVALUATE_STEPS, evaluate_dataset, format_table

    try:
        cutoffs = sorted({int(k) for k in ks.split(",") if k.strip()})
    except ValueError as exc:
        raise click.BadParameter(f"must be comma-separated integers, not {ks!r}", param_hint="--k") from exc
    if not cutoffs or min(cutoffs) < 1:
        raise click.BadParameter(f"must be whole numbers of 1 or more, not {ks!r}", param_hint="--k")
    with progress_bar("evaluate", EVALUATE_STEPS, show_progress(as_json)) as progress:
        progress("loading", 0)
        try:
            report = evaluate_dataset(dataset, ks=cutoffs, progress=progress)
        except (OSError, ValueError) as exc:
            raise click.ClickException(f"cannot evaluate on {dataset}: {exc}") from exc
    emit(report, as_json, format_table(report))


@click.command("online-check")
@click.option("--days", type=click.IntRange(1), default=3, show_default=True, help="Simulated days to run.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--per-day", type=click.IntRange(1), default=None, help="New papers per day (default: all, split).")
@json_option
@click.pass_context
def online_check(ctx: click.Context, days: int, seed: int, per_day: int | None, as_json: bool) -> None:
    """Click-through of personalised digests vs. a trending-only digest on the simulated subscribers.

    Records the personalised arm's simulated sends and clicks: run it on a demo or simulation database.
    """
    from service.recommend.online import online_check as run_check

    rt = get_runtime(ctx)
    try:
        report = run_check(rt, days=days, seed=seed, per_day=per_day)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    human = (
        f"{report['subscribers']} simulated subscribers, {len(report['days'])} days: "
        f"CTR personalised {report['ctr_personalised']:.3f} vs trending-only {report['ctr_trending']:.3f} "
        f"(lift {report['lift']})"
    )
    emit(report, as_json, human)
