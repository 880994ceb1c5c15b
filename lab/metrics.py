"""Ranking metrics of the offline evaluation: recall@K and nDCG@K over readers with test pairs."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

BATCH = 1024


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
