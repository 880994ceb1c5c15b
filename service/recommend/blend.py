"""Per-subscriber ranking of the day's candidates: the picks of one digest, each with its reason.

Order of a digest: papers by followed authors (pinned), then the learned ranking diversified with MMR, one
exploration slot, then up to three trending papers not already chosen. Hard rules first: a paper already sent to
this subscriber, one they said "less like this" about, or one matching an exclude keyword is never picked.
Scores are computed for a batch of subscribers at once (matrix products); only the final pick loop is per reader.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sqlalchemy import ColumnElement, any_, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import InstrumentedAttribute, Session

from service.models import Interaction, Paper, Subscriber
from service.recommend.content import TextVectorizer, keyword_pattern, paper_text
from service.recommend.hybrid import ItemViews, standardise
from service.recommend.store import StoredModel, latest_model
from service.recommend.trending import trending_for
from service.runtime import Runtime

SECTIONS = ("followed", "for_you", "explore", "trending")
BATCH = 2000
MMR_LAMBDA = 0.75  # relevance vs. novelty among the picks
MAX_TRENDING = 3
HISTORY_FOR_REASONS = 30  # most recent liked papers searched for "because you read"
REASON_MIN_SIM = 0.1
LESS_PENALTY = 4.0  # z-units taken off a candidate as close as possible to a paper marked "less like this"


@dataclass(frozen=True)
class Pick:
    paper_id: int
    score: float
    reason: str
    section: str


@dataclass
class Candidates:
    papers: list[Paper]
    features: sp.csr_matrix  # (c, d) l2 TF-IDF
    views: ItemViews | None  # the candidates in every view of the model
    similarity: np.ndarray  # (c, c) cosine, for MMR
    texts: list[str]
    authors: list[set[str]]
    trend: np.ndarray  # standardised trending score
    trend_raw: np.ndarray
    trend_reasons: list[str]
    vectorizer: TextVectorizer  # the model's, or (no model yet) one fit on the candidates themselves


def _norm_name(name: str) -> str:
    return " ".join(str(name).lower().replace(".", " ").split())


def _seed(subscriber_id: int, day: dt.date) -> int:
    return int.from_bytes(hashlib.sha256(f"{subscriber_id}:{day.isoformat()}".encode()).digest()[:8], "big")


def _in(session: Session, column: InstrumentedAttribute, values: Sequence[int]) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL ``= ANY(:array)``, one bound array instead of one parameter per value."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(literal(list(values), ARRAY(column.type)))
    return column.in_(values)


@dataclass(frozen=True)
class _TextSide:
    """What depends only on the candidates' text and the model: the same for every batch of one day's send."""

    model: object | None  # the model these were computed with (held, so its identity cannot be reused)
    vectorizer: TextVectorizer
    features: sp.csr_matrix
    views: ItemViews | None
    similarity: np.ndarray


_TEXT_CACHE: OrderedDict[tuple[int, tuple[str, ...]], _TextSide] = OrderedDict()
_TEXT_CACHE_LOCK = threading.Lock()
_TEXT_CACHE_SIZE = 8  # distinct candidate sets kept per model (one send has a few groups of candidates)


def _text_side(texts: list[str], stored: StoredModel | None) -> _TextSide:
    """TF-IDF, model views and the c x c similarity of the candidates, cached per (model object, exact texts).

    Read-only results: callers never modify them. A new model (training or fold-in reloads) starts a new cache.
    """
    model = stored.model if stored else None
    key = (id(model), tuple(texts))
    with _TEXT_CACHE_LOCK:
        hit = _TEXT_CACHE.get(key)
        if hit is not None and hit.model is model:
            _TEXT_CACHE.move_to_end(key)
            return hit
    vectorizer = stored.model.vectorizer if stored else TextVectorizer.fit(texts)
    features = vectorizer.transform(texts)
    if features.shape[1] and features.nnz == 0 and not stored:
        features = sp.csr_matrix((len(texts), 0), dtype=np.float32)
    views = stored.model.item_views(features) if stored else None
    similarity = (features @ features.T).toarray() if features.shape[1] else np.eye(len(texts))
    side = _TextSide(model, vectorizer, features, views, similarity.astype(np.float32))
    with _TEXT_CACHE_LOCK:
        for k in [k for k, v in _TEXT_CACHE.items() if v.model is not model]:
            del _TEXT_CACHE[k]  # entries of an older model: never hit again, and they keep it in memory
        _TEXT_CACHE[key] = side
        while len(_TEXT_CACHE) > _TEXT_CACHE_SIZE:
            _TEXT_CACHE.popitem(last=False)
    return side


def _candidates(session: Session, ids: list[int], stored: StoredModel | None) -> Candidates:
    by_id = {p.id: p for p in session.scalars(select(Paper).where(_in(session, Paper.id, ids)))} if ids else {}
    papers = [by_id[i] for i in dict.fromkeys(ids) if i in by_id]
    side = _text_side([paper_text(p.title, p.abstract) for p in papers], stored)
    trending = trending_for(session, papers)  # live counts (clicks, upvotes): recomputed on every call
    trend = standardise(trending.scores[None, :])[0] if papers else np.zeros(0, np.float32)
    return Candidates(
        papers, side.features, side.views, side.similarity,
        [f"{p.title or ''}\n{p.abstract or ''}" for p in papers],
        [{_norm_name(a) for a in (p.authors or []) if isinstance(a, str)} for p in papers],
        trend, trending.scores, trending.reasons, side.vectorizer,
    )  # fmt: skip


class _KeywordIndex:
    """Which candidates match a keyword, computed once per distinct keyword (not per subscriber)."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.cache: dict[str, np.ndarray] = {}

    def hits(self, keyword: str) -> np.ndarray:
        key = keyword.strip().lower()
        if key not in self.cache:
            pattern = keyword_pattern([key])
            self.cache[key] = np.array([bool(pattern and pattern.search(t)) for t in self.texts], dtype=bool)
        return self.cache[key]

    def any(self, keywords: list[str]) -> np.ndarray:
        out = np.zeros(len(self.texts), dtype=bool)
        for k in keywords:
            if isinstance(k, str) and k.strip():
                out |= self.hits(k)
        return out


def rank_digest(
    rt: Runtime,
    session: Session,
    subscriber_ids: list[int],
    candidate_paper_ids: list[int],
    digest_date: dt.date,
) -> dict[int, list[Pick]]:
    """The picks of each subscriber's digest for ``digest_date`` (an empty list when nothing is left to send)."""
    stored = latest_model(session)
    cands = _candidates(session, list(candidate_paper_ids), stored)
    keywords = _KeywordIndex(cands.texts)
    vectorizer = cands.vectorizer
    result: dict[int, list[Pick]] = {}
    ids = list(dict.fromkeys(int(s) for s in subscriber_ids))
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        result.update(_rank_batch(session, batch, cands, stored, vectorizer, keywords, digest_date))
    return result


def _rank_batch(
    session: Session,
    batch: list[int],
    cands: Candidates,
    stored: StoredModel | None,
    vectorizer: TextVectorizer,
    keywords: _KeywordIndex,
    day: dt.date,
) -> dict[int, list[Pick]]:
    subs = {s.id: s for s in session.scalars(select(Subscriber).where(_in(session, Subscriber.id, batch)))}
    c = len(cands.papers)
    if c == 0:
        return {sid: [] for sid in batch}
    col = {p.id: j for j, p in enumerate(cands.papers)}
    blocked = np.zeros((len(batch), c), dtype=bool)
    row = {sid: i for i, sid in enumerate(batch)}
    for sid, pid in session.execute(
        select(Interaction.subscriber_id, Interaction.paper_id).where(
            _in(session, Interaction.subscriber_id, batch),
            _in(session, Interaction.paper_id, list(col)),
            Interaction.kind.in_(("sent", "less")),
        )
    ):
        blocked[row[sid], col[pid]] = True
    history = _history_similarity(_liked_history(session, batch), cands, vectorizer)
    penalty = _less_like_this(session, batch, row, cands, vectorizer)

    # learned scores, for readers the model (or its fold-in overlay) knows
    learned = np.zeros((len(batch), c), dtype=np.float32)
    known = np.zeros(len(batch), dtype=bool)
    if stored is not None:
        pairs = [(i, stored.user_row[sid]) for i, sid in enumerate(batch) if sid in stored.user_row]
        if pairs:
            local, model_rows = (np.array(x) for x in zip(*pairs, strict=True))
            learned[local] = stored.model.score(model_rows, cands.views)
            known[local] = np.abs(learned[local]).sum(axis=1) > 0

    # stated topics and include keywords: a text query per reader, plus whole-word keyword hits
    stated_text = [" ".join(_words(subs[sid].topics) + _words(subs[sid].include_keywords)) if sid in subs else ""
                   for sid in batch]  # fmt: skip
    stated = np.zeros((len(batch), c), dtype=np.float32)
    if vectorizer.dim and any(stated_text) and cands.features.shape[1] == vectorizer.dim:
        stated = (vectorizer.transform(stated_text) @ cands.features.T).toarray().astype(np.float32)
    stated_z = standardise(stated)

    out: dict[int, list[Pick]] = {}
    for sid in batch:
        sub = subs.get(sid)
        if sub is None:
            out[sid] = []
            continue
        i = row[sid]
        include = keywords.any(_words(sub.include_keywords))
        topic_hits = {t: keywords.hits(t) for t in _words(sub.topics)}
        excluded = keywords.any(_words(sub.exclude_keywords)) | blocked[i]
        # readers with history: the learned ranking, nudged by stated topics; cold readers: topics + trending
        score = learned[i] + 0.5 * stated_z[i] + 0.2 * cands.trend if known[i] else stated_z[i] + 0.5 * cands.trend
        score = score + 1.0 * include - penalty[i]
        out[sid] = _pick(sub, score, excluded, include, topic_hits, cands, history.get(sid), day, known[i])
    return out


def _words(values) -> list[str]:
    return [str(v).strip() for v in (values or []) if isinstance(v, str) and str(v).strip()]


def _less_like_this(
    session: Session, batch: list[int], row: dict[int, int], cands: Candidates, vectorizer: TextVectorizer
) -> np.ndarray:
    """Per reader and candidate: LESS_PENALTY x the highest similarity to a paper they marked "less like this"."""
    out = np.zeros((len(batch), len(cands.papers)), dtype=np.float32)
    if not vectorizer.dim or cands.features.shape[1] != vectorizer.dim:
        return out
    rows = session.execute(
        select(Interaction.subscriber_id, Paper.title, Paper.abstract)
        .join(Paper, Paper.id == Interaction.paper_id)
        .where(_in(session, Interaction.subscriber_id, batch), Interaction.kind == "less")
    ).all()
    if not rows:
        return out
    sims = _text_similarity([paper_text(t, a) for _, t, a in rows], cands, vectorizer)
    for k, (sid, _, _) in enumerate(rows):
        np.maximum(out[row[sid]], LESS_PENALTY * sims[k], out=out[row[sid]])
    return out


def _text_similarity(texts: list[str], cands: Candidates, vectorizer: TextVectorizer) -> np.ndarray:
    """(len(texts), n_candidates) cosine; each distinct text transformed once (readers share many papers).

    Rows are independent (per-row tf-idf, l2 norm and dot products), so this equals transforming every text.
    """
    slot: dict[str, int] = {}
    rows = [slot.setdefault(t, len(slot)) for t in texts]
    return (vectorizer.transform(list(slot)) @ cands.features.T).toarray()[rows]


@dataclass
class History:
    """A reader's recent liked papers and their similarity to each candidate (for "because you read …")."""

    titles: list[str]
    sims: np.ndarray  # (len(titles), n_candidates)


def _history_similarity(
    liked: dict[int, list[tuple[str, str]]], cands: Candidates, vectorizer: TextVectorizer
) -> dict[int, History]:
    """One transform and one product for the whole batch, then a slice per reader."""
    if not liked or not vectorizer.dim or cands.features.shape[1] != vectorizer.dim:
        return {}
    order = [(sid, title, text) for sid, items in liked.items() for title, text in items]
    sims = _text_similarity([text for _, _, text in order], cands, vectorizer)
    out: dict[int, History] = {}
    start = 0
    for sid, items in liked.items():
        out[sid] = History([t for t, _ in items], sims[start : start + len(items)])
        start += len(items)
    return out


def _liked_history(session: Session, batch: list[int]) -> dict[int, list[tuple[str, str]]]:
    """The most recent liked papers (title, text) per reader, for "because you read …"."""
    rows = session.execute(
        select(Interaction.subscriber_id, Paper.title, Paper.abstract)
        .join(Paper, Paper.id == Interaction.paper_id)
        .where(
            _in(session, Interaction.subscriber_id, batch),
            Interaction.kind.in_(("click", "more")),
            Interaction.suspected_scanner.is_(False),
        )
        .order_by(Interaction.created_at.desc(), Interaction.id.desc())
    ).all()
    out: dict[int, list[tuple[str, str]]] = defaultdict(list)
    seen: dict[int, set[str]] = defaultdict(set)
    for sid, title, abstract in rows:
        if len(out[sid]) < HISTORY_FOR_REASONS and title not in seen[sid]:
            seen[sid].add(title)
            out[sid].append((title, paper_text(title, abstract)))
    return out


def _pick(
    sub: Subscriber,
    score: np.ndarray,
    excluded: np.ndarray,
    include: np.ndarray,
    topic_hits: dict[str, np.ndarray],
    cands: Candidates,
    history: History | None,
    day: dt.date,
    known: bool,
) -> list[Pick]:
    n = max(1, int(sub.papers_per_email or 10))
    allowed = ~excluded
    chosen: list[Pick] = []
    taken = np.zeros(len(score), dtype=bool)

    # 1. followed authors, pinned (best first)
    followed = {_norm_name(a): str(a).strip() for a in _words(sub.followed_authors)}
    if followed:
        for j in np.argsort(-score):
            if len(chosen) >= n:
                break
            hit = next((followed[a] for a in cands.authors[j] if a in followed), None)
            if hit and allowed[j]:
                chosen.append(Pick(cands.papers[j].id, float(score[j]), f"new from {hit}, whom you follow", "followed"))
                taken[j] = True

    # 2. the learned ranking, diversified (MMR), leaving one slot for exploration when the digest has room
    explore_slot = 1 if n >= 3 else 0
    pool = np.flatnonzero(allowed & ~taken)
    pool = pool[np.argsort(-score[pool], kind="stable")][: max(4 * n, 30)]
    picked = bool(taken.any())
    # highest similarity of every candidate to anything picked so far, kept up to date one column per pick
    closest = cands.similarity[:, taken].max(axis=1) if picked else None
    rel = score[pool]
    rel_n = (rel - rel.min()) / (rel.max() - rel.min()) if len(rel) and rel.max() > rel.min() else np.ones(len(rel))
    remaining = list(range(len(pool)))
    while remaining and len(chosen) < n - explore_slot:
        redundancy = closest[pool[remaining]] if closest is not None else np.zeros(len(remaining))
        mmr = MMR_LAMBDA * rel_n[remaining] - (1 - MMR_LAMBDA) * redundancy
        k = remaining.pop(int(np.argmax(mmr)))
        j = int(pool[k])
        reason = _reason(j, include, topic_hits, cands, history, known, sub)
        chosen.append(Pick(cands.papers[j].id, float(score[j]), reason, "for_you"))
        taken[j] = True
        closest = cands.similarity[:, j].copy() if closest is None else np.maximum(closest, cands.similarity[:, j])

    # 3. one exploration pick: well-liked by everyone, unlike what was picked, varied by day
    if explore_slot and len(chosen) < n:
        rest = np.flatnonzero(allowed & ~taken)
        if len(rest):
            rng = np.random.default_rng(_seed(sub.id, day))
            novelty = 1 - (closest[rest] if closest is not None else 0)
            value = novelty + 0.5 * cands.trend[rest] + rng.gumbel(size=len(rest)) * 0.5
            j = int(rest[int(np.argmax(value))])
            chosen.append(Pick(cands.papers[j].id, float(score[j]), "something different: outside your usual reading",
                               "explore"))  # fmt: skip
            taken[j] = True

    # 4. trending, not already chosen
    rest = np.flatnonzero(allowed & ~taken & (cands.trend_raw > 0))
    for j in rest[np.argsort(-cands.trend_raw[rest], kind="stable")][:MAX_TRENDING]:
        chosen.append(Pick(cands.papers[j].id, float(cands.trend_raw[j]), cands.trend_reasons[j], "trending"))
    return chosen


def _reason(
    j: int,
    include: np.ndarray,
    topic_hits: dict[str, np.ndarray],
    cands: Candidates,
    history: History | None,
    known: bool,
    sub: Subscriber,
) -> str:
    """The most concrete true explanation: a paper they read, a topic they stated, or the crowd."""
    if history is not None and history.titles:
        best = int(np.argmax(history.sims[:, j]))
        if history.sims[best, j] >= REASON_MIN_SIM:
            return f"because you read “{history.titles[best]}”"
    for topic, hits in topic_hits.items():
        if hits[j]:
            return f"matches your topic “{topic}”"
    if include[j]:
        kw = next((k for k in _words(sub.include_keywords) if _KeywordIndex(cands.texts[j : j + 1]).hits(k)[0]), None)
        if kw:
            return f"matches your keyword “{kw}”"
    if known:
        return "popular with readers who share your taste"
    if _words(sub.topics):
        return f"close to your topics: {', '.join(_words(sub.topics)[:3])}"
    return cands.trend_reasons[j]
