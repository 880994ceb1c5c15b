"""The hybrid scorer: three views of a reader's taste, each able to score a paper nobody has clicked yet.

- content profile: the reader's clicked papers summed in TF-IDF space (minus "less like this"), cosine to the
  new paper;
- content ridge: a per-reader linear model over a low-rank text space, fit in closed form for every reader at
  once (W = R Z (Z'Z + lambda I)^-1), so words that predict *this* reader's clicks get weight even when they are
  not in the papers they clicked;
- ALS through the content map: implicit ALS factors for readers, and a ridge map from text to ALS item factors so
  a brand-new paper gets item factors (collaborative signal for cold papers);
- collective ALS (``cmf.py``): papers factorised jointly against readers and words, new papers folded in from
  their words: the strongest single view on the citeulike new-paper split.

Each view's scores are standardised per reader across the day's candidates and blended with weights chosen on a
validation split (see ``evaluate.py``). Everything is a dense or sparse matrix product: scoring is batched.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD

from service.recommend.als import ALSParams, fit_als, fold_in_users, item_gram
from service.recommend.cmf import (
    CollectiveFactors,
    block_params,
    empty,
    fit_collective,
    fold_in_items,
    fold_in_reader_rows,
)
from service.recommend.content import TextVectorizer, l2_normalise_rows
from service.recommend.content_map import fit_ridge_map
from service.recommend.embed import l2_rows, word_vectors

ITEMS_PER_FACTOR = 10
COLLABORATIVE_HALF = 1000  # liked pairs at which the views learned from readers get half their tuned weight


@dataclass
class HybridParams:
    """Defaults = what ``paperboy evaluate`` chose on the citeulike-t validation split (the production model)."""

    svd_dim: int = 400
    ridge_lambda: float = 30.0
    map_lambda: float = 0.3
    negative_weight: float = 1.0  # how much a "less like this" paper is subtracted from the profile
    w_profile: float = 1.0
    w_ridge: float = 0.0
    w_als: float = 1.5
    w_cmf: float = 5.0
    w_embed: float = 0.5  # the WordLlama view (``embed.py``); absent (no weight) without the embed extra
    cmf_beta: float = 3.0  # weight of a paper's words against its readers in collective ALS
    cmf_alphas: list[float] = field(default_factory=lambda: [20.0, 40.0, 30.0])  # one ensemble member each
    als: ALSParams = field(default_factory=lambda: ALSParams(factors=256, regularization=1.0, alpha=20.0))
    cmf: ALSParams = field(default_factory=lambda: ALSParams(factors=128, regularization=3.0, alpha=20.0))

    def cmf_blocks(self) -> list[ALSParams]:
        return block_params(self.cmf, self.cmf_alphas)

    def fitted_to(self, n_items: int, n_positive: int) -> HybridParams:
        """These params for a corpus of ``n_items`` papers and ``n_positive`` liked (reader, paper) pairs.

        At most n_items / ``ITEMS_PER_FACTOR`` factors per ALS model (more only memorise the papers), and the
        views learned from readers (ALS, collective ALS) weighted by n / (n + ``COLLABORATIVE_HALF``): shrunk
        towards the content views while few readers have clicked, at full weight on a data set like citeulike-t
        (107k pairs). The tuned weights hold where they were tuned; a new instance starts from content."""
        cap = max(2, n_items // ITEMS_PER_FACTOR)
        trust = n_positive / (n_positive + COLLABORATIVE_HALF)
        return replace(
            self, w_als=self.w_als * trust, w_cmf=self.w_cmf * trust,
            als=replace(self.als, factors=min(self.als.factors, cap)),
            cmf=replace(self.cmf, factors=min(self.cmf.factors, cap)),
        )  # fmt: skip

    def als_only(self) -> HybridParams:
        """The "ALS through the content map" baseline: the same model with every other view switched off."""
        return replace(self, w_profile=0.0, w_ridge=0.0, w_als=1.0, w_cmf=0.0)

    def weights(self) -> dict[str, float]:
        return {"profile": self.w_profile, "ridge": self.w_ridge, "als": self.w_als, "cmf": self.w_cmf,
                "embed": self.w_embed}  # fmt: skip

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> HybridParams:
        data = dict(data)
        als = ALSParams(**data.pop("als", {})) if "als" in data else ALSParams(256, 1.0, 20.0)
        cmf = ALSParams(**data.pop("cmf", {})) if "cmf" in data else ALSParams(128, 3.0, 20.0)
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(als=als, cmf=cmf, **known)


@dataclass
class ItemViews:
    features: sp.csr_matrix  # (c, d) l2 TF-IDF
    latent: np.ndarray  # (c, k) low-rank text space
    als: np.ndarray  # (c, f) ALS item factors through the content map
    cmf: np.ndarray  # (c, f') collective factors folded in from words
    embed: np.ndarray  # (c, e) l2-normalised WordLlama vectors (e = 0 without the embed view)


def standardise(scores: np.ndarray) -> np.ndarray:
    """Per-row z-scores; a row with no spread (no signal) becomes zeros instead of noise."""
    if scores.shape[1] == 0:
        return np.zeros(scores.shape, dtype=np.float32)
    mean = scores.mean(axis=1, keepdims=True)
    std = scores.std(axis=1, keepdims=True)
    out = np.zeros_like(scores, dtype=np.float32)
    ok = std[:, 0] > 1e-9
    out[ok] = (scores[ok] - mean[ok]) / std[ok]
    return out


@dataclass
class HybridModel:
    """Everything needed to score new papers for known readers; plain arrays only (saved as .npz)."""

    params: HybridParams
    vectorizer: TextVectorizer
    projection: np.ndarray  # (d, k): TF-IDF -> low-rank text space
    item_latent: np.ndarray  # (n_items, k): training papers in the text space (for fold-in)
    profiles: sp.csr_matrix  # (n_users, d)
    ridge_users: np.ndarray  # (n_users, k)
    ridge_solver: np.ndarray  # (k, k) = (Z'Z + lambda I)^-1, for fold-in
    als_users: np.ndarray  # (n_users, f)
    als_items: np.ndarray  # (n_items, f)
    content_map: np.ndarray  # (k, f)
    cmf: CollectiveFactors
    embed_words: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # (d, e), see embed.py
    _grams: dict[str, np.ndarray] = field(default_factory=dict, init=False, repr=False, compare=False)

    # --- fitting -------------------------------------------------------------------------------------------

    @classmethod
    def fit(
        cls,
        vectorizer: TextVectorizer,
        item_features: sp.csr_matrix,
        conf: sp.csr_matrix,
        params: HybridParams,
        threads: int = 0,
    ) -> HybridModel:
        """``item_features``: (n_items, d) l2 TF-IDF rows; ``conf``: (n_users, n_items) confidence (see als.py).

        Small data gets a smaller model (``HybridParams.fitted_to``), sized by the papers somebody was shown or
        reacted to: papers nobody has seen yet teach the readers' side nothing (``cmf.fit_collective``)."""
        conf = conf.tocsr().astype(np.float32)
        seen = int((np.diff(conf.tocsc().indptr) > 0).sum())  # papers the readers' side learns from (cmf.py)
        params = params.fitted_to(seen, int((conf.data > 0).sum()))
        projection = fit_projection(item_features, params.svd_dim)
        latent = np.asarray(item_features @ projection, dtype=np.float32)
        profiles = user_profiles(conf, item_features, params.negative_weight)
        target = preference_targets(conf)
        solver = ridge_inverse(latent, params.ridge_lambda)
        ridge_users = np.asarray(target @ latent, dtype=np.float32) @ solver
        als_users, als_items = fit_als(conf, params.als, threads)
        has_clicks = np.asarray((conf > 0).sum(axis=0)).ravel() > 0
        content_map = fit_ridge_map(latent[has_clicks], als_items[has_clicks], params.map_lambda)
        blocks = params.cmf_blocks()
        if params.w_cmf:
            cmf = fit_collective(conf, item_features, params.cmf_beta, blocks, threads)
        else:
            cmf = empty(conf.shape[0], vectorizer.dim, conf.shape[1], blocks)
        embed_words = word_vectors(vectorizer.vocabulary) if params.w_embed else np.zeros((vectorizer.dim, 0))
        return cls(
            params, vectorizer, projection, latent, profiles, ridge_users.astype(np.float32), solver,
            als_users, als_items, content_map, cmf, embed_words.astype(np.float32),
        )  # fmt: skip

    # --- scoring -------------------------------------------------------------------------------------------

    def latent(self, features: sp.csr_matrix) -> np.ndarray:
        return np.asarray(features @ self.projection, dtype=np.float32)

    def item_views(self, features: sp.csr_matrix) -> ItemViews:
        """The candidate papers in every view: computed once per day's candidates, reused for every batch."""
        latent = self.latent(features)
        if self.params.w_cmf:
            cmf = fold_in_items(self.cmf, features, self.params.cmf_beta, self.params.cmf_blocks())
        else:
            cmf = np.zeros((features.shape[0], self.cmf.users.shape[1]), np.float32)
        return ItemViews(features, latent, latent @ self.content_map, cmf, self.embed_rows(features))

    def embed_rows(self, rows: sp.csr_matrix) -> np.ndarray:
        """(n, e) TF-IDF rows (papers or readers' profiles) in the embedding space, l2-normalised."""
        if self.embed_words.shape[1] == 0 or rows.shape[1] != self.embed_words.shape[0]:
            return np.zeros((rows.shape[0], self.embed_words.shape[1]), np.float32)
        return l2_rows(np.asarray(rows @ self.embed_words, dtype=np.float32))

    def component_scores(self, users: np.ndarray, views: ItemViews) -> dict[str, np.ndarray]:
        """Raw scores of each view for ``users`` (row indices) x candidate papers."""
        prof = self.profiles[users] @ views.features.T
        prof = prof.toarray() if sp.issparse(prof) else np.asarray(prof)
        return {
            "profile": prof.astype(np.float32),
            "ridge": self.ridge_users[users] @ views.latent.T,
            "als": self.als_users[users] @ views.als.T,
            "cmf": self.cmf.users[users] @ views.cmf.T,
            "embed": self.embed_rows(self.profiles[users]) @ views.embed.T,
        }

    def score(self, users: np.ndarray, views: ItemViews) -> np.ndarray:
        """The blended score, (len(users), n_candidates); zeros for a reader the model knows nothing about."""
        return blend(self.component_scores(users, views), self.params)

    # --- fold-in -------------------------------------------------------------------------------------------

    def fold_in(
        self,
        conf_rows: sp.csr_matrix,
        features: sp.csr_matrix,
        item_als: np.ndarray | None = None,
        item_cmf: np.ndarray | None = None,
    ) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, np.ndarray]:
        """Profile, ridge weights, ALS and collective factors for readers from their rows over these papers.

        The papers need not be training papers: their item factors come from their text unless given.
        """
        latent = self.latent(features)
        profiles = user_profiles(conf_rows, features, self.params.negative_weight)
        ridge = np.asarray(preference_targets(conf_rows) @ latent, dtype=np.float32) @ self.ridge_solver
        items = latent @ self.content_map if item_als is None else item_als
        als = fold_in_users(items, conf_rows, self.params.als, gram=self.gram("als"))
        if item_cmf is None:
            item_cmf = fold_in_items(self.cmf, features, self.params.cmf_beta, self.params.cmf_blocks())
        cmf = fold_in_reader_rows(item_cmf, conf_rows, self.cmf, self.params.cmf_blocks(), self.gram("cmf"))
        return profiles, ridge.astype(np.float32), als, cmf

    def gram(self, view: str) -> np.ndarray:
        """Y'Y of the training papers' factors in ``view`` ("als" or "cmf", block-diagonal), computed once."""
        if view not in self._grams:
            if view == "als":
                self._grams[view] = item_gram(self.als_items)
            else:
                f = self.cmf.items.shape[1]
                gram = np.zeros((f, f), np.float32)
                for span in self.cmf.spans():
                    gram[span, span] = item_gram(self.cmf.items[:, span])
                self._grams[view] = gram
        return self._grams[view]

    def paper_factors(
        self, features: sp.csr_matrix, item_rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """ALS and collective factors of papers, (m, f) and (m, F): the learned ones of training papers
        (``item_rows`` >= 0 and not all zero), else folded in from their text."""
        n = features.shape[0]
        rows = np.full(n, -1, np.int64) if item_rows is None else np.asarray(item_rows, dtype=np.int64)
        known = rows >= 0
        learned_als = known & np.any(self.als_items[np.where(known, rows, 0)], axis=1) if n else known
        learned_cmf = known & np.any(self.cmf.items[np.where(known, rows, 0)], axis=1) if n else known
        als = self.latent(features) @ self.content_map
        als[learned_als] = self.als_items[rows[learned_als]]
        cmf = np.zeros((n, self.cmf.items.shape[1]), np.float32)
        cmf[learned_cmf] = self.cmf.items[rows[learned_cmf]]
        fold = np.flatnonzero(~learned_cmf)  # only papers without learned factors are solved from their words
        if len(fold):
            cmf[fold] = fold_in_items(self.cmf, features[fold], self.params.cmf_beta, self.params.cmf_blocks())
        return als, cmf

    def gram_inverse(self, view: str) -> np.ndarray:
        """(Y'Y + lambda I)^-1 of ``view`` ("als", or "cmf" block-diagonal): the shared part of every reader's
        least-squares step, inverted once per model (see ``explain.py``)."""
        key = f"{view}_inverse"
        if key not in self._grams:
            gram = self.gram(view).astype(np.float64)
            out = np.zeros(gram.shape, np.float32)
            spans = [slice(0, gram.shape[0])] if view == "als" else self.cmf.spans()
            blocks = [self.params.als] if view == "als" else self.params.cmf_blocks()
            regs = [p.regularization for p in blocks]
            for span, reg in zip(spans, regs, strict=True):
                block = gram[span, span] + reg * np.eye(span.stop - span.start)
                out[span, span] = np.linalg.inv(block)
            self._grams[key] = out
        return self._grams[key]

    def score_rows(
        self, conf_rows: sp.csr_matrix, row_features: sp.csr_matrix, views: ItemViews, row_items: np.ndarray | None
    ) -> np.ndarray:
        """Readers the model never saw, folded in from ``conf_rows`` (n, m) over papers with ``row_features``
        (m, d) and training rows ``row_items`` (m,), -1 for papers it never trained on; scored on ``views``."""
        item_als, item_cmf = self.paper_factors(row_features, row_items)
        profiles, ridge, als, cmf = self.fold_in(conf_rows, row_features, item_als, item_cmf)
        prof = (profiles @ views.features.T).toarray() if views.features.shape[1] else np.zeros((len(als), 0))
        parts = {"profile": prof.astype(np.float32), "ridge": ridge @ views.latent.T, "als": als @ views.als.T,
                 "cmf": cmf @ views.cmf.T, "embed": self.embed_rows(profiles) @ views.embed.T}  # fmt: skip
        return blend(parts, self.params)

    # --- persistence ---------------------------------------------------------------------------------------

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = self.vectorizer.to_arrays()
        p = self.profiles.tocsr()
        arrays.update(
            projection=self.projection, item_latent=self.item_latent, ridge_users=self.ridge_users,
            ridge_solver=self.ridge_solver, als_users=self.als_users, als_items=self.als_items,
            content_map=self.content_map, cmf_users=self.cmf.users, cmf_words=self.cmf.words,
            cmf_items=self.cmf.items, cmf_gram=self.cmf.gram, cmf_blocks=self.cmf.blocks,
            embed_words=self.embed_words, profiles_data=p.data, profiles_indices=p.indices, profiles_indptr=p.indptr,
            profiles_shape=np.asarray(p.shape, dtype=np.int64),
        )  # fmt: skip
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], params: HybridParams) -> HybridModel:
        shape = tuple(int(x) for x in arrays["profiles_shape"])
        profiles = sp.csr_matrix(
            (arrays["profiles_data"], arrays["profiles_indices"], arrays["profiles_indptr"]), shape=shape
        )
        return cls(
            params, TextVectorizer.from_arrays(arrays), arrays["projection"], arrays["item_latent"], profiles,
            arrays["ridge_users"], arrays["ridge_solver"], arrays["als_users"], arrays["als_items"],
            arrays["content_map"],
            CollectiveFactors(
                arrays["cmf_users"], arrays["cmf_words"], arrays["cmf_items"], arrays["cmf_gram"], arrays["cmf_blocks"]
            ),
            np.asarray(arrays["embed_words"], np.float32) if "embed_words" in arrays
            else np.zeros((len(arrays["vec_idf"]), 0), np.float32),
        )  # fmt: skip


def blend(parts: dict[str, np.ndarray], params: HybridParams) -> np.ndarray:
    """sum_v w_v z_v: each view's scores standardised per reader, weighted (weights tuned on validation)."""
    total = np.zeros_like(parts["profile"], dtype=np.float32)
    for name, w in params.weights().items():
        if w:
            total += w * standardise(parts[name])
    return total


def fit_projection(features: sp.csr_matrix, dim: int) -> np.ndarray:
    """A (d, k) orthonormal basis of the text space (truncated SVD); identity-like for tiny corpora."""
    n, d = features.shape
    k = min(dim, n - 1, d - 1)
    if k < 2 or features.nnz == 0:
        return np.eye(d, dtype=np.float32)
    svd = TruncatedSVD(k, algorithm="randomized", n_iter=5, random_state=0)
    svd.fit(features)
    return np.ascontiguousarray(svd.components_.T, dtype=np.float32)


def user_profiles(conf: sp.csr_matrix, features: sp.csr_matrix, negative_weight: float) -> sp.csr_matrix:
    """Sum of liked papers' TF-IDF (weighted by confidence) minus disliked ones, l2-normalised per reader."""
    signed = conf.tocsr().copy()
    signed.data = np.where(signed.data > 0, signed.data, 0.0).astype(np.float32)
    neg = conf.tocsr().copy()
    neg.data = np.where(neg.data <= -1.0, 1.0, 0.0).astype(np.float32)  # only "less" (sent is -0.15)
    weights = (signed - negative_weight * neg).tocsr()
    weights.eliminate_zeros()
    if features.shape[1] == 0:
        return sp.csr_matrix((conf.shape[0], 0), dtype=np.float32)
    profile = (weights @ features).tocsr()
    profile.eliminate_zeros()
    return l2_normalise_rows(profile)


def preference_targets(conf: sp.csr_matrix) -> sp.csr_matrix:
    """What the ridge learns to predict: 1 for a liked paper, -1 for "less like this", nothing else."""
    target = conf.tocsr().copy().astype(np.float32)
    target.data = np.where(target.data > 0, 1.0, np.where(target.data <= -1.0, -1.0, 0.0)).astype(np.float32)
    target.eliminate_zeros()
    return target


def ridge_inverse(latent: np.ndarray, lam: float) -> np.ndarray:
    """(Z'Z + lambda I)^-1 in float64 for stability, stored as float32."""
    gram = latent.T.astype(np.float64) @ latent.astype(np.float64)
    gram[np.diag_indices_from(gram)] += lam
    return np.linalg.inv(gram).astype(np.float32)
