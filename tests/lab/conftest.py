"""Lab fixtures: a small real evaluation data set cut from citeulike-t (the full figures are in the README)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

N_USERS = 1500


@pytest.fixture(scope="session")
def small_citeulike(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 1,500 of the users with every pair of theirs, written in the dataset format."""
    src = shared_dir / "eval" / "citeulike-t"
    out = tmp_path_factory.mktemp("citeulike-small")
    rng = np.random.default_rng(7)
    with open(src / "train.csv") as fh:
        users = sorted({row["user"] for row in csv.DictReader(fh)})
    keep = set(rng.choice(users, size=N_USERS, replace=False).tolist())
    items: set[str] = set()
    for name in ("train.csv", "test.csv"):
        with open(src / name) as fh, open(out / name, "w", newline="") as dst:
            writer = csv.writer(dst)
            writer.writerow(["user", "item"])
            for row in csv.DictReader(fh):
                if row["user"] in keep:
                    writer.writerow([row["user"], row["item"]])
                    items.add(row["item"])
    with open(src / "items.jsonl") as fh, open(out / "items.jsonl", "w") as dst:
        for line in fh:
            if json.loads(line)["id"] in items:
                dst.write(line)
    return out
