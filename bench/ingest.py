"""Ingest throughput over all of ../shared (seeds + data): pages/s and entries/s, JSON on stdout.

Three figures from the same run, side by side:
  read_hash   reading and hashing the bytes: the physical limit of any ingest
  parse_only  detection + parsing, no database
  ingest      the full path into a fresh SQLite database (raw pages stored, papers merged, sightings)
  reingest    the same pages again (idempotence: hashes match, nothing parsed)

    .venv/bin/python bench/ingest.py [--shared ../shared] [--repeat 3] [--database-url URL]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.ingest import ingest_targets  # noqa: E402
from service.ingest.detect import detect_source  # noqa: E402
from service.ingest.errors import ParseError  # noqa: E402
from service.ingest.parsers import PARSERS  # noqa: E402
from service.ingest.pipeline import page_files  # noqa: E402
from service.models import utcnow  # noqa: E402
from service.runtime import Runtime  # noqa: E402


def _files(shared: Path) -> list[Path]:
    return page_files(shared / "seeds") + page_files(shared / "data")


def _figure(seconds: float, pages: int, entries: int) -> dict[str, float | int]:
    return {
        "seconds": round(seconds, 4),
        "pages": pages,
        "entries": entries,
        "pages_per_s": round(pages / seconds, 1),
        "entries_per_s": round(entries / seconds, 1),
    }


def read_hash(files: list[Path], entries: int) -> dict[str, float | int]:
    started = time.perf_counter()
    for path in files:
        hashlib.sha256(path.read_bytes()).hexdigest()
    return _figure(time.perf_counter() - started, len(files), entries)


def parse_only(files: list[Path]) -> tuple[dict[str, float | int], int]:
    today = utcnow().date()
    entries = 0
    started = time.perf_counter()
    for path in files:
        content = path.read_bytes()
        with contextlib.suppress(ParseError):  # the arXiv error feed: a clear failure, counted as a page
            entries += len(PARSERS[detect_source(content)](content, str(path), today).entries)
    return _figure(time.perf_counter() - started, len(files), entries), entries


def full_ingest(shared: Path, database_url: str | None) -> tuple[dict[str, float | int], dict[str, float | int]]:
    with tempfile.TemporaryDirectory(prefix="paperboy-bench-") as folder:
        url = database_url or f"sqlite:///{folder}/bench.db"
        rt = Runtime.from_env({"INSTANCE_DIR": folder, "DATABASE_URL": url, "SECRET_KEY": "bench"})
        try:
            rt.db.upgrade()
            targets = [str(shared / "seeds"), str(shared / "data")]
            started = time.perf_counter()
            report = ingest_targets(rt, targets)
            first = time.perf_counter() - started
            pages = report.pages + len({f["path"] for f in report.failed})
            started = time.perf_counter()
            again = ingest_targets(rt, targets)
            second = time.perf_counter() - started
            return _figure(first, pages, report.entries), _figure(second, again.unchanged, 0)
        finally:
            rt.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measure; the best is reported")
    parser.add_argument("--database-url", help="ingest into this (empty, migrated) database instead of SQLite")
    args = parser.parse_args()
    files = _files(args.shared)
    parsed = [parse_only(files) for _ in range(args.repeat)]
    entries = parsed[0][1]
    results = {
        "read_hash": min((read_hash(files, entries) for _ in range(args.repeat)), key=lambda r: r["seconds"]),
        "parse_only": min((p[0] for p in parsed), key=lambda r: r["seconds"]),
    }
    runs = [full_ingest(args.shared, args.database_url) for _ in range(1 if args.database_url else args.repeat)]
    results["ingest"] = min((r[0] for r in runs), key=lambda r: r["seconds"])
    results["reingest"] = min((r[1] for r in runs), key=lambda r: r["seconds"])
    results["ingest_vs_parse_only"] = round(results["ingest"]["seconds"] / results["parse_only"]["seconds"], 2)
    print(
        json.dumps(
            {
                "bench": "ingest",
                "shared": str(args.shared),
                "files": len(files),
                "bytes": sum(p.stat().st_size for p in files),
                "database": "custom" if args.database_url else "sqlite",
                "python": platform.python_version(),
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
