"""The online check, replayed on real readers: personalised digests against a trending-only digest.

The test papers of an evaluation data set arrive over ``days`` simulated days. Readers with test pairs are split
in two: the crowd, whose saves of a day's papers are that day's trending counts (as upvotes are on Hugging Face),
and the replayed readers, who each day get an email of ``per_email`` papers from each arm and click exactly the
papers they really saved (their held-out test pairs). The personalised arm is the production ranker
(``ranking.score_batch`` and ``pick_batch``: learned scores, trending slots, exploration, MMR) on the production
model trained on ``train.csv``; the baseline sends the day's most trending papers. Nothing is tuned here, and
the baseline sees the same trending counts, so the check can fail.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np

from lab.datasets import SEED, load_dataset, make_split
from lab.progress import progress
from service.recommend.hybrid import HybridParams, standardise
from service.recommend.inputs import Batch, Candidates, Prefs, RankWeights, Reader
from service.recommend.ranking import pick_batch, score_batch
from service.recommend.scorers import HybridScorer

START = dt.date(2026, 1, 5)


def replay(
    path: Path, days: int = 5, per_email: int = 10, max_readers: int | None = 2000, seed: int = SEED,
    params: HybridParams | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Both arms' click-through over ``days`` days of the data set's test papers; see the module docstring."""
    data = load_dataset(path)
    split = make_split(data.texts, data.train_pairs, data.test_pairs)
    rng = np.random.default_rng(seed)
    with_tests = np.flatnonzero(np.diff(split.test.indptr) > 0)
    rng.shuffle(with_tests)
    crowd, replayed = with_tests[: len(with_tests) // 2], np.sort(with_tests[len(with_tests) // 2 :])
    if max_readers:
        replayed = replayed[:max_readers]
    scorer = HybridScorer(params).fit(split.vectorizer, split.train_features, split.train)
    upvotes = np.asarray(split.test[crowd].sum(axis=0)).ravel()
    day_of = rng.integers(0, days, split.test.shape[1])
    evidence = np.diff(split.train.indptr)
    weights = RankWeights()
    prefs = Prefs.of([], [], [], [], per_email)
    totals = {"personalised": 0, "trending": 0, "slots": 0}
    report_days = []
    for d in progress(range(days), desc="online-check: days"):
        items = np.flatnonzero(day_of == d)
        if len(items) == 0:
            continue
        features = split.test_features[items]
        cands = _candidates(items, features, upvotes[items])
        truth = split.test[replayed][:, items].toarray() > 0
        readers = [Reader(int(u), prefs, int(evidence[u])) for u in replayed]
        learned = scorer.score(replayed, features)
        batch = Batch(readers, learned, np.ones(learned.shape, bool), np.zeros(learned.shape, np.float32))
        picks = pick_batch(batch, score_batch(batch, cands, weights), cands, START + dt.timedelta(days=d), weights)
        baseline = np.array(cands.trend_order + [j for j in range(len(items)) if j not in set(cands.trend_order)])
        day = {"date": (START + dt.timedelta(days=d)).isoformat(), "papers": int(len(items)),
               "personalised": 0, "trending": 0}  # fmt: skip
        for i, ps in enumerate(picks):
            mine = [int(p.paper_id) for p in ps]
            k = min(len(mine), per_email)
            day["personalised"] += int(truth[i, mine[:k]].sum())
            day["trending"] += int(truth[i, baseline[:k]].sum())
            totals["slots"] += k
        totals["personalised"] += day["personalised"]
        totals["trending"] += day["trending"]
        report_days.append(day)
    slots = max(1, totals["slots"])
    ctr_p, ctr_t = totals["personalised"] / slots, totals["trending"] / slots
    return {
        "dataset": str(path), "readers": int(len(replayed)), "crowd": int(len(crowd)), "per_email": per_email,
        "days": report_days, "slots": totals["slots"], "clicks_personalised": totals["personalised"],
        "clicks_trending": totals["trending"], "ctr_personalised": round(ctr_p, 5), "ctr_trending": round(ctr_t, 5),
        "lift": round(ctr_p / ctr_t, 3) if ctr_t else None,
    }  # fmt: skip


def _candidates(items: np.ndarray, features, upvotes: np.ndarray) -> Candidates:
    """One day's papers as the ranker sees them; ``ids`` are positions in the day (0..c-1)."""
    c = len(items)
    raw = np.log1p(upvotes.astype(np.float32))
    positive = np.flatnonzero(raw > 0)
    similarity = (features @ features.T).toarray().astype(np.float32) if features.shape[1] else np.eye(c)
    return Candidates(
        np.arange(c, dtype=np.int64), np.ascontiguousarray(similarity.T), [set() for _ in range(c)], {},
        standardise(raw[None, :])[0], raw, positive[np.argsort(-raw[positive], kind="stable")].tolist(),
        [f"trending: saved by {int(n)} readers" if n else "new today" for n in upvotes.tolist()],
        upvotes.astype(np.int64),
    )  # fmt: skip
