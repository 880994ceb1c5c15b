"""``paperboy ingest``: files, folders (recursively) or URLs into papers."""

from __future__ import annotations

import logging

import click

from service.cli_support import emit, get_runtime, json_option, show_progress
from service.ingest.entries import SOURCES
from service.wording import plural

log = logging.getLogger(__name__)


@click.command()
@click.argument("targets", nargs=-1)
@click.option("--source", type=click.Choice(SOURCES), help="Force a source layout.")
@click.option(
    "--retry-failed",
    is_flag=True,
    help="Parse again every stored page whose parse failed; fetch again those whose source failed (URLs).",
)
@json_option
@click.pass_context
def ingest(ctx: click.Context, targets: tuple[str, ...], source: str | None, retry_failed: bool, as_json: bool) -> None:
    """Ingest listing pages (PATH or URL, several allowed); exit 1 if any page failed."""
    from service.ingest import IngestReport, ingest_targets, retry_failed_pages

    if not targets and not retry_failed:
        raise click.UsageError("give at least one PATH or URL, or --retry-failed")
    progress = show_progress(as_json)
    try:
        rt = get_runtime(ctx)
        if retry_failed:
            report = retry_failed_pages(rt, progress=progress)
        else:
            report = ingest_targets(rt, list(targets), source=source, progress=progress)
    except click.ClickException as exc:
        if not as_json:
            raise  # one line on stderr, e.g. "run `paperboy init` first"
        report = IngestReport()
        report.fail("(ingest)", exc.format_message())
    except Exception as exc:  # noqa: BLE001 - anything else: still one JSON object and exit 1, no traceback
        log.exception("ingest failed")
        report = IngestReport()
        report.fail("(ingest)", f"{exc.__class__.__name__}: {exc}")
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
