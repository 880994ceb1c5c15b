"""``paperboy ingest``: the JSON contract and the exit status, as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from service.cli import main
from service.runtime import Runtime
from tests.ingest.helpers import SAMPLES


def _run(runtime: Runtime, *args: str):
    env = {"DATABASE_URL": runtime.settings.DATABASE_URL, "SECRET_KEY": "test", "CELERY_BROKER_URL": ""}
    return CliRunner().invoke(main, ["--instance", str(runtime.settings.INSTANCE_DIR), "ingest", *args], env=env)


def test_json_report_and_success(runtime: Runtime) -> None:
    result = _run(runtime, str(SAMPLES), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "pages": 4,
        "entries": 60,
        "new_papers": 56,
        "updated_papers": 4,
        "failed": [],
    }
    again = _run(runtime, str(SAMPLES))
    assert again.exit_code == 0
    assert "0 pages, 0 entries" in again.stdout and "4 pages already ingested" in again.stdout


def test_any_failed_page_exits_1_and_the_others_are_stored(runtime: Runtime, shared_dir: Path) -> None:
    result = _run(runtime, str(shared_dir / "data" / "arxiv-atom"), "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["pages"] == 2 and report["new_papers"] == 101
    assert [Path(f["path"]).name[:6] for f in report["failed"]] == ["id_abc"]


def test_forced_source_and_retry_failed(runtime: Runtime) -> None:
    page = str(SAMPLES / "02_layout_a.txt")
    forced = _run(runtime, page, "--source", "arxiv-atom", "--json")
    assert forced.exit_code == 1
    assert "not well-formed XML" in json.loads(forced.stdout)["failed"][0]["error"]
    retried = _run(runtime, "--retry-failed", "--json")
    assert retried.exit_code == 0
    assert json.loads(retried.stdout)["new_papers"] == 15


def test_no_target_is_a_usage_error(runtime: Runtime) -> None:
    result = _run(runtime)
    assert result.exit_code == 2 and "give at least one PATH or URL" in result.output


def test_documents_beside_pages_are_listed_not_read(runtime: Runtime, tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "README.md").write_text("# Notes\n\nSubscribe\n\nNot a paper\n\nNot an abstract\n")
    (folder / "page.txt").write_bytes((SAMPLES / "04_layout_c.txt").read_bytes())
    result = _run(runtime, str(folder))
    assert result.exit_code == 0, result.output
    assert "1 page, 17 entries" in result.stdout and "skipped 1 file that is not a page" in result.stdout


def test_json_is_one_object_even_when_the_database_is_unreachable(tmp_path: Path) -> None:
    env = {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "SECRET_KEY": "test", "CELERY_BROKER_URL": ""}
    args = ["--instance", str(tmp_path / "instance"), "ingest", str(SAMPLES / "04_layout_c.txt"), "--json"]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 1 and "Traceback" not in result.stdout
    report = json.loads(result.stdout)
    assert report["pages"] == 0 and "cannot open the database" in report["failed"][0]["error"]
