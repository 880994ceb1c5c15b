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

    def shares(self, idx: np.ndarray, conf: np.ndarray, real: np.ndarray) -> np.ndarray:
        """(R, m, c) for R readers at once: ``idx``/``conf`` (R, m) padded where ``real`` is False. A padded
        paper gets D = 0, so its row of I + D K is the identity's and it adds nothing to the real ones."""
        c = self.params.alpha * np.abs(conf.astype(np.float64))
        y, p = self.y[idx].astype(np.float64), self.p[idx].astype(np.float64)
        k = np.einsum("rmf,rnf->rmn", y, p)  # (R, m, m)
        d = np.where(real, c - 1.0, 0.0)
        m = np.linalg.inv(np.eye(idx.shape[1])[None] + d[:, :, None] * k)
        weights = np.where(real & (conf > 0), c, 0.0)
        return (weights[:, :, None] * np.einsum("rkm,rkc->rmc", m, self.q[idx].astype(np.float64))).astype(np.float32)


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

    def shares(self, readers: list[tuple[np.ndarray, np.ndarray]], raw: dict[str, np.ndarray]) -> list[np.ndarray]:
        """For each reader (rows ``idx`` of this group's papers, their confidence ``conf``): (m, c), the part of
        their blended score each of their m liked papers gives each candidate. ``raw`` (R, c) per view: the
        readers' raw view scores over the candidates (``component_scores``), whose spread the blend divides by."""
        n, width = len(readers), max((len(i) for i, _ in readers), default=0)
        c = next(iter(raw.values())).shape[-1]
        idx = np.zeros((n, width), np.int64)
        conf = np.zeros((n, width), np.float32)
        real = np.zeros((n, width), bool)
        for r, (i, w) in enumerate(readers):
            idx[r, : len(i)], conf[r, : len(i)], real[r, : len(i)] = i, w, True
        parts: dict[str, np.ndarray] = {}
        if "profile" in self.sims or self.embedded is not None:
            mix = sp.csr_matrix((conf[real], (np.nonzero(real)[0], idx[real])), shape=(n, self.features.shape[0]))
        if "profile" in self.sims:
            summed = (mix @ self.features).tocsr()
            norm = np.sqrt(np.asarray(summed.multiply(summed).sum(axis=1))).ravel()
            parts["profile"] = conf[:, :, None] * self.sims["profile"][idx] / np.where(norm > 0, norm, 1)[:, None, None]
        if "ridge" in self.sims:
            parts["ridge"] = np.where(real[:, :, None], self.sims["ridge"][idx], 0.0)
        if self.embedded is not None:
            norm = np.linalg.norm(np.asarray(mix @ self.embedded), axis=1)
            parts["embed"] = conf[:, :, None] * self.sims["embed"][idx] / np.where(norm > 0, norm, 1)[:, None, None]
        for name, blocks in self.collaborative.items():
            parts[name] = sum(block.shares(idx, conf, real) for block in blocks)
        out = np.zeros((n, width, c), np.float32)
        for name, share in parts.items():
            spread = np.asarray(raw[name]).std(axis=1)
            scale = np.divide(self.weights[name], spread, out=np.zeros_like(spread), where=spread > 1e-9)
            out += scale[:, None, None] * share
        return [out[r, : len(i)] for r, (i, _) in enumerate(readers)]
