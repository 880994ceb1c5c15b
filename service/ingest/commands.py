"""``paperboy ingest``: files, folders (recursively) or URLs into papers."""

from __future__ import annotations

import click

from service.cli_support import emit, get_runtime, json_option, show_progress
from service.wording import plural


@click.command()
@click.argument("targets", nargs=-1)
@click.option("--source", type=click.Choice(["seed-text", "hf-api", "arxiv-atom"]), help="Force a source layout.")
@click.option("--retry-failed", is_flag=True, help="Parse again every stored page whose parse failed.")
@json_option
@click.pass_context
def ingest(ctx: click.Context, targets: tuple[str, ...], source: str | None, retry_failed: bool, as_json: bool) -> None:
    """Ingest listing pages (PATH or URL, several allowed); exit 1 if any page failed."""
    from service.ingest import ingest_targets, retry_failed_pages

    if not targets and not retry_failed:
        raise click.UsageError("give at least one PATH or URL, or --retry-failed")
    rt = get_runtime(ctx)
    if retry_failed:
        report = retry_failed_pages(rt, progress=show_progress(as_json))
    else:
        report = ingest_targets(rt, list(targets), source=source, progress=show_progress(as_json))
    data = report.to_json()
    human = (
        f"{plural(data['pages'], 'page')}, {plural(data['entries'], 'entry', 'entries')}: "
        f"{plural(data['new_papers'], 'new paper')}, {data['updated_papers']:,} updated, {len(data['failed']):,} failed"
        + (f" ({plural(report.unchanged, 'page')} already ingested: unchanged)" if report.unchanged else "")
        + (
            f"\n  skipped {plural(len(report.skipped), 'file')} that "
            f"{'is not a page' if len(report.skipped) == 1 else 'are not pages'} (e.g. {report.skipped[0]})"
            if report.skipped
            else ""
        )
        + "".join(f"\n  failed: {f['path']}: {f['error']}" for f in data["failed"])
    )
    emit(data, as_json, human)
    if data["failed"]:
        raise SystemExit(1)
