"""The lab's ``paperboy`` commands (``simulate``, ``evaluate``, ``online-check``), registered through the
``paperboy.commands`` entry-point group so that ``service.cli`` never imports the lab."""

from __future__ import annotations

from pathlib import Path

import click

from service.cli_support import emit, get_runtime, json_option, progress_bar, show_progress
from service.wording import plural

dataset_option = click.option(
    "--dataset",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="Folder with items.jsonl, train.csv and test.csv.",
)


@click.command()
@click.option("--subscribers", "n_subscribers", type=click.IntRange(1), default=50, show_default=True)
@click.option("--days", type=click.IntRange(1), default=14, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@json_option
@click.pass_context
def simulate(ctx: click.Context, n_subscribers: int, days: int, seed: int, as_json: bool) -> None:
    """Create simulated confirmed subscribers with hidden tastes and a position-biased click history."""
    from lab.simulate import simulate_population

    rt = get_runtime(ctx)
    with progress_bar("simulate", days, show_progress(as_json), unit="day") as progress:
        try:
            report = simulate_population(rt, n_subscribers=n_subscribers, days=days, seed=seed, progress=progress)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
    human = (
        f"simulated {plural(report['subscribers'], 'new reader')} over {plural(report['days'], 'day')}: "
        f"{plural(report['sent'], 'paper')} shown, {plural(report['clicks'], 'click')}"
    )
    if not report["subscribers"]:
        human += f" (the readers of seed {seed} exist already: pass another --seed for more)"
    emit(report, as_json, human)


@click.command()
@dataset_option
@click.option("--k", "ks", default="20,50,100", show_default=True, help="Cut-offs for recall@K.")
@json_option
def evaluate(dataset: Path, ks: str, as_json: bool) -> None:
    """Offline evaluation on a new-paper split: the production recommender against baselines, and few-click rows
    (readers never trained on, folded in from 1, 3 and 10 of their papers)."""
    from lab import evaluate as lab_evaluate

    try:
        cutoffs = sorted({int(k) for k in ks.split(",") if k.strip()})
    except ValueError as exc:
        raise click.BadParameter(f"must be comma-separated integers, not {ks!r}", param_hint="--k") from exc
    if not cutoffs or min(cutoffs) < 1:
        raise click.BadParameter(f"must be whole numbers of 1 or more, not {ks!r}", param_hint="--k")
    try:
        report = lab_evaluate.evaluate_dataset(dataset, ks=cutoffs)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot evaluate on {dataset}: {exc}") from exc
    emit(report, as_json, lab_evaluate.format_table(report))


@click.command("online-check")
@dataset_option
@click.option("--days", type=click.IntRange(1), default=5, show_default=True, help="Days the test papers arrive over.")
@click.option("--per-email", type=click.IntRange(1), default=10, show_default=True)
@click.option("--readers", type=click.IntRange(1), default=2000, show_default=True, help="Readers replayed (at most).")
@click.option("--seed", type=int, default=0, show_default=True)
@json_option
def online_check(dataset: Path, days: int, per_email: int, readers: int, seed: int, as_json: bool) -> None:
    """Replay real readers of an evaluation data set (their held-out papers are what they click): click-through of
    personalised digests against trending-only digests."""
    from lab.online import replay

    try:
        report = replay(dataset, days=days, per_email=per_email, max_readers=readers, seed=seed)
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    human = (
        f"{report['readers']} replayed readers, {len(report['days'])} days, {report['per_email']} papers per email: "
        f"CTR personalised {report['ctr_personalised']:.4f} vs trending-only {report['ctr_trending']:.4f} "
        f"(lift {report['lift']})"
    )
    emit(report, as_json, human)
