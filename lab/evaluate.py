"""Offline evaluation on a new-paper split (``items.jsonl``, ``train.csv``, ``test.csv``).

Protocol (see ``../shared/eval/citeulike-t/README.md``): for each user with a test pair, rank all distinct test
items; recall@K = hits in the top K / that user's number of test pairs, averaged over users; nDCG@K likewise.

Hyperparameters are never chosen on ``test.csv``: a validation split is carved out of ``train.csv`` by holding
out a random 20% of the *training items* whole (pseudo-new papers), the production blend is tuned there, then
refit on all of ``train.csv`` and measured once on the test split.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from service.recommend.cmf import fit_collective, fold_in_items
from service.recommend.content import TextVectorizer, paper_text
from service.recommend.content_map import fit_ridge_map
from service.recommend.hybrid import HybridModel, HybridParams, blend, standardise, user_profiles

VALIDATION_FRACTION = 0.2
SEED = 20240601
BATCH = 1024
MAP_LAMBDAS = (0.3,)  # lower always won in exploration; kept as a grid so another data set can add values
CMF_BETAS = (3.0, 6.0)
# blend weights searched on validation (the content profile has weight 1), and where the search starts
WEIGHT_LADDER = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 13.0)
COARSE_RUNGS = {"w_als": (0, 2, 3, 4), "w_cmf": (0, 5, 6, 7, 8)}  # indices into WEIGHT_LADDER


@dataclass
class Split:
    """Users x items matrices for one train/test split; items are rows of ``features``."""

    train: sp.csr_matrix  # (n_users, n_train_items) binary
    test: sp.csr_matrix  # (n_users, n_test_items) binary
    train_features: sp.csr_matrix
    test_features: sp.csr_matrix
    vectorizer: TextVectorizer


@dataclass
class Dataset:
    texts: dict[str, str]
    train_pairs: list[tuple[str, str]]
    test_pairs: list[tuple[str, str]]


def load_dataset(path: Path) -> Dataset:
    """Read the three files; a missing file or a bad line is reported with its location."""
    path = Path(path)
    for name in ("items.jsonl", "train.csv", "test.csv"):
        if not (path / name).is_file():
            raise FileNotFoundError(f"{path / name} is missing (a dataset needs items.jsonl, train.csv, test.csv)")
    texts: dict[str, str] = {}
    with open(path / "items.jsonl", encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                texts[str(obj["id"])] = paper_text(obj.get("title"), obj.get("abstract"))
            except (ValueError, KeyError) as exc:
                raise ValueError(f"{path / 'items.jsonl'} line {n}: {exc}") from exc
    return Dataset(texts, _pairs(path / "train.csv"), _pairs(path / "test.csv"))


def _pairs(file: Path) -> list[tuple[str, str]]:
    with open(file, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or not {"user", "item"} <= set(reader.fieldnames):
            raise ValueError(f"{file}: header must be 'user,item'")
        return [(row["user"], row["item"]) for row in reader]


def make_split(texts: dict[str, str], train_pairs: list[tuple[str, str]], test_pairs: list[tuple[str, str]]) -> Split:
    """Index users over both sides; the vectorizer sees only the texts of items that are not test items."""
    users = {u: i for i, u in enumerate(sorted({u for u, _ in train_pairs} | {u for u, _ in test_pairs}))}
    train_items = list(dict.fromkeys(i for _, i in train_pairs))
    test_items = list(dict.fromkeys(i for _, i in test_pairs))
    missing = [i for i in train_items + test_items if i not in texts]
    if missing:
        raise ValueError(f"{len(missing)} items have pairs but no text in items.jsonl, e.g. {missing[:3]}")
    test_set = set(test_items)
    vectorizer = TextVectorizer.fit([t for i, t in texts.items() if i not in test_set])
    return Split(
        _matrix(train_pairs, users, train_items),
        _matrix(test_pairs, users, test_items),
        vectorizer.transform([texts[i] for i in train_items]),
        vectorizer.transform([texts[i] for i in test_items]),
        vectorizer,
    )


def _matrix(pairs, users: dict[str, int], items: list[str]) -> sp.csr_matrix:
    col = {it: j for j, it in enumerate(items)}
    rows = np.array([users[u] for u, _ in pairs], dtype=np.int64)
    cols = np.array([col[i] for _, i in pairs], dtype=np.int64)
    m = sp.csr_matrix((np.ones(len(pairs), np.float32), (rows, cols)), shape=(len(users), len(items)))
    m.data[:] = 1.0
    return m


def validation_split(split: Split, seed: int = SEED) -> Split:
    """Hold out a random 20% of the training items whole: the same shape of problem, test never touched."""
    n = split.train.shape[1]
    rng = np.random.default_rng(seed)
    held = np.zeros(n, dtype=bool)
    held[rng.choice(n, size=max(1, int(round(n * VALIDATION_FRACTION))), replace=False)] = True
    keep, out = np.flatnonzero(~held), np.flatnonzero(held)
    return Split(
        split.train[:, keep].tocsr(), split.train[:, out].tocsr(), split.train_features[keep],
        split.train_features[out], split.vectorizer,
    )  # fmt: skip


# --- metrics --------------------------------------------------------------------------------------------------


def ranking_metrics(score_fn, test: sp.csr_matrix, ks: list[int]) -> dict[str, float]:
    """Mean recall@K and nDCG@max(K) over users with test pairs; ``score_fn(users) -> (len, n_test)``."""
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    kmax = min(max(ks), test.shape[1])
    recall_sum = {k: 0.0 for k in ks}
    ndcg_sum = 0.0
    discounts = 1.0 / np.log2(np.arange(2, kmax + 2))
    for start in range(0, len(users), BATCH):
        batch = users[start : start + BATCH]
        scores = np.asarray(score_fn(batch), dtype=np.float32)
        top = np.argpartition(-scores, kmax - 1, axis=1)[:, :kmax]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        truth = test[batch]
        hits = np.take_along_axis(truth.toarray() > 0, top, axis=1)
        n_true = np.diff(truth.indptr).astype(np.float64)
        for k in ks:
            recall_sum[k] += float((hits[:, : min(k, kmax)].sum(axis=1) / n_true).sum())
        ideal = np.array([discounts[: int(min(n, kmax))].sum() for n in n_true])
        ndcg_sum += float(((hits * discounts).sum(axis=1) / ideal).sum())
    n = max(1, len(users))
    out = {f"recall@{k}": recall_sum[k] / n for k in ks}
    out[f"ndcg@{kmax if kmax == max(ks) else max(ks)}"] = ndcg_sum / n
    out["users"] = int(len(users))
    return out


# --- methods --------------------------------------------------------------------------------------------------


def _random_method(split: Split, seed: int = SEED):
    rng = np.random.default_rng(seed)
    return lambda users: rng.random((len(users), split.test.shape[1]), dtype=np.float32)


def _profile_method(split: Split):
    profiles = user_profiles(split.train, split.train_features, 1.0)
    return lambda users: (profiles[users] @ split.test_features.T).toarray()


def _fit(split: Split, params: HybridParams) -> HybridModel:
    return HybridModel.fit(split.vectorizer, split.train_features, split.train, params)


def tune(split: Split, base: HybridParams, ks: list[int]) -> tuple[HybridParams, list[dict[str, Any]]]:
    """Pick the word weight of collective ALS, the content-map regulariser and the blend weights on validation.

    Measured at the largest K on training items held out as pseudo-new papers (see ``_ascend``).
    """
    val = validation_split(split)
    model = _fit(val, replace(base, cmf_beta=CMF_BETAS[0]))
    users = np.flatnonzero(np.diff(val.test.indptr) > 0)
    row_of = np.zeros(val.test.shape[0], dtype=np.int64)
    row_of[users] = np.arange(len(users))
    views = model.item_views(val.test_features)
    has_clicks = np.asarray((val.train > 0).sum(axis=0)).ravel() > 0
    trials: list[dict[str, Any]] = []
    best: tuple[float, HybridParams] | None = None
    for beta in CMF_BETAS:
        if beta != model.params.cmf_beta:
            blocks = base.cmf_blocks()
            model.cmf = fit_collective(val.train, val.train_features, beta, blocks)
            model.params = replace(model.params, cmf_beta=beta)
            views.cmf = fold_in_items(model.cmf, val.test_features, beta, blocks)
        for map_lambda in MAP_LAMBDAS:
            model.content_map = fit_ridge_map(model.item_latent[has_clicks], model.als_items[has_clicks], map_lambda)
            views.als = views.latent @ model.content_map
            parts = {k: standardise(v) for k, v in model.component_scores(users, views).items()}
            found = _ascend(parts, replace(base, cmf_beta=beta, map_lambda=map_lambda), row_of, val.test, ks, trials)
            if best is None or found[0] > best[0]:
                best = found
    assert best is not None
    return best[1], trials


def _ascend(
    parts: dict[str, np.ndarray],
    params: HybridParams,
    row_of: np.ndarray,
    truth: sp.csr_matrix,
    ks: list[int],
    trials: list[dict[str, Any]],
) -> tuple[float, HybridParams]:
    """A coarse grid over the two strongest weights, then coordinate ascent over all (content profile fixed at 1).

    The grid finds the right region; the ascent, one rung of the ladder at a time, is not stopped by the grid's
    edges. The objective is recall at the largest K (the target), with nDCG as a small tie-breaker.
    """
    kmax = max(ks)
    names = ("w_ridge", "w_als", "w_cmf")
    seen: dict[tuple[int, ...], float] = {}

    def objective(pos: dict[str, int]) -> float:
        key = tuple(pos[n] for n in names)
        if key not in seen:
            cand = replace(params, w_profile=1.0, **{n: WEIGHT_LADDER[pos[n]] for n in names})
            m = ranking_metrics(_rows(blend(parts, cand), row_of), truth, ks)
            seen[key] = m[f"recall@{kmax}"] + 0.1 * m[f"ndcg@{kmax}"]
            trials.append({"cmf_beta": params.cmf_beta, "map_lambda": params.map_lambda,
                           **{n: WEIGHT_LADDER[pos[n]] for n in names}, **m})  # fmt: skip
        return seen[key]

    grid = [{"w_ridge": 0, "w_als": a, "w_cmf": c} for a in COARSE_RUNGS["w_als"] for c in COARSE_RUNGS["w_cmf"]]
    position = max(grid, key=objective)
    current = objective(position)
    improved = True
    while improved:
        improved = False
        for name in names:
            for step in (-1, 1):
                rung = position[name] + step
                if not 0 <= rung < len(WEIGHT_LADDER):
                    continue
                trial = {**position, name: rung}
                value = objective(trial)
                if value > current + 1e-6:
                    position, current, improved = trial, value, True
    chosen = replace(params, w_profile=1.0, **{n: WEIGHT_LADDER[position[n]] for n in names})
    return current, chosen


def _rows(scores: np.ndarray, row_of: np.ndarray):
    return lambda users: scores[row_of[users]]


def evaluate_dataset(path: Path, ks: list[int], params: HybridParams | None = None) -> dict[str, Any]:
    """Every method on the dataset's test split; the production hybrid tuned on validation first."""
    ks = sorted({int(k) for k in ks} | {100}) if ks else [20, 50, 100]
    t0 = time.perf_counter()
    data = load_dataset(path)
    split = make_split(data.texts, data.train_pairs, data.test_pairs)
    load_s = time.perf_counter() - t0
    base = params or HybridParams()

    t0 = time.perf_counter()
    tuned, trials = tune(split, base, ks)
    tune_s = time.perf_counter() - t0

    methods: dict[str, dict[str, Any]] = {}

    def run(name: str, build) -> None:
        start = time.perf_counter()
        score_fn = build()
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        metrics = ranking_metrics(score_fn, split.test, ks)
        methods[name] = {**metrics, "fit_s": round(fit_s, 3), "score_s": round(time.perf_counter() - start, 3)}

    run("random", lambda: _random_method(split))
    run("content_profile", lambda: _profile_method(split))
    als_only = replace(tuned, w_profile=0.0, w_ridge=0.0, w_als=1.0, w_cmf=0.0)
    run("als_content_map", lambda: _scorer(_fit(split, als_only), split))
    run("hybrid", lambda: _scorer(_fit(split, tuned), split))
    return {
        "dataset": str(path),
        "methods": methods,
        "production": "hybrid",
        "params": tuned.to_json(),
        "validation": {"trials": len(trials), "best": _best_trial(trials, ks), "tune_s": round(tune_s, 3)},
        "n_users": int(split.train.shape[0]),
        "n_train_items": int(split.train.shape[1]),
        "n_test_items": int(split.test.shape[1]),
        "load_s": round(load_s, 3),
    }


def _scorer(model: HybridModel, split: Split):
    views = model.item_views(split.test_features)
    return lambda users: model.score(users, views)


def _best_trial(trials: list[dict[str, Any]], ks: list[int]) -> dict[str, Any]:
    k = max(ks)
    return max(trials, key=lambda t: t[f"recall@{k}"] + 0.1 * t[f"ndcg@{k}"]) if trials else {}


def format_table(report: dict[str, Any]) -> str:
    """A plain-text table: one row per method, the production one marked."""
    methods = report["methods"]
    cols = [c for c in next(iter(methods.values())) if c.startswith(("recall@", "ndcg@"))] + ["fit_s", "score_s"]
    lines = [f"{'method':<18}" + "".join(f"{c:>12}" for c in cols)]
    for name, m in methods.items():
        mark = " *" if name == report.get("production") else ""
        cells = "".join(f"{m[c]:>12.4f}" if c.startswith(("recall", "ndcg")) else f"{m[c]:>12.2f}" for c in cols)
        lines.append(f"{name + mark:<18}{cells}")
    lines.append(f"* production; params tuned on a validation split of train.csv: {json.dumps(report['params'])}")
    return "\n".join(lines)
