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
    kinds = np.asarray(kinds, dtype=object)
    known = np.isin(kinds, list(EVENT_WEIGHTS))
    kinds = kinds[known]
    positive = np.where(kinds == "click", EVENT_WEIGHTS["click"], 0.0) + np.where(
        kinds == "more", EVENT_WEIGHTS["more"], 0.0
    )
    return pair_matrix(
        np.asarray(user_idx, dtype=np.int64)[known], np.asarray(item_idx, dtype=np.int64)[known],
        kinds == "less", positive, shape,
    )  # fmt: skip


def pair_matrix(
    rows: np.ndarray, cols: np.ndarray, less: np.ndarray, positive: np.ndarray, shape: tuple[int, int]
) -> sp.csr_matrix:
    """The confidence matrix of events given as arrays (a row, a column, whether it is "less", its positive weight:
    click 1, more 3, else 0). Per pair: any "less" gives -3 whatever else happened; else clicks and "more"s sum,
    capped at ``MAX_POSITIVE``; a pair that was only sent gets the weak negative -0.15."""
    if len(rows) == 0:
        return sp.csr_matrix(shape, dtype=np.float32)
    n_cols = shape[1]
    pairs, which = np.unique(rows * n_cols + cols, return_inverse=True)
    any_less = np.bincount(which, weights=less, minlength=len(pairs)) > 0
    summed = np.bincount(which, weights=positive, minlength=len(pairs))
    values = np.where(
        any_less,
        EVENT_WEIGHTS["less"],
        np.where(summed > 0, np.minimum(MAX_POSITIVE, summed), EVENT_WEIGHTS["sent"]),
    ).astype(np.float32)
    return sp.csr_matrix((values, (pairs // n_cols, pairs % n_cols)), shape=shape, dtype=np.float32)


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
    item_factors: np.ndarray,
    user_rows: sp.csr_matrix,
    params: ALSParams,
    threads: int = 0,
    gram: np.ndarray | None = None,
) -> np.ndarray:
    """Factors for users from their current confidence rows, holding item factors fixed (recalculate_user).

    ``item_factors`` (n_items, f) are the columns of ``user_rows`` (n_users, n_items). ``gram`` (f, f) is Y'Y over
    *every* item the model knows (unseen items are implicit zeros with confidence 1); without it only the given
    items count, which under-regularises a reader who read one or two papers.
    """
    n = user_rows.shape[0]
    if n == 0 or item_factors.shape[0] == 0 or not np.any(item_factors):
        return np.zeros((n, item_factors.shape[1] if item_factors.ndim == 2 else params.factors), np.float32)
    model = _model(params, threads)
    model.item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
    model.user_factors = np.zeros((n, item_factors.shape[1]), np.float32)
    if gram is not None:
        model._YtY = np.ascontiguousarray(gram, dtype=np.float32)  # implicit's cache of Y'Y, read by the solver
    with threadpool_limits(1, "blas"):
        factors = model.recalculate_user(np.arange(n), user_rows.tocsr().astype(np.float32))
    return np.asarray(factors, np.float32).reshape(n, -1)


def item_gram(item_factors: np.ndarray) -> np.ndarray:
    """Y'Y (f, f) over all items: the "every unseen item is a weak zero" term of every reader's ALS solve."""
    y = np.asarray(item_factors, dtype=np.float64)
    return (y.T @ y).astype(np.float32)


def explain_user(
    gram: np.ndarray, liked: np.ndarray, conf: np.ndarray, params: ALSParams, candidates: np.ndarray
) -> np.ndarray:
    """How much each of a reader's papers adds to their ALS score of each candidate, (m, c).

    ALS's least-squares step gives u = A^-1 sum_i c_i y_i with A = Y'Y + lambda I + sum_i (c_i - 1) y_i y_i'
    (c_i = alpha x confidence), so u . y_j = sum_i c_i (A^-1 y_i) . y_j: the rows sum to the reader's folded-in
    score exactly (Hu, Koren & Volinsky 2008, section 5, "explaining recommendations"; implicit's ``explain``).
    ``liked`` (m, f) are the factors of the reader's papers, ``conf`` (m,) their confidence (negative: "less").
    """
    m, f = liked.shape
    if m == 0 or not np.any(liked):
        return np.zeros((m, candidates.shape[0]), np.float32)
    c = params.alpha * np.abs(np.asarray(conf, dtype=np.float64))
    y = liked.astype(np.float64)
    a = gram.astype(np.float64) + params.regularization * np.eye(f) + (y * (c - 1.0)[:, None]).T @ y
    weights = np.where(np.asarray(conf) > 0, c, 0.0)
    solved = np.linalg.solve(a, y.T)  # (f, m): A^-1 y_i
    return (weights[:, None] * (solved.T @ candidates.T.astype(np.float64))).astype(np.float32)
