"""What the ranker works on, as plain values: the named weights, a reader's stated preferences, the candidates and
a batch of readers (``loader.py`` fills them from the database; ``ranking.py`` and ``reasons.py`` read them), and
the pick it returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SECTIONS = ("followed", "for_you", "explore", "trending")


@dataclass(frozen=True)
class RankWeights:
    """The named parameters of the ranking (units: standard deviations of each part across the candidates).

    The learned part has unit spread per reader and weight ``learned`` x n / (n + ``learned_half``) for a reader
    with n liked papers (shrinkage towards the stated prior, as in empirical-Bayes blending); stated topics are
    z-scored over the candidates and capped at ``stated_cap`` so one lexical match cannot swamp the rest.
    """

    learned: float = 1.5
    learned_half: float = 3.0
    stated: float = 1.0
    stated_cap: float = 3.0
    include: float = 1.0
    trending: float = 0.25  # a tie-breaker for every reader; the ranking of readers with no other signal
    less_penalty: float = 4.0  # taken off a candidate as close as possible to a paper marked "less like this"
    mmr_lambda: float = 0.75  # relevance vs. novelty among the picks
    pool_factor: int = 4  # MMR looks at the best pool_factor x n (at least pool_min) candidates
    pool_min: int = 30
    max_trending: int = 3
    trending_every: int = 4  # one trending slot per this many papers in the email, at most max_trending
    explore_from: int = 3  # emails of at least this many papers have an exploration slot
    explore_trend: float = 0.5
    explore_noise: float = 0.5
    because_min: float = 0.25  # a liked paper must add this much to a pick's score to be "because you read"
    because_share: float = 0.25  # ... and this share of the pick's learned part
    topic_match: float = 0.1  # cosine of a stated topic and a paper in the text space for it to "match"


@dataclass(frozen=True)
class Pick:
    paper_id: int
    score: float
    reason: str
    section: str


def norm_name(name: str) -> str:
    return " ".join(str(name).lower().replace(".", " ").split())


def _words(values: object) -> list[str]:
    return [str(v).strip() for v in (values or []) if isinstance(v, str) and str(v).strip()]


@dataclass(frozen=True)
class Prefs:
    """A subscriber's stated preferences, cleaned once and hashable (readers who state the same share work)."""

    n: int  # papers per email, everything included
    topics: tuple[str, ...]
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    followed: tuple[tuple[str, str], ...]  # (normalised name, name as stated)

    @classmethod
    def of(
        cls, topics: object, include_keywords: object, exclude_keywords: object, followed_authors: object,
        papers_per_email: int | None,
    ) -> Prefs:  # fmt: skip
        """From the subscriber's columns (decoded JSON: lists, possibly None or holding non-strings)."""
        followed = {norm_name(a): str(a).strip() for a in _words(followed_authors)}
        return cls(
            max(1, int(papers_per_email or 10)), tuple(_words(topics)), tuple(_words(include_keywords)),
            tuple(_words(exclude_keywords)), tuple(followed.items()),
        )  # fmt: skip


@dataclass
class Candidates:
    """The day's candidates as arrays: c papers."""

    ids: np.ndarray  # (c,) paper ids
    similarity_t: np.ndarray  # (c, c) text cosine, row j = candidate j's similarities (MMR redundancy)
    authors: list[set[str]]  # normalised author names per candidate
    by_author: dict[str, list[int]]  # normalised author name -> candidates
    trend: np.ndarray  # (c,) standardised trending score
    trend_raw: np.ndarray  # (c,) trending score, >= 0
    trend_order: list[int]  # candidates with a positive trending score, highest first (stable)
    trend_reasons: list[str]  # "trending: 42 upvotes", "new today"
    engaged: np.ndarray  # (c,) readers who clicked or asked for more of the paper

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(eq=False)
class Reader:
    """One subscriber as the pick loop sees them."""

    id: int
    prefs: Prefs
    evidence: int = 0  # distinct papers they liked (clicks, "more", papers picked on the welcome page)
    liked_titles: tuple[str, ...] = ()
    because: np.ndarray | None = None  # (len(liked_titles), c): each liked paper's part of the learned score
    topic_match: tuple[np.ndarray, ...] = ()  # per stated topic, its match with each candidate (c,)
    keyword_hits: tuple[np.ndarray, ...] = ()  # per include keyword, which candidates mention it (c,) bool


@dataclass
class Batch:
    """What ``score_batch`` needs for R readers and c candidates."""

    readers: list[Reader]
    learned: np.ndarray  # (R, c) the model's score (a blend of z-scores); zeros where it knows nothing
    allowed: np.ndarray  # (R, c) bool: not sent, not excluded, not reacted to
    penalty: np.ndarray  # (R, c) highest similarity to a paper marked "less like this", 0..1
    parts: dict[str, np.ndarray] = field(default_factory=dict)  # filled by score_batch
    learned_scale: np.ndarray | None = None  # (R,) learned units -> score units (filled by score_batch)
