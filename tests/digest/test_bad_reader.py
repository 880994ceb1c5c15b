"""One reader whose message cannot be built or written never stops the batch, and nothing stays in flight."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, text

from service.digest.send import send_due_digests
from service.models import Delivery, Subscriber
from tests.digest.conftest import DAY, add_papers, add_subscriber, sendgrid_runtime

READERS = ("ada@example.org", "jörg@example.org", "grace@example.org")


def _readers(rt) -> dict[str, int]:
    with rt.db.session() as session:
        add_papers(session, 6)
        # stored before non-ASCII local parts were refused at the form: the row exists, no message can carry it
        return {address: add_subscriber(session, address) for address in READERS}


def _statuses(rt) -> dict[int, tuple[str, str | None]]:
    with rt.db.session() as session:
        return {
            i: (s, e) for i, s, e in session.execute(select(Delivery.subscriber_id, Delivery.status, Delivery.error))
        }


@pytest.mark.parametrize("backend", ["outbox", "sendgrid"])
def test_an_unbuildable_address_fails_alone_and_the_rest_are_delivered(any_runtime, sink, backend):
    rt = any_runtime if backend == "outbox" else sendgrid_runtime(any_runtime, sink)
    ids = _readers(rt)
    report = send_due_digests(rt, DAY)
    assert (report["sent"], report["failed"], report["elsewhere"]) == (2, 1, 0)
    [error] = report["errors"]
    assert error["status"] == "failed" and "jörg" in error["error"] and "before the @" in error["error"]
    statuses = _statuses(rt)
    assert statuses[ids["jörg@example.org"]][0] == "failed"
    assert {statuses[ids[a]][0] for a in ("ada@example.org", "grace@example.org")} == {"sent"}
    again = send_due_digests(rt, DAY)  # a rerun sends nothing twice, and nothing is left in flight
    assert (again["sent"], again["planned"]) == (0, 0)
    assert not {s for s, _ in _statuses(rt).values()} & {"sending", "submitting", "planned"}
    if backend == "sendgrid":
        assert sorted(m["to"] for m in sink.received) == [
            "ada@example.org",
            "grace@example.org",
        ]
        rt.close()


def test_a_full_disk_puts_the_delivery_back_and_leaves_no_temporary_file(runtime, monkeypatch):
    from service.mail.backends import outbox

    _readers(runtime)
    real_fsync = os.fsync

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(outbox.os, "fsync", disk_full)  # the edge: the disk refuses the write
    report = send_due_digests(runtime, DAY)
    assert report["sent"] == 0 and report["failed"] == 3
    assert all("No space left on device" in e["error"] or "before the @" in e["error"] for e in report["errors"])
    outbox_dir = Path(runtime.settings.OUTBOX_DIR)
    assert list(outbox_dir.glob("*")) == []  # no half-written or temporary file
    assert {s for s, _ in _statuses(runtime).values()} == {"planned", "failed"}  # back in line, not in flight
    monkeypatch.setattr(outbox.os, "fsync", real_fsync)  # space freed: the next run delivers them, once
    again = send_due_digests(runtime, DAY)
    assert again["sent"] == 2
    assert len(list(outbox_dir.glob("*.eml"))) == 2


def test_paperboy_send_prints_the_reason_and_exits_1(tmp_path: Path):
    from service.db import Database

    instance = tmp_path / "instance"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "EMAIL_BACKEND")}
    env.update(PAPERBOY_INSTANCE_DIR=str(instance), OPENBLAS_NUM_THREADS="1")
    run = [sys.executable, "-m", "service"]
    subprocess.run([*run, "init"], env=env, check=True, capture_output=True, timeout=120)
    db = Database(f"sqlite:///{instance / 'paperboy.db'}")
    with db.session() as session:
        add_papers(session, 6)
        for address in READERS:
            add_subscriber(session, address)
    db.dispose()
    human = subprocess.run(
        [*run, "send", "--date", DAY.isoformat()], env=env, capture_output=True, text=True, timeout=240
    )
    assert human.returncode == 1 and "Traceback" not in human.stderr
    assert "2 sent" in human.stdout and "1 failed" in human.stdout and "jörg@example.org" in human.stdout
    again = subprocess.run(
        [*run, "send", "--json", "--date", DAY.isoformat()], env=env, capture_output=True, text=True, timeout=240
    )
    report = json.loads(again.stdout)
    assert report["sent"] == 0 and again.returncode == 0
    db = Database(f"sqlite:///{instance / 'paperboy.db'}")
    with db.engine.connect() as conn:
        in_flight = conn.execute(text("SELECT count(*) FROM deliveries WHERE status IN ('sending', 'submitting')"))
        assert in_flight.scalar() == 0
        assert conn.execute(select(Subscriber.email).where(Subscriber.status == "confirmed")).all()
    db.dispose()
