"""Every way of scoring new papers for readers, behind one small interface (as ``implicit`` does for its models).

A scorer is fitted on papers' text and a readers x papers confidence matrix, then scores papers it has never
seen (a new day's listing) for readers it knows, or for readers it never saw, folded in from a few of their
papers. The production hybrid and the baselines of ``paperboy evaluate`` are all scorers, and one contract test
(``tests/recommend/test_scorers.py``) runs against each: shapes, determinism, cold readers, empty candidates,
the save/load round trip.
"""

from __future__ import annotations

import json
import zlib
from abc import ABC, abstractmethod
from typing import ClassVar, Self

import numpy as np
import scipy.sparse as sp

from service.recommend.content import TextVectorizer
from service.recommend.hybrid import HybridModel, HybridParams, user_profiles
from service.recommend.ranking import mix64


class Scorer(ABC):
    """Scores (readers x new papers). Shapes: ``item_features`` (n_items, d) l2 TF-IDF rows, ``conf``
    (n_users, n_items) confidence (see ``als.py``), candidate ``features`` (c, d); scores are float32."""

    name: ClassVar[str]
    personal: ClassVar[bool] = True  # scores depend on the reader (the random and popularity baselines do not)

    @abstractmethod
    def fit(self, vectorizer: TextVectorizer, item_features: sp.csr_matrix, conf: sp.csr_matrix) -> Self:
        """Learn from the training papers and readers; returns self."""

    @abstractmethod
    def score(self, users: np.ndarray, features: sp.csr_matrix) -> np.ndarray:
        """(len(users), c) for training readers ``users`` (row indices of ``conf``)."""

    @abstractmethod
    def score_new_readers(
        self, rows: sp.csr_matrix, row_features: sp.csr_matrix, features: sp.csr_matrix, row_items: np.ndarray
    ) -> np.ndarray:
        """(n, c) for readers never trained on, folded in from ``rows`` (n, m): their confidence over papers with
        ``row_features`` (m, d), of which ``row_items`` (m,) gives the training row (-1: not a training paper)."""

    @abstractmethod
    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays (``np.savez`` without pickle)."""

    @classmethod
    @abstractmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Self:
        """The scorer ``to_arrays`` saved."""


def _json_array(value: object) -> np.ndarray:
    return np.array(json.dumps(value, sort_keys=True))


def _csr_arrays(prefix: str, m: sp.csr_matrix) -> dict[str, np.ndarray]:
    m = m.tocsr()
    return {f"{prefix}_data": m.data, f"{prefix}_indices": m.indices, f"{prefix}_indptr": m.indptr,
            f"{prefix}_shape": np.asarray(m.shape, np.int64)}  # fmt: skip


def _csr_from(prefix: str, a: dict[str, np.ndarray]) -> sp.csr_matrix:
    shape = tuple(int(x) for x in a[f"{prefix}_shape"])
    return sp.csr_matrix((a[f"{prefix}_data"], a[f"{prefix}_indices"], a[f"{prefix}_indptr"]), shape=shape)


class HybridScorer(Scorer):
    """The production model (``hybrid.py``): content profile, content ridge, ALS through the content map and
    collective ALS, standardised and blended with weights tuned on a validation split."""

    name = "hybrid"

    def __init__(self, params: HybridParams | None = None, model: HybridModel | None = None) -> None:
        self.params = params or HybridParams()
        self.model = model

    def fit(self, vectorizer: TextVectorizer, item_features: sp.csr_matrix, conf: sp.csr_matrix) -> Self:
        self.model = HybridModel.fit(vectorizer, item_features, conf, self.params)
        self.params = self.model.params  # as fitted to the data (see ``HybridParams.fitted_to``)
        return self

    def score(self, users: np.ndarray, features: sp.csr_matrix) -> np.ndarray:
        return self.model.score(np.asarray(users, dtype=np.int64), self.model.item_views(features))

    def score_new_readers(self, rows, row_features, features, row_items) -> np.ndarray:
        return self.model.score_rows(rows.tocsr(), row_features, self.model.item_views(features), row_items)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {**self.model.to_arrays(), "scorer_params": _json_array(self.params.to_json())}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Self:
        params = HybridParams.from_json(json.loads(str(arrays["scorer_params"])))
        return cls(params, HybridModel.from_arrays(arrays, params))


class ALSContentMapScorer(HybridScorer):
    """Baseline: implicit ALS, new papers given factors by a ridge map from their text."""

    name = "als_content_map"

    def __init__(self, params: HybridParams | None = None, model: HybridModel | None = None) -> None:
        super().__init__((params or HybridParams()).als_only(), model)


class ContentProfileScorer(Scorer):
    """Baseline: the TF-IDF of a reader's papers summed (minus "less like this"), cosine to each new paper."""

    name = "content_profile"

    def __init__(self) -> None:
        self.profiles = sp.csr_matrix((0, 0), dtype=np.float32)

    def fit(self, vectorizer: TextVectorizer, item_features: sp.csr_matrix, conf: sp.csr_matrix) -> Self:
        self.profiles = user_profiles(conf, item_features, 1.0)
        return self

    def score(self, users: np.ndarray, features: sp.csr_matrix) -> np.ndarray:
        return _dense(self.profiles[np.asarray(users, dtype=np.int64)] @ features.T, len(users), features.shape[0])

    def score_new_readers(self, rows, row_features, features, row_items) -> np.ndarray:
        profiles = user_profiles(rows.tocsr(), row_features, 1.0)
        return _dense(profiles @ features.T, rows.shape[0], features.shape[0])

    def to_arrays(self) -> dict[str, np.ndarray]:
        return _csr_arrays("profiles", self.profiles)

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Self:
        scorer = cls()
        scorer.profiles = _csr_from("profiles", arrays)
        return scorer


class PopularityScorer(Scorer):
    """Baseline: how many readers the training papers most like a new one had (the same for every reader):
    the text-weighted popularity w = F' log(1 + readers), scored as features . w."""

    name = "popularity"
    personal = False

    def __init__(self) -> None:
        self.word_weights = np.zeros(0, np.float32)

    def fit(self, vectorizer: TextVectorizer, item_features: sp.csr_matrix, conf: sp.csr_matrix) -> Self:
        readers = np.log1p(np.asarray((conf > 0).sum(axis=0)).ravel()).astype(np.float32)
        self.word_weights = np.asarray(item_features.T @ readers, dtype=np.float32).ravel()
        return self

    def _row(self, features: sp.csr_matrix) -> np.ndarray:
        if features.shape[1] != self.word_weights.shape[0]:
            return np.zeros(features.shape[0], np.float32)
        return np.asarray(features @ self.word_weights, dtype=np.float32).ravel()

    def score(self, users: np.ndarray, features: sp.csr_matrix) -> np.ndarray:
        return np.tile(self._row(features), (len(users), 1))

    def score_new_readers(self, rows, row_features, features, row_items) -> np.ndarray:
        return np.tile(self._row(features), (rows.shape[0], 1))

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"word_weights": self.word_weights}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Self:
        scorer = cls()
        scorer.word_weights = np.asarray(arrays["word_weights"], np.float32)
        return scorer


class RandomScorer(Scorer):
    """Baseline: one random order of the papers for every reader, a pure function of (seed, the paper's words),
    so it is repeatable and knows nothing of what anyone read."""

    name = "random"
    personal = False

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)

    def fit(self, vectorizer: TextVectorizer, item_features: sp.csr_matrix, conf: sp.csr_matrix) -> Self:
        return self

    def _noise(self, n: int, features: sp.csr_matrix) -> np.ndarray:
        """(n, c) uniform [0, 1), the same row n times: splitmix64 of the seed and a CRC of each paper's words."""
        f = features.tocsr()
        paper = np.array([zlib.crc32(f.indices[f.indptr[j] : f.indptr[j + 1]].tobytes()) for j in range(f.shape[0])],
                         dtype=np.uint64)  # fmt: skip
        bits = mix64(mix64(paper) ^ np.uint64(self.seed))
        return np.tile(((bits >> 40).astype(np.float64) * 2.0**-24).astype(np.float32), (n, 1))

    def score(self, users: np.ndarray, features: sp.csr_matrix) -> np.ndarray:
        return self._noise(len(users), features)

    def score_new_readers(self, rows, row_features, features, row_items) -> np.ndarray:
        return self._noise(rows.shape[0], features)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"seed": np.array(self.seed, np.int64)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Self:
        return cls(int(arrays["seed"]))


def _dense(m, n: int, c: int) -> np.ndarray:
    if c == 0 or n == 0:
        return np.zeros((n, c), np.float32)
    return (m.toarray() if sp.issparse(m) else np.asarray(m)).astype(np.float32)


SCORERS: dict[str, type[Scorer]] = {
    s.name: s for s in (RandomScorer, PopularityScorer, ContentProfileScorer, ALSContentMapScorer, HybridScorer)
}
