"""The online check replays real readers: their held-out papers are what they click, so it can fail."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from lab.online import replay


def test_personalised_digests_beat_trending_only_on_real_readers(small_citeulike: Path):
    report = replay(small_citeulike, days=3, per_email=10, max_readers=400)
    assert report["readers"] == 400 and report["crowd"] > 0 and len(report["days"]) == 3
    assert report["slots"] == sum(400 * 10 for _ in report["days"])  # every email full
    assert report["clicks_personalised"] == sum(d["personalised"] for d in report["days"])
    assert report["ctr_personalised"] > report["ctr_trending"] > 0  # the crowd's favourites do get clicks
    assert report["lift"] > 1.2


def test_online_check_command_prints_one_json_object(small_citeulike: Path):
    from lab.commands import online_check

    args = ["--dataset", str(small_citeulike), "--days", "2", "--readers", "50", "--json"]
    result = CliRunner().invoke(online_check, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["readers"] == 50 and set(report) >= {"ctr_personalised", "ctr_trending", "lift"}


def test_online_check_names_a_broken_dataset(tmp_path: Path):
    from lab.commands import online_check

    (tmp_path / "items.jsonl").write_text('{"id": "1", "title": "a", "abstract": "b"}\n')
    result = CliRunner().invoke(online_check, ["--dataset", str(tmp_path)])
    assert result.exit_code != 0 and "train.csv" in result.output
