"""Which of a reader's liked papers drive the model's score of a candidate, in the model's own views.

The learned score is ``blend`` = sum_v w_v (s_v - mean_v) / std_v over the views, and each view's score is a sum
over the reader's papers:

- content profile: p = sum_i c_i f_i / ||sum_i c_i f_i||, so p . f_j = sum_i c_i (f_i . f_j) / ||.||;
- content ridge: r = (sum_i t_i z_i) S, so r . z_j = sum_i t_i (z_i S z_j');
- embedding: the profile's words embedded, e = sum_i c_i f_i E / ||.||, cosine to the paper's;
- ALS and collective ALS: the reader's least-squares step u = A^-1 sum_i c_i y_i with A = G + Y_L' D Y_L,
  G = Y'Y + lambda I (all papers), D = diag(c_i - 1) over the reader's papers, so u . y_j =
  sum_i c_i (A^-1 y_i) . y_j (Hu, Koren & Volinsky 2008, section 5). By Woodbury, A^-1 Y_L' = G^-1 Y_L'
  (I + D K)^-1 with K = Y_L G^-1 Y_L' (m x m): only G^-1 (once per model) and an m x m solve per reader.

So each liked paper's share is exact for a reader folded in from those papers (and close for one trained nightly
on the same history). Reasons say "because you read X" only when X's share is large enough.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from service.recommend.als import ALSParams
from service.recommend.hybrid import HybridModel, ItemViews


class _Collaborative:
    """One ALS model (or collective-ALS block) against the candidates: Y (u, f), G^-1 Y' and G^-1 y_i . y_j."""

    def __init__(self, factors: np.ndarray, inverse: np.ndarray, candidates: np.ndarray, params: ALSParams) -> None:
        self.y = factors.astype(np.float32)
        self.p = self.y @ inverse  # (u, f): G^-1 y_i (G^-1 is symmetric)
        self.q = self.p @ candidates.T  # (u, c)
        self.params = params

    def shares(self, idx: np.ndarray, conf: np.ndarray) -> np.ndarray:
        c = self.params.alpha * np.abs(conf.astype(np.float64))
        k = self.y[idx].astype(np.float64) @ self.p[idx].T.astype(np.float64)  # (m, m)
        m = np.linalg.inv(np.eye(len(idx)) + (c - 1.0)[:, None] * k)
        weights = np.where(conf > 0, c, 0.0)
        return (weights[:, None] * (m.T @ self.q[idx].astype(np.float64))).astype(np.float32)


class Explainer:
    """The liked papers of a group of readers (``features`` (u, d), training rows ``item_rows`` (u,), -1 for
    papers the model never trained on) against one day's candidates (``views``), computed once for the group."""

    def __init__(self, model: HybridModel, views: ItemViews, features: sp.csr_matrix, item_rows: np.ndarray) -> None:
        self.model, self.features = model, features.tocsr()
        weights = model.params.weights()
        self.weights = weights
        self.sims: dict[str, np.ndarray] = {}
        if weights["profile"] and views.features.shape[1]:
            self.sims["profile"] = (self.features @ views.features.T).toarray().astype(np.float32)
        if weights["ridge"]:
            self.sims["ridge"] = (model.latent(self.features) @ model.ridge_solver) @ views.latent.T
        self.embedded = None
        if weights["embed"] and model.embed_words.shape[1] and views.features.shape[1]:
            self.embedded = np.asarray(self.features @ model.embed_words, dtype=np.float32)
            self.sims["embed"] = self.embedded @ views.embed.T
        als, cmf = model.paper_factors(self.features, item_rows)
        self.collaborative: dict[str, list[_Collaborative]] = {}
        if weights["als"]:
            self.collaborative["als"] = [_Collaborative(als, model.gram_inverse("als"), views.als, model.params.als)]
        if weights["cmf"]:
            inverse = model.gram_inverse("cmf")
            self.collaborative["cmf"] = [
                _Collaborative(cmf[:, span], inverse[span, span], views.cmf[:, span], block)
                for span, block in zip(model.cmf.spans(), model.params.cmf_blocks(), strict=True)
            ]

    def shares(self, idx: np.ndarray, conf: np.ndarray, raw: dict[str, np.ndarray]) -> np.ndarray:
        """(m, c): the part of one reader's blended score each of their m liked papers (rows ``idx`` of this
        group, confidence ``conf``) gives each candidate. ``raw``: the reader's raw view scores over the
        candidates (``component_scores``), whose spread the blend divides by."""
        conf = np.asarray(conf, dtype=np.float32)
        parts: dict[str, np.ndarray] = {}
        if "profile" in self.sims:
            summed = sp.csr_matrix(conf[None, :]) @ self.features[idx]
            norm = float(np.sqrt(summed.multiply(summed).sum())) or 1.0
            parts["profile"] = conf[:, None] * self.sims["profile"][idx] / norm
        if "ridge" in self.sims:
            parts["ridge"] = self.sims["ridge"][idx]
        if self.embedded is not None:
            norm = float(np.linalg.norm(conf @ self.embedded[idx])) or 1.0
            parts["embed"] = conf[:, None] * self.sims["embed"][idx] / norm
        for name, blocks in self.collaborative.items():
            parts[name] = sum(block.shares(idx, conf) for block in blocks)
        out = np.zeros((len(idx), next(iter(raw.values())).shape[-1]), np.float32)
        for name, share in parts.items():
            spread = float(np.asarray(raw[name]).std())
            if spread > 1e-9:
                out += self.weights[name] * share / spread
        return out
