"""Per-subscriber ranking of the day's candidates: the picks of one digest, each with its reason.

Order of a digest: papers by followed authors (pinned), then the learned ranking diversified with MMR, one
exploration slot, then up to three trending papers not already chosen. Hard rules first: a paper already sent to
this subscriber, one they said "less like this" about, or one matching an exclude keyword is never picked.
Scores are computed for a batch of subscribers at once (matrix products), and so is the MMR loop (one step for
every reader of the batch at a time). Readers whose inputs are identical (no history, same preferences, same
scores and blocks: typically new readers) share that work; only the exploration draw is per reader and day (a
hash of reader, day and paper, drawn for the whole batch at once).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session

from service.db import id_in
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
EXPLORE_REASON = "something different: outside your usual reading"


@dataclass(frozen=True)
class Pick:
    paper_id: int
    score: float
    reason: str
    section: str


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

    def any(self, keywords: Sequence[str]) -> np.ndarray:
        out = np.zeros(len(self.texts), dtype=bool)
        for k in keywords:
            if isinstance(k, str) and k.strip():
                out |= self.hits(k)
        return out


@dataclass
class Candidates:
    papers: list[Paper]
    ids: np.ndarray  # their ids
    features: sp.csr_matrix  # (c, d) l2 TF-IDF
    views: ItemViews | None  # the candidates in every view of the model
    similarity: np.ndarray  # (c, c) cosine, for MMR
    similarity_t: np.ndarray  # its transpose, C-contiguous: row j is column j (one candidate's similarities)
    keywords: _KeywordIndex  # keyword hits on "title\nabstract"
    text_sims: dict[str, np.ndarray]  # memo of _text_similarity
    authors: list[set[str]]
    by_author: dict[str, list[int]]  # normalised author name -> candidates
    trend: np.ndarray  # standardised trending score
    trend_raw: np.ndarray
    trend_order: list[int]  # candidates with a positive trending score, highest first (stable)
    trend_reasons: list[str]
    vectorizer: TextVectorizer  # the model's, or (no model yet) one fit on the candidates themselves


def _norm_name(name: str) -> str:
    return " ".join(str(name).lower().replace(".", " ").split())


def _seed(subscriber_id: int, day: dt.date) -> int:
    return int.from_bytes(hashlib.sha256(f"{subscriber_id}:{day.isoformat()}".encode()).digest()[:8], "big")


@dataclass(frozen=True)
class _TextSide:
    """What depends only on the candidates' text and the model: the same for every batch of one day's send."""

    model: object | None  # the model these were computed with (held, so its identity cannot be reused)
    vectorizer: TextVectorizer
    features: sp.csr_matrix
    views: ItemViews | None
    similarity: np.ndarray
    similarity_t: np.ndarray
    keywords: _KeywordIndex  # filled as readers' keywords are met: each keyword is matched once per send
    text_sims: dict[str, np.ndarray]  # filled as readers' papers are met: a text's cosine to each candidate


_TEXT_CACHE: OrderedDict[tuple[int, tuple[tuple[str | None, str | None], ...]], _TextSide] = OrderedDict()
_TEXT_CACHE_LOCK = threading.Lock()
_TEXT_CACHE_SIZE = 8  # distinct candidate sets kept per model (one send has a few groups of candidates)
_TEXT_SIMS_MAX = 1 << 21  # cosine values kept per candidate set (8 MB)


def _text_side(papers: list[Paper], stored: StoredModel | None) -> _TextSide:
    """TF-IDF, model views, the c x c similarity and keyword hits of the candidates, cached per (model object,
    exact titles and abstracts).

    Read-only results (the keyword index only memoises): callers never modify them. A new model (training or
    fold-in reloads) starts a new cache.
    """
    model = stored.model if stored else None
    key = (id(model), tuple((p.title, p.abstract) for p in papers))
    with _TEXT_CACHE_LOCK:
        hit = _TEXT_CACHE.get(key)
        if hit is not None and hit.model is model:
            _TEXT_CACHE.move_to_end(key)
            return hit
    texts = [paper_text(p.title, p.abstract) for p in papers]
    vectorizer = stored.model.vectorizer if stored else TextVectorizer.fit(texts)
    features = vectorizer.transform(texts)
    if features.shape[1] and features.nnz == 0 and not stored:
        features = sp.csr_matrix((len(texts), 0), dtype=np.float32)
    views = stored.model.item_views(features) if stored else None
    similarity = (features @ features.T).toarray() if features.shape[1] else np.eye(len(texts))
    similarity = similarity.astype(np.float32)
    keywords = _KeywordIndex([f"{p.title or ''}\n{p.abstract or ''}" for p in papers])
    similarity_t = np.ascontiguousarray(similarity.T)
    side = _TextSide(model, vectorizer, features, views, similarity, similarity_t, keywords, {})
    with _TEXT_CACHE_LOCK:
        for k in [k for k, v in _TEXT_CACHE.items() if v.model is not model]:
            del _TEXT_CACHE[k]  # entries of an older model: never hit again, and they keep it in memory
        _TEXT_CACHE[key] = side
        while len(_TEXT_CACHE) > _TEXT_CACHE_SIZE:
            _TEXT_CACHE.popitem(last=False)
    return side


def _candidates(session: Session, ids: list[int], stored: StoredModel | None) -> Candidates:
    by_id = {p.id: p for p in session.scalars(select(Paper).where(id_in(session, Paper.id, ids)))} if ids else {}
    papers = [by_id[i] for i in dict.fromkeys(ids) if i in by_id]
    side = _text_side(papers, stored)
    trending = trending_for(session, papers)  # live counts (clicks, upvotes): recomputed on every call
    trend = standardise(trending.scores[None, :])[0] if papers else np.zeros(0, np.float32)
    authors = [{_norm_name(a) for a in (p.authors or []) if isinstance(a, str)} for p in papers]
    by_author: dict[str, list[int]] = defaultdict(list)
    for j, names in enumerate(authors):
        for name in names:
            by_author[name].append(j)
    positive = np.flatnonzero(trending.scores > 0)
    return Candidates(
        papers, np.array([p.id for p in papers], dtype=np.int64), side.features, side.views, side.similarity,
        side.similarity_t, side.keywords, side.text_sims, authors, dict(by_author), trend, trending.scores,
        positive[np.argsort(-trending.scores[positive], kind="stable")].tolist(), trending.reasons, side.vectorizer,
    )  # fmt: skip


def _words(values: object) -> list[str]:
    return [str(v).strip() for v in (values or []) if isinstance(v, str) and str(v).strip()]


@dataclass(frozen=True)
class Prefs:
    """A subscriber's stated preferences, cleaned once and hashable (readers who state the same share work)."""

    n: int  # papers per email
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
        followed = {_norm_name(a): str(a).strip() for a in _words(followed_authors)}
        return cls(
            max(1, int(papers_per_email or 10)), tuple(_words(topics)), tuple(_words(include_keywords)),
            tuple(_words(exclude_keywords)), tuple(followed.items()),
        )  # fmt: skip


_JSON_PREFS = (Subscriber.topics, Subscriber.include_keywords, Subscriber.exclude_keywords, Subscriber.followed_authors)


@dataclass
class History:
    """A reader's recent liked papers and their similarity to each candidate (for "because you read …")."""

    titles: list[str]
    sims: np.ndarray  # (len(titles), n_candidates)


@dataclass(frozen=True)
class Reader:
    """One subscriber as the pick loop sees them."""

    id: int
    prefs: Prefs
    history: History | None
    known: bool  # the model (or its fold-in overlay) scores them


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
    result: dict[int, list[Pick]] = {}
    ids = list(dict.fromkeys(int(s) for s in subscriber_ids))
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        result.update(_rank_batch(session, batch, cands, stored, digest_date))
    return result


def _rank_batch(
    session: Session, batch: list[int], cands: Candidates, stored: StoredModel | None, day: dt.date
) -> dict[int, list[Pick]]:
    subs = _prefs(session, batch)
    c = len(cands.papers)
    if c == 0:
        return {sid: [] for sid in batch}
    row = {sid: i for i, sid in enumerate(batch)}
    blocked = _blocked(session, batch, row, cands)
    history = _history_similarity(_liked_history(session, batch), cands, cands.vectorizer)
    penalty = _less_like_this(session, batch, row, cands, cands.vectorizer)
    learned, known = _learned(batch, cands, stored)
    stated_z = standardise(_stated(batch, subs, cands))

    present = [sid for sid in batch if sid in subs]
    if not present:
        return {sid: [] for sid in batch}
    rows = np.array([row[sid] for sid in present], dtype=np.intp)
    readers = [Reader(sid, subs[sid], history.get(sid), bool(known[row[sid]])) for sid in present]
    include = _keyword_rows(cands.keywords, [r.prefs.include for r in readers])
    excluded = _keyword_rows(cands.keywords, [r.prefs.exclude for r in readers]) | blocked[rows]
    # readers with history: the learned ranking, nudged by stated topics; cold readers: topics + trending
    warm = learned[rows] + 0.5 * stated_z[rows] + 0.2 * cands.trend
    cold = stated_z[rows] + 0.5 * cands.trend
    score = np.where(known[rows][:, None], warm, cold) + 1.0 * include - penalty[rows]
    picks = dict(zip(present, pick_batch(readers, score, ~excluded, cands, day), strict=True))
    return {sid: picks.get(sid, []) for sid in batch}


def _prefs(session: Session, batch: list[int]) -> dict[int, Prefs]:
    """The preferences of the batch's subscribers that exist, by id.

    The JSON columns are read as text and each distinct row of them parsed once: most readers state nothing, and
    decoding four JSON values per reader cost more than ranking a new reader.
    """
    columns = [cast(c, Text) for c in _JSON_PREFS] + [Subscriber.papers_per_email]
    rows = session.execute(select(Subscriber.id, *columns).where(id_in(session, Subscriber.id, batch)))
    parsed: dict[tuple, Prefs] = {}
    out: dict[int, Prefs] = {}
    for sid, *raw in rows:
        key = tuple(raw)
        if key not in parsed:
            parsed[key] = Prefs.of(*(None if v is None else json.loads(v) for v in raw[:-1]), raw[-1])
        out[sid] = parsed[key]
    return out


def _keyword_rows(keywords: _KeywordIndex, lists: list[tuple[str, ...]]) -> np.ndarray:
    """(len(lists), c): candidates matching any keyword of each list; one mask per distinct list."""
    masks: dict[tuple[str, ...], np.ndarray] = {}
    for words in lists:
        if words not in masks:
            masks[words] = keywords.any(words)
    return np.array([masks[words] for words in lists], dtype=bool)


def _blocked(session: Session, batch: list[int], row: dict[int, int], cands: Candidates) -> np.ndarray:
    """Per reader and candidate: already sent, or marked "less like this"."""
    col = {p.id: j for j, p in enumerate(cands.papers)}
    blocked = np.zeros((len(batch), len(cands.papers)), dtype=bool)
    for sid, pid in session.execute(
        select(Interaction.subscriber_id, Interaction.paper_id).where(
            id_in(session, Interaction.subscriber_id, batch),
            id_in(session, Interaction.paper_id, list(col)),
            Interaction.kind.in_(("sent", "less")),
        )
    ):
        blocked[row[sid], col[pid]] = True
    return blocked


def _learned(batch: list[int], cands: Candidates, stored: StoredModel | None) -> tuple[np.ndarray, np.ndarray]:
    """Learned scores for readers the model (or its fold-in overlay) knows, and which readers those are."""
    learned = np.zeros((len(batch), len(cands.papers)), dtype=np.float32)
    known = np.zeros(len(batch), dtype=bool)
    if stored is not None:
        pairs = [(i, stored.user_row[sid]) for i, sid in enumerate(batch) if sid in stored.user_row]
        if pairs:
            local, model_rows = (np.array(x) for x in zip(*pairs, strict=True))
            learned[local] = stored.model.score(model_rows, cands.views)
            known[local] = np.abs(learned[local]).sum(axis=1) > 0
    return learned, known


def _stated(batch: list[int], subs: dict[int, Prefs], cands: Candidates) -> np.ndarray:
    """Stated topics and include keywords as a text query per reader, cosine to each candidate."""
    vectorizer = cands.vectorizer
    text = [" ".join(subs[sid].topics + subs[sid].include) if sid in subs else "" for sid in batch]
    stated = np.zeros((len(batch), len(cands.papers)), dtype=np.float32)
    if vectorizer.dim and any(text) and cands.features.shape[1] == vectorizer.dim:
        stated = _text_similarity(text, cands, vectorizer).astype(np.float32)
    return stated


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
        .where(id_in(session, Interaction.subscriber_id, batch), Interaction.kind == "less")
    ).all()
    if not rows:
        return out
    sims = _text_similarity([paper_text(t, a) for _, t, a in rows], cands, vectorizer)
    for k, (sid, _, _) in enumerate(rows):
        np.maximum(out[row[sid]], LESS_PENALTY * sims[k], out=out[row[sid]])
    return out


def _text_similarity(texts: list[str], cands: Candidates, vectorizer: TextVectorizer) -> np.ndarray:
    """(len(texts), n_candidates) cosine; each distinct text transformed once per candidate set and model, as the
    readers of a send share many liked and disliked papers (kept up to _TEXT_SIMS_MAX values).

    Rows are independent (per-row tf-idf, l2 norm and dot products), so this equals transforming every text.
    """
    memo = cands.text_sims
    slot: dict[str, int] = {}
    rows = [slot.setdefault(t, len(slot)) for t in texts]
    missing = [t for t in slot if t not in memo]
    fresh: dict[str, np.ndarray] = {}
    if missing:
        fresh = dict(zip(missing, (vectorizer.transform(missing) @ cands.features.T).toarray(), strict=True))
        if (len(memo) + len(fresh)) * len(cands.papers) <= _TEXT_SIMS_MAX:
            memo.update(fresh)
    return np.stack([fresh[t] if t in fresh else memo[t] for t in slot])[rows]


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
            id_in(session, Interaction.subscriber_id, batch),
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


class _Reasons:
    """The most concrete true explanation of a pick: a paper they read, a topic they stated, or the crowd.

    All but "because you read" depends on (topics, include keywords, known) only: memoised per such triple.
    """

    def __init__(self, cands: Candidates) -> None:
        self.cands = cands
        self.memo: dict[tuple[tuple[str, ...], tuple[str, ...], bool], dict[int, str]] = {}

    def of(self, reader: Reader, js: list[int]) -> list[str]:
        """The reasons of this reader's picks ``js``."""
        memo = self.memo.setdefault((reader.prefs.topics, reader.prefs.include, reader.known), {})
        for j in js:
            if j not in memo:
                memo[j] = self._stated(reader, j)
        history = reader.history
        if history is None or not history.titles or not js:
            return [memo[j] for j in js]
        sims = history.sims[:, js]  # the liked papers x the picks: the closest liked paper of each pick
        best = sims.argmax(axis=0).tolist()
        close = (sims.max(axis=0) >= REASON_MIN_SIM).tolist()
        return [
            f"because you read “{history.titles[b]}”" if near else memo[j]
            for j, b, near in zip(js, best, close, strict=True)
        ]

    def _stated(self, reader: Reader, j: int) -> str:
        keywords = self.cands.keywords
        for topic in reader.prefs.topics:
            if keywords.hits(topic)[j]:
                return f"matches your topic “{topic}”"
        for kw in reader.prefs.include:
            if keywords.hits(kw)[j]:
                return f"matches your keyword “{kw}”"
        if reader.known:
            return "popular with readers who share your taste"
        if reader.prefs.topics:
            return f"close to your topics: {', '.join(reader.prefs.topics[:3])}"
        return self.cands.trend_reasons[j]


@dataclass
class _Head:
    """What is decided before the exploration draw (the same for readers with identical inputs)."""

    picks: list[Pick]  # followed, then for_you
    free: np.ndarray  # (c,) still allowed after them
    base: np.ndarray  # (c,) novelty + 0.5 x trend (float32): the exploration value before the noise
    trending: list[int]  # the first MAX_TRENDING + 1 free candidates in trending order
    explore: bool  # whether an exploration pick is made
    score: np.ndarray  # (c,) the reader's scores


def pick_batch(
    readers: list[Reader], score: np.ndarray, allowed: np.ndarray, cands: Candidates, day: dt.date
) -> list[list[Pick]]:
    """The picks of each reader, given their scores and allowed candidates (both (len(readers), c)).

    Readers without history whose preferences, scores and allowed candidates are identical form one group: its
    head (followed, for_you) is computed once, the exploration draws of its readers in one array operation.
    """
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(readers):
        key = (i,) if r.history is not None else (r.prefs, r.known, score[i].tobytes(), allowed[i].tobytes())
        groups.setdefault(key, []).append(i)
    members = list(groups.values())
    firsts = [m[0] for m in members]
    heads = _heads([readers[i] for i in firsts], score[firsts], allowed[firsts], cands)
    noise = explore_noise([r.id for r in readers], day, cands.ids)
    out: list[list[Pick]] = [[] for _ in readers]
    trending: dict[int, Pick] = {}
    for head, group in zip(heads, members, strict=True):
        explored = _explore(head, noise[group]) if head.explore else [-1] * len(group)
        tails: dict[int, list[Pick]] = {}  # by exploration pick: readers of a group share most of them
        for i, j in zip(group, explored, strict=True):
            if j not in tails:
                tails[j] = _tail(head, j, cands, trending)
            out[i] = head.picks + tails[j]
    return out


def _heads(readers: list[Reader], score: np.ndarray, allowed: np.ndarray, cands: Candidates) -> list[_Head]:
    """Followed authors, then MMR over each reader's pool, for all readers at once."""
    ids = cands.ids.tolist()
    n = np.array([r.prefs.n for r in readers])
    taken = np.zeros_like(allowed)
    closest = np.zeros(score.shape, dtype=np.float32)  # similarities are >= 0: zero stands for "nothing picked"
    picks: list[list[Pick]] = []
    for i, r in enumerate(readers):
        followed = _followed(r, score[i], allowed[i], cands) if r.prefs.followed else []
        picks.append([Pick(ids[j], float(score[i, j]), f"new from {name}, whom you follow", "followed")
                      for j, name in followed])  # fmt: skip
        if followed:
            js = [j for j, _ in followed]
            taken[i, js] = True
            closest[i] = cands.similarity_t[js].max(axis=0)
    explore = n >= 3  # one slot left for exploration when the digest has room
    quota = np.maximum(0, n - explore - np.array([len(p) for p in picks]))
    pool, valid, rel_n = _pools(score, allowed & ~taken, np.maximum(4 * n, 30))
    chosen = _mmr(pool, valid, rel_n, np.minimum(valid.sum(axis=1), quota), closest, cands.similarity_t)
    rows, steps = np.nonzero(chosen >= 0)
    taken[rows, chosen[rows, steps]] = True
    free = allowed & ~taken
    explore &= (np.array([len(p) for p in picks]) + (chosen >= 0).sum(axis=1) < n) & free.any(axis=1)
    base = (1 - closest) + 0.5 * cands.trend
    trending = _trending(cands, free)
    book = _Reasons(cands)
    heads: list[_Head] = []
    for i, (r, row) in enumerate(zip(readers, chosen.tolist(), strict=True)):
        js = [j for j in row if j >= 0]
        picks[i] += [
            Pick(ids[j], value, reason, "for_you")
            for j, value, reason in zip(js, score[i, js].tolist(), book.of(r, js), strict=True)
        ]
        heads.append(_Head(picks[i], free[i], base[i], trending[i], bool(explore[i]), score[i]))
    return heads


def _followed(reader: Reader, score: np.ndarray, allowed: np.ndarray, cands: Candidates) -> list[tuple[int, str]]:
    """Allowed papers by followed authors, best first (pinned), as (candidate, name as the reader wrote it)."""
    followed = dict(reader.prefs.followed)
    hits = {j for a in followed for j in cands.by_author.get(a, ()) if allowed[j]}
    if not hits:
        return []
    value = dict(zip(hits, score[list(hits)].tolist(), strict=True))
    if len(set(value.values())) == len(value) and all(v == v for v in value.values()):  # distinct, no NaN
        order = sorted(hits, key=lambda j: -value[j])[: reader.prefs.n]
    else:  # ties: as the full (unstable) argsort orders them
        order = [j for j in np.argsort(-score).tolist() if j in hits][: reader.prefs.n]
    return [(j, next(followed[a] for a in cands.authors[j] if a in followed)) for j in order]


def _pools(score: np.ndarray, free: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each reader's MMR pool: their ``size`` best free candidates (stable order), left-aligned in (R, P).

    Returns the pool, which of its entries are real (the rest is padding), and relevance scaled to [0, 1] within
    the pool (all ones when it has no spread).
    """
    order = np.argsort(-score, axis=1, kind="stable")
    ranked_free = np.take_along_axis(free, order, axis=1)
    keep = ranked_free & (np.cumsum(ranked_free, axis=1) <= size[:, None])
    width = keep.sum(axis=1)
    widest = int(width.max(initial=0))
    pool = np.take_along_axis(order, np.argsort(~keep, axis=1, kind="stable")[:, :widest], axis=1)
    valid = np.arange(widest) < width[:, None]
    if not widest:
        return pool, valid, np.ones(pool.shape)
    rel = np.take_along_axis(score, pool, axis=1)
    lo = np.where(valid, rel, np.inf).min(axis=1)
    hi = np.where(valid, rel, -np.inf).max(axis=1)
    spread = hi > lo
    scaled = (rel - lo[:, None]) / np.where(spread, hi - lo, 1.0)[:, None]
    return pool, valid, np.where(spread[:, None], scaled, 1.0)


def _mmr(
    pool: np.ndarray, valid: np.ndarray, rel_n: np.ndarray, count: np.ndarray, closest: np.ndarray, sim_t: np.ndarray
) -> np.ndarray:
    """``count`` MMR picks per reader, one step for all readers at a time; (R, max count), -1 padded.

    ``closest`` (R, c): each candidate's highest similarity to a reader's picks so far, updated in place.
    """
    steps = int(count.max(initial=0))
    out = np.full((len(pool), steps), -1)
    open_ = valid.copy()
    for t in range(steps):
        act = np.flatnonzero(count > t)
        red = np.take_along_axis(closest[act], pool[act], axis=1)
        mmr = MMR_LAMBDA * rel_n[act] - (1 - MMR_LAMBDA) * red
        mmr[~open_[act]] = -np.inf
        k = mmr.argmax(axis=1)
        open_[act, k] = False
        j = pool[act, k]
        out[act, t] = j
        closest[act] = np.maximum(closest[act], sim_t[j])
    return out


def _trending(cands: Candidates, free: np.ndarray) -> list[list[int]]:
    """Per reader, the first MAX_TRENDING + 1 free candidates in trending order (one may go to exploration)."""
    order = np.array(cands.trend_order, dtype=np.intp)
    ranked = free[:, order]
    first = order[np.argsort(~ranked, axis=1, kind="stable")[:, : MAX_TRENDING + 1]].tolist()
    return [row[:k] for row, k in zip(first, np.minimum(ranked.sum(axis=1), MAX_TRENDING + 1).tolist(), strict=True)]


def _explore(head: _Head, noise: np.ndarray) -> list[int]:
    """The exploration pick of each reader of a group (rows of ``noise``): novel, well-liked, plus their noise."""
    value = head.base + noise * 0.5
    value[:, ~head.free] = -np.inf
    return value.argmax(axis=1).tolist()


def explore_noise(reader_ids: list[int], day: dt.date, paper_ids: np.ndarray) -> np.ndarray:
    """(readers, papers) standard Gumbel noise, a pure function of (reader, day, paper).

    The same digest on a re-run, another exploration pick the next day; a hash instead of a random generator per
    reader (whose construction cost more than the rest of a new reader's ranking), computed for a batch at once.
    """
    seeds = np.array([_seed(r, day) for r in reader_ids], dtype=np.uint64)
    bits = _mix(seeds[:, None] ^ _mix(paper_ids.astype(np.uint64))[None, :])
    noise = (bits >> 11).astype(np.float64)  # 53 random bits
    noise += 0.5
    noise *= 2.0**-53  # uniform, strictly inside (0, 1)
    np.log(noise, out=noise)
    np.log(-noise, out=noise)
    return np.negative(noise, out=noise)  # in place: a batch's (readers, papers) arrays are the largest here


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, in place (uint64, wrapping): each input bit flips about half of the output bits."""
    x ^= x >> 30
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> 27
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> 31
    return x


def _tail(head: _Head, explored: int, cands: Candidates, trending: dict[int, Pick]) -> list[Pick]:
    """The exploration pick (``explored``, -1 for none), then trending papers not chosen yet."""
    out = []
    if explored >= 0:
        out.append(Pick(cands.papers[explored].id, float(head.score[explored]), EXPLORE_REASON, "explore"))
    for j in [j for j in head.trending if j != explored][:MAX_TRENDING]:
        if j not in trending:
            trending[j] = Pick(cands.papers[j].id, float(cands.trend_raw[j]), cands.trend_reasons[j], "trending")
        out.append(trending[j])
    return out
