"""A real Celery worker process on the real Redis: the ingest task is registered, routed, and JSON in/out."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from service.config import Settings
from service.ingest.store import store_raw_page
from service.models import RawPage
from service.runtime import Runtime
from tests.ingest.helpers import SAMPLES
from workers.app import make_celery

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.redis
@pytest.mark.slow
def test_worker_parses_a_stored_page(runtime: Runtime, redis_url: str, tmp_path: Path) -> None:
    with runtime.db.session() as session:
        good, _ = store_raw_page(session, (SAMPLES / "03_layout_b.txt").read_bytes(), "b.txt", None)
        bad, _ = store_raw_page(session, b"{not json", "bad.json", None)
        good_id, bad_id = good.id, bad.id
    queue = f"ingest-test-{uuid.uuid4().hex[:8]}"  # our own queue: other tests may share this Redis
    env = {
        **os.environ,
        "DATABASE_URL": runtime.settings.DATABASE_URL,
        "CELERY_BROKER_URL": redis_url,
        "SECRET_KEY": "test-secret",
        "PAPERBOY_INSTANCE_DIR": str(tmp_path / "worker-instance"),
        "OPENBLAS_NUM_THREADS": "1",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", queue, "--pool", "solo", "-l", "WARNING"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        client = make_celery(Settings.from_env({"CELERY_BROKER_URL": redis_url, "SECRET_KEY": "x"}, environ={}))
        ok = client.send_task("workers.tasks.ingest.ingest_page", args=[good_id], queue=queue).get(timeout=60)
        failed = client.send_task("workers.tasks.ingest.ingest_page", args=[bad_id], queue=queue).get(timeout=60)
    finally:
        worker.terminate()
        output = worker.communicate(timeout=30)[0].decode(errors="replace")
    assert ok == {"pages": 1, "entries": 14, "new_papers": 14, "updated_papers": 0, "failed": []}, output
    assert failed["failed"][0]["path"] == "bad.json" and "not valid JSON" in failed["failed"][0]["error"]
    with runtime.db.session() as session:
        statuses = dict(session.execute(select(RawPage.id, RawPage.status)).all())
    assert statuses == {good_id: "parsed", bad_id: "failed"}
