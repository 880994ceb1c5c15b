"""Which of a reader's liked papers drive the model's score of a candidate, in the model's own views.

The learned score is ``blend`` = sum_v w_v (s_v - mean_v) / std_v over four views, and each view's score is a
sum over the reader's papers:

- content profile: p = sum_i c_i f_i / ||sum_i c_i f_i||, so p . f_j = sum_i c_i (f_i . f_j) / ||.||;
- content ridge: r = (sum_i t_i z_i) S, so r . z_j = sum_i t_i (z_i S z_j');
- ALS and collective ALS: the least-squares explanation of ``als.explain_user``.

So each liked paper's share of the score is exact for a reader folded in from those papers (and close for one
trained nightly on the same history). Reasons say "because you read X" only when X's share is large enough.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from service.recommend.als import explain_user
from service.recommend.hybrid import HybridModel, ItemViews


def liked_shares(
    model: HybridModel,
    raw: dict[str, np.ndarray],
    liked_features: sp.csr_matrix,
    liked_factors: tuple[np.ndarray, np.ndarray],
    conf: np.ndarray,
    views: ItemViews,
) -> np.ndarray:
    """(m, c): each of a reader's m liked papers' part of their blended score of each candidate.

    ``raw``: the reader's raw view scores over the candidates (one row each, from ``component_scores``), for the
    standardisation; ``liked_factors``: the papers' (ALS, collective) factors; ``conf`` (m,) their confidence.
    """
    m, c = liked_features.shape[0], views.features.shape[0]
    params = model.params
    out = np.zeros((m, c), np.float32)
    if m == 0 or c == 0:
        return out
    weights = params.weights()
    conf = np.asarray(conf, dtype=np.float32)
    shares: dict[str, np.ndarray] = {}
    if weights["profile"] and views.features.shape[1]:
        summed = sp.csr_matrix(conf[None, :]) @ liked_features
        norm = float(np.sqrt(summed.multiply(summed).sum())) or 1.0
        shares["profile"] = conf[:, None] * (liked_features @ views.features.T).toarray() / norm
    if weights["ridge"]:
        latent = model.latent(liked_features)
        shares["ridge"] = (latent @ model.ridge_solver) @ views.latent.T
    als, cmf = liked_factors
    if weights["als"]:
        shares["als"] = explain_user(model.gram("als"), als, conf, params.als, views.als)
    if weights["cmf"]:
        gram = model.gram("cmf")
        total = np.zeros((m, c), np.float32)
        for span, block in zip(model.cmf.spans(), params.cmf_blocks(), strict=True):
            total += explain_user(gram[span, span], cmf[:, span], conf, block, views.cmf[:, span])
        shares["cmf"] = total
    for name, share in shares.items():
        spread = float(np.asarray(raw[name]).std())
        if spread > 1e-9:
            out += weights[name] * share / spread
    return out
