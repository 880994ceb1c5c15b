"""Offline evaluation on a small subsample of the real citeulike-t split (the full figure is a benchmark)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from lab.datasets import load_dataset
from lab.evaluate import evaluate_dataset, format_table
from lab.metrics import ranking_metrics


@pytest.fixture(scope="module")
def report(small_citeulike: Path) -> dict:
    return evaluate_dataset(small_citeulike, ks=[20, 50, 100])


def test_production_beats_random_and_the_content_baseline(report):
    methods = report["methods"]
    assert set(methods) == {"random", "popularity", "content_profile", "als_content_map", "hybrid"}
    assert report["production"] == "hybrid"
    prod, content, rand = methods["hybrid"], methods["content_profile"], methods["random"]
    assert prod["recall@100"] > content["recall@100"] > 2 * rand["recall@100"]
    assert prod["ndcg@100"] > content["ndcg@100"]
    for m in methods.values():
        assert 0 <= m["recall@20"] <= m["recall@50"] <= m["recall@100"] <= 1
        assert m["fit_s"] >= 0 and m["score_s"] >= 0
    assert report["validation"]["trials"] > 1


def test_table_lists_every_method(report):
    table = format_table(report)
    for name in ("random", "popularity", "content_profile", "als_content_map", "hybrid *", "hybrid k=1",
                 "content_profile k=10"):  # fmt: skip
        assert name in table


def test_few_click_rows_fold_in_readers_never_trained_on(report):
    few = report["few_click"]
    assert set(few) == {f"{m} k={k}" for m in ("hybrid", "content_profile") for k in (1, 3, 10)}
    assert report["few_click_readers"] > 100
    for k in (1, 3, 10):
        assert few[f"hybrid k={k}"]["recall@100"] > few[f"content_profile k={k}"]["recall@100"]
    assert few["hybrid k=1"]["recall@100"] < few["hybrid k=10"]["recall@100"]  # more papers, better picks
    assert few["hybrid k=1"]["recall@100"] > 2 * report["methods"]["random"]["recall@100"]


def test_cli_prints_one_json_object(small_citeulike: Path, monkeypatch):
    from lab import commands

    reduced = {"methods": {"hybrid": {"recall@20": 0.1, "recall@50": 0.2, "recall@100": 0.3, "ndcg@100": 0.1,
                                      "fit_s": 1.0, "score_s": 0.5}}, "production": "hybrid", "params": {}}  # fmt: skip
    seen = {}

    def fake_evaluate(path, ks):  # the real evaluation is covered above; this checks the command's contract
        seen["args"] = (path, ks)
        return reduced

    monkeypatch.setattr("lab.evaluate.evaluate_dataset", fake_evaluate)
    result = CliRunner().invoke(commands.evaluate, ["--dataset", str(small_citeulike), "--k", "20,100,50", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["production"] == "hybrid"
    assert seen["args"] == (small_citeulike, [20, 50, 100])


def test_metrics_count_hits_per_user():
    import scipy.sparse as sp

    test = sp.csr_matrix(np.array([[1, 0, 0, 1], [0, 1, 0, 0], [0, 0, 0, 0]], dtype=np.float32))
    scores = np.array([[4, 3, 2, 1], [4, 3, 2, 1], [1, 1, 1, 1]], dtype=np.float32)
    m = ranking_metrics(lambda users: scores[users], test, [1, 2])
    assert m["users"] == 2
    assert m["recall@1"] == pytest.approx((0.5 + 0.0) / 2)
    assert m["recall@2"] == pytest.approx((0.5 + 1.0) / 2)


def test_a_missing_file_is_named(tmp_path: Path):
    (tmp_path / "items.jsonl").write_text('{"id": "1", "title": "a", "abstract": "b"}\n')
    with pytest.raises(FileNotFoundError, match="train.csv"):
        load_dataset(tmp_path)
