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


def paperboy(*args: str, instance: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "EMAIL_BACKEND", "PAPERBOY_ENV", "SECRET_KEY"):
        env.pop(name, None)
    if instance is not None:
        env["PAPERBOY_INSTANCE_DIR"] = str(instance)
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
