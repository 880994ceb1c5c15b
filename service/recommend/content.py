"""Text features of papers: sublinear TF-IDF over title + abstract, l2-normalised, saved as plain arrays.

A vectorizer is stored as its vocabulary and idf weights (no pickle), so a model trained last night can turn
today's brand-new papers into the same feature space.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

WORD_REGEX = r"(?u)\b[^\W\d_][\w-]+\b"
# links in abstracts ("code: https://github.com/…") would make unrelated papers look alike
_WEB_WORDS = {"http", "https", "www", "com", "org", "io", "html", "github", "huggingface", "code", "available"}
_STOP = sorted(ENGLISH_STOP_WORDS | _WEB_WORDS)


def paper_text(title: str | None, abstract: str | None) -> str:
    """The text a paper is represented by: its title counts twice (it is the densest summary we have)."""
    title = (title or "").strip()
    return f"{title} {title} {(abstract or '').strip()}".strip()


def l2_normalise_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms) @ matrix, dtype=np.float32)


@dataclass
class TextVectorizer:
    """Sublinear-tf TF-IDF with a fixed vocabulary: fit once, transform any later text the same way."""

    vocabulary: np.ndarray  # str, shape (d,)
    idf: np.ndarray  # float32, shape (d,)
    _counter: CountVectorizer | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def fit(
        cls, texts: Sequence[str], min_df: int = 2, max_df: float = 0.5, max_features: int = 50_000
    ) -> TextVectorizer:
        """Learn the vocabulary and idf; tiny corpora (the demo) keep every word seen once."""
        n = len(texts)
        if n == 0:
            return cls(np.array([], dtype=str), np.zeros(0, dtype=np.float32))
        use_min_df = min_df if n >= 50 else 1
        use_max_df = max_df if n >= 50 else 1.0
        counter = CountVectorizer(
            token_pattern=WORD_REGEX,
            stop_words=_STOP,
            lowercase=True,
            min_df=use_min_df,
            max_df=use_max_df,
            max_features=max_features,
            dtype=np.float32,
        )
        try:
            counts = counter.fit_transform(texts)
        except ValueError:  # every text empty or only stop words
            return cls(np.array([], dtype=str), np.zeros(0, dtype=np.float32))
        vocab = counter.get_feature_names_out()
        df = np.bincount(counts.indices, minlength=len(vocab)).astype(np.float64)
        idf = (np.log((1 + n) / (1 + df)) + 1.0).astype(np.float32)
        return cls(np.asarray(vocab, dtype=str), idf)

    @property
    def dim(self) -> int:
        return int(self.vocabulary.shape[0])

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Rows are l2-normalised tf-idf vectors; a text with no known word is a zero row."""
        if self.dim == 0:
            return sp.csr_matrix((len(texts), 0), dtype=np.float32)
        if self._counter is None:  # built once: the vocabulary dict is the costly part
            self._counter = CountVectorizer(
                token_pattern=WORD_REGEX,
                lowercase=True,
                vocabulary={w: i for i, w in enumerate(self.vocabulary.tolist())},
                dtype=np.float32,
            )
        counts = self._counter.transform(texts).tocsr().astype(np.float32)
        counts.data = 1.0 + np.log(counts.data)
        return l2_normalise_rows(counts @ sp.diags(self.idf))

    def to_arrays(self, prefix: str = "vec_") -> dict[str, np.ndarray]:
        return {f"{prefix}vocabulary": self.vocabulary.astype(str), f"{prefix}idf": self.idf.astype(np.float32)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str = "vec_") -> TextVectorizer:
        return cls(np.asarray(arrays[f"{prefix}vocabulary"], dtype=str), np.asarray(arrays[f"{prefix}idf"], np.float32))


def keyword_pattern(keywords: Iterable[str]) -> re.Pattern[str] | None:
    """One case-insensitive whole-word pattern for a list of stated keywords (None when the list is empty)."""
    words = [k.strip() for k in keywords if isinstance(k, str) and k.strip()]
    if not words:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in words) + r")(?!\w)", re.IGNORECASE)
