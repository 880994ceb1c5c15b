"""``celery -A workers worker`` and ``beat`` without a broker: they refuse to start, saying why, instead of
waiting forever on an in-memory queue nothing else can reach."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("program", ["worker", "beat"])
def test_without_a_broker_the_process_refuses_to_start(program: str, tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("CELERY_")}
    env["PAPERBOY_INSTANCE_DIR"] = str(tmp_path)
    extra = ["--schedule", str(tmp_path / "beat-schedule")] if program == "beat" else ["--pool", "solo"]
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "workers", program, *extra],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert f"CELERY_BROKER_URL is not set, so this {program} would wait" in result.stderr
    assert "Traceback" not in result.stderr
