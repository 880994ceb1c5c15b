"""The ``paperboy`` command, run as a user runs it: a real process, a fresh instance folder."""

from __future__ import annotations

import email
import email.policy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SUBCOMMANDS = ["init", "ingest", "train", "send", "daily", "demo", "simulate", "evaluate", "online-check", "serve"]


# Settings a developer's shell may hold: every test starts from the documented defaults instead.
CLEARED = ("DATABASE_URL", "CELERY_BROKER_URL", "EMAIL_BACKEND", "PAPERBOY_ENV", "SECRET_KEY", "BASE_URL")


def cli_env(instance: Path | None = None, **settings: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in CLEARED}
    env["OPENBLAS_NUM_THREADS"] = "1"
    if instance is not None:
        env["PAPERBOY_INSTANCE_DIR"] = str(instance)
    env.update(settings)
    return env


def paperboy(
    *args: str, instance: Path | None = None, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = cli_env(instance, **(env or {}))
    result = subprocess.run(
        [sys.executable, "-m", "service", *args], capture_output=True, text=True, env=env, timeout=240
    )
    if check and result.returncode != 0:
        raise AssertionError(f"paperboy {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
    return result


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help(command: str) -> None:
    out = paperboy(command, "--help").stdout
    assert "Usage:" in out and command in out


def test_init_creates_the_schema(tmp_path: Path) -> None:
    paperboy("init", instance=tmp_path)
    assert (tmp_path / "paperboy.db").exists()
    paperboy("init", instance=tmp_path)  # idempotent


def test_ingest_json_prints_one_object_and_fails_on_a_bad_page(tmp_path: Path, shared_dir: Path) -> None:
    paperboy("init", instance=tmp_path)
    bad = tmp_path / "broken.json"
    bad.write_text('[{"paper": {"id": "2401.0')
    result = paperboy("ingest", "--json", str(shared_dir / "seeds"), str(bad), instance=tmp_path, check=False)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["pages"] == 5 and report["new_papers"] == 472  # pages = pages parsed; the bad one is in failed
    assert [f["path"] for f in report["failed"]] == [str(bad)]


def test_demo_writes_one_personal_digest_per_reader(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    result = paperboy("demo", "--dir", str(folder), "--subscribers", "8")
    assert "emails in" in result.stdout
    messages = [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in sorted((folder / "outbox").glob("*.eml"))
    ]
    digests = [m for m in messages if "List-Unsubscribe" in m]
    recipients = {m["To"] for m in digests}
    assert len(recipients) == 8 == len(digests)  # exactly one each
    for message in digests:
        for header in ("From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post"):
            assert message[header], header
        assert message.get_content_type() == "multipart/alternative"
        kinds = {part.get_content_type() for part in message.iter_parts()}
        assert kinds == {"text/plain", "text/html"}
    bodies = {m.get_body(("plain",)).get_content() for m in digests}
    assert len(bodies) > 1  # not everybody gets the same papers


def test_send_again_after_the_demo_sends_nothing_new(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    paperboy("demo", "--dir", str(folder), "--subscribers", "3")
    before = sorted(p.name for p in (folder / "outbox").glob("*.eml"))
    again = json.loads(paperboy("--instance", str(folder), "send", "--json").stdout)
    assert again["sent"] == 0 and again["failed"] == 0
    assert sorted(p.name for p in (folder / "outbox").glob("*.eml")) == before


# --- ordinary mistakes: one clear line, a non-zero exit, nothing left behind ---------------------------------


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.mark.parametrize("command", [["send"], ["train"], ["ingest", "{seeds}"], ["daily"], ["simulate"], ["serve"]])
def test_before_init_every_command_says_so_and_creates_nothing(tmp_path: Path, shared_dir: Path, command) -> None:
    instance = tmp_path / "fresh"
    args = [part.format(seeds=shared_dir / "seeds") for part in command]
    line = one_line_error(paperboy("--instance", str(instance), *args, check=False))
    assert line == f"Error: no database at {instance / 'paperboy.db'}: run `paperboy init` first"
    assert not instance.exists()  # no empty database, no instance folder, no generated key


def test_a_database_that_does_not_answer_is_one_line(tmp_path: Path) -> None:
    env = {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/nothing"}
    line = one_line_error(paperboy("send", instance=tmp_path, env=env, check=False))
    assert line.startswith("Error: cannot open the database postgresql+psycopg://nobody@127.0.0.1:1/nothing:")


def test_evaluate_on_a_folder_without_the_files_is_one_line(tmp_path: Path) -> None:
    line = one_line_error(paperboy("evaluate", "--dataset", str(tmp_path), check=False))
    assert line == (
        f"Error: cannot evaluate on {tmp_path}: {tmp_path / 'items.jsonl'} is missing "
        "(a dataset needs items.jsonl, train.csv, test.csv)"
    )


def test_train_on_an_empty_database_has_nothing_to_learn_from(tmp_path: Path) -> None:
    paperboy("init", instance=tmp_path)
    human = paperboy("train", instance=tmp_path, check=False)
    assert human.returncode == 1 and "nothing to learn from" in human.stdout and "ready" not in human.stdout
    report = json.loads(paperboy("train", "--json", instance=tmp_path, check=False).stdout)
    assert report["status"] == "skipped" and "no papers yet" in report["reason"]


def test_the_demo_will_not_empty_a_folder_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "thesis.tex").write_text("years of work")
    line = one_line_error(paperboy("demo", "--dir", str(tmp_path), check=False))
    assert "holds files a demo did not make (thesis.tex): choose another --dir" in line
    assert (tmp_path / "thesis.tex").read_text() == "years of work"


# --- summaries for people, one JSON object for programs ------------------------------------------------------


def test_summaries_are_sentences_and_json_is_one_object(tmp_path: Path, shared_dir: Path) -> None:
    paperboy("init", instance=tmp_path)
    runs = {
        "ingest": ["ingest", str(shared_dir / "seeds")],
        "simulate": ["simulate", "--subscribers", "3", "--days", "2"],
        "train": ["train"],
        "send": ["send", "--date", "2025-06-03"],
    }
    for name, args in runs.items():
        human = paperboy(*args, instance=tmp_path).stdout
        assert "{" not in human and "': " not in human and "status:" not in human, (name, human)
    assert paperboy(*runs["train"], instance=tmp_path).stdout.startswith("train: model v")
    for name in ("ingest", "train", "send"):
        out = paperboy(*runs[name], "--json", instance=tmp_path).stdout
        assert isinstance(json.loads(out), dict) and out.count("\n") == 1, (name, out)
    assert "1 pages" not in paperboy("ingest", str(shared_dir / "seeds" / "000_e5f1c2902572dc6b.txt"),
                                     instance=tmp_path).stdout  # fmt: skip


def test_daily_reports_a_failed_stage_as_failed(tmp_path: Path) -> None:
    paperboy("init", instance=tmp_path)
    offline = {"HF_API_BASE_URL": "http://127.0.0.1:9", "HTTP_TIMEOUT_S": "1"}
    result = paperboy("daily", instance=tmp_path, env=offline, check=False)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith("  fetch  FAILED: ") for line in lines), result.stdout
    assert lines[-1] == "failed: fetch" and "ok: True" not in result.stdout and "{" not in result.stdout
    report = json.loads(paperboy("daily", "--json", instance=tmp_path, env=offline, check=False).stdout)
    assert report["ok"] is False and report["failed_stages"] == ["fetch"]
    assert report["train"] == {"status": "skipped", "reason": report["train"]["reason"]}  # no papers: not a failure


# --- progress: a bar on a terminal, nothing in a pipe --------------------------------------------------------


def on_a_terminal(*args: str, instance: Path) -> tuple[int, str]:
    """Run ``paperboy`` with stderr on a pseudo-terminal (as a person at a shell); (exit status, what it showed)."""
    import fcntl
    import pty
    import struct
    import termios

    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal 100 columns wide
    process = subprocess.Popen(
        [sys.executable, "-m", "service", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=secondary,
        env=cli_env(instance),
    )
    os.close(secondary)
    shown = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the terminal closed: the process is done
            break
        if not chunk:
            break
        shown += chunk
    os.close(primary)
    return process.wait(timeout=240), shown.decode(errors="replace")


def test_long_commands_show_a_bar_on_a_terminal_and_nothing_in_a_pipe(tmp_path: Path, shared_dir: Path) -> None:
    paperboy("init", instance=tmp_path)
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    words = ["robot", "grasp", "diffusion", "policy", "language", "attention", "graph", "speech", "vision", "protein"]
    items = [{"id": f"i{i}", "title": f"{words[i % 10]} {words[i * 3 % 10]}", "abstract": " ".join(words[: 3 + i % 7])}
             for i in range(40)]  # fmt: skip
    (dataset / "items.jsonl").write_text("".join(json.dumps(item) + "\n" for item in items))
    (dataset / "train.csv").write_text("user,item\n" + "".join(f"u{u},i{(u * 7 + k) % 30}\n" for u in range(12)
                                                               for k in range(5)))  # fmt: skip
    (dataset / "test.csv").write_text("user,item\n" + "".join(f"u{u},i{30 + (u + k) % 10}\n" for u in range(12)
                                                              for k in range(2)))  # fmt: skip
    runs = [
        ("ingest", ["ingest", str(shared_dir / "seeds")]),
        ("simulate", ["simulate", "--subscribers", "3", "--days", "4"]),
        ("train", ["train"]),
        ("send", ["send", "--date", dt_today()]),
        ("evaluate", ["evaluate", "--dataset", str(dataset), "--k", "5,10"]),
    ]
    for name, args in runs:
        status, shown = on_a_terminal(*args, instance=tmp_path)
        assert status == 0, shown
        assert f"{name}" in shown and "%|" in shown, (name, shown)  # tqdm's bar: "train: 67%|██████▋   | 2/3"
        piped = paperboy(*args, instance=tmp_path)
        assert "%|" not in piped.stderr and "%|" not in piped.stdout, name


def dt_today() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).date().isoformat()
