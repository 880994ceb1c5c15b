"""The collaborative part: implicit's ALS on confidence-weighted subscriber x paper interactions.

Confidence encodes how sure we are of a preference: a click is a positive, "more like this" a stronger one,
"less like this" a confident negative (implicit treats a negative entry as preference 0 with that confidence),
and a paper sent but not clicked at most a weak negative. Threads are pinned (threadpoolctl) because implicit's
own parallelism and OpenBLAS's fight each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

# How much each kind of event says about a preference, before ALS's alpha scaling. Positives add up (capped);
# "less" always wins and is a confident negative; "sent" alone is a weak negative: with the default alpha it
# weighs 1.5 where an unseen paper weighs 1.
EVENT_WEIGHTS: dict[str, float] = {"click": 1.0, "more": 3.0, "less": -3.0, "sent": -0.15}
MAX_POSITIVE = 6.0


def confidence_matrix(
    user_idx: np.ndarray, item_idx: np.ndarray, kinds: list[str], shape: tuple[int, int]
) -> sp.csr_matrix:
    """One entry per (user, item) from all of that pair's events; unknown kinds (e.g. "open") are ignored."""
    pos: dict[tuple[int, int], float] = {}
    less: set[tuple[int, int]] = set()
    sent: set[tuple[int, int]] = set()
    for u, i, kind in zip(np.asarray(user_idx).tolist(), np.asarray(item_idx).tolist(), kinds, strict=True):
        key = (u, i)
        if kind == "less":
            less.add(key)
        elif kind == "sent":
            sent.add(key)
        elif kind in ("click", "more"):
            pos[key] = min(MAX_POSITIVE, pos.get(key, 0.0) + EVENT_WEIGHTS[kind])
    entries = {key: EVENT_WEIGHTS["sent"] for key in sent}
    entries.update(pos)
    entries.update({key: EVENT_WEIGHTS["less"] for key in less})
    if not entries:
        return sp.csr_matrix(shape, dtype=np.float32)
    keys = np.array(list(entries.keys()), dtype=np.int64)
    vals = np.array(list(entries.values()), dtype=np.float32)
    return sp.csr_matrix((vals, (keys[:, 0], keys[:, 1])), shape=shape, dtype=np.float32)


def pair_weights(less: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """The entry ``confidence_matrix`` gives a (user, item) pair, from its events summed up per pair: whether any is
    "less", and the summed weights of its clicks and "more"s (0 when it has none: then it was only sent)."""
    return np.where(
        less,
        EVENT_WEIGHTS["less"],
        np.where(positive > 0, np.minimum(MAX_POSITIVE, positive), EVENT_WEIGHTS["sent"]),
    ).astype(np.float32)


@dataclass
class ALSParams:
    factors: int = 64
    regularization: float = 0.1
    alpha: float = 10.0
    iterations: int = 15
    random_state: int = 42


def _model(params: ALSParams, threads: int):
    from implicit.cpu.als import AlternatingLeastSquares

    return AlternatingLeastSquares(
        factors=params.factors,
        regularization=params.regularization,
        alpha=params.alpha,
        iterations=params.iterations,
        random_state=params.random_state,
        num_threads=threads,
        calculate_training_loss=False,
    )


def fit_als(conf: sp.csr_matrix, params: ALSParams, threads: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """User and item factors from a (users x items) confidence matrix; zero factors when there is no data."""
    n_users, n_items = conf.shape
    if conf.nnz == 0 or n_users == 0 or n_items == 0:
        return np.zeros((n_users, params.factors), np.float32), np.zeros((n_items, params.factors), np.float32)
    model = _model(params, threads)
    with threadpool_limits(1, "blas"):
        model.fit(conf.tocsr().astype(np.float32), show_progress=False)
    return np.asarray(model.user_factors, np.float32), np.asarray(model.item_factors, np.float32)


def fold_in_users(
    item_factors: np.ndarray, user_rows: sp.csr_matrix, params: ALSParams, threads: int = 0
) -> np.ndarray:
    """Factors for users from their current confidence rows, holding item factors fixed (recalculate_user)."""
    n = user_rows.shape[0]
    if n == 0 or item_factors.shape[0] == 0 or not np.any(item_factors):
        return np.zeros((n, item_factors.shape[1] if item_factors.ndim == 2 else params.factors), np.float32)
    model = _model(params, threads)
    model.item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
    model.user_factors = np.zeros((n, item_factors.shape[1]), np.float32)
    with threadpool_limits(1, "blas"):
        factors = model.recalculate_user(np.arange(n), user_rows.tocsr().astype(np.float32))
    return np.asarray(factors, np.float32).reshape(n, -1)
