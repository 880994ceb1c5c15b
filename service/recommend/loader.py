"""The ranker's loading half: every query it makes, the cache of the candidates' text side, and the model's
scores, turned into the arrays ``ranking.py`` works on.

What a reader was already sent (their digests' picks, ``service.impressions``) is read in ``_unavailable`` alone.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sqlalchemy import Text, cast, func, select, text
from sqlalchemy.orm import Session

from service.db import id_in
from service.impressions import LOOKBACK_DAYS, shown
from service.models import ENGAGED_ROWS, Interaction, InteractionKind, Paper, Subscriber
from service.recommend.als import EVENT_WEIGHTS, MAX_POSITIVE
from service.recommend.content import TextVectorizer, keyword_pattern, paper_text
from service.recommend.explain import Explainer
from service.recommend.hybrid import ItemViews, blend, standardise
from service.recommend.inputs import Batch, Candidates, Prefs, RankWeights, Reader, norm_name
from service.recommend.store import StoredModel
from service.recommend.trending import trending_for

HISTORY_FOR_REASONS = 30  # most recent liked papers weighed for "because you read"
EXPLAIN_GROUP = 256  # readers whose liked papers are explained together (bounds the (papers x candidates) arrays)
LIKED_KINDS = ("click", "more")
REACTED_KINDS = ("click", "more", "less")


class KeywordIndex:
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


@dataclass(frozen=True)
class TextSide:
    """What depends only on the candidates' text and the model: the same for every batch of one day's send."""

    model: object | None  # the model these were computed with (held, so its identity cannot be reused)
    vectorizer: TextVectorizer
    features: sp.csr_matrix  # (c, d) l2 TF-IDF
    views: ItemViews | None
    similarity_t: np.ndarray  # (c, c)
    keywords: KeywordIndex  # filled as readers' keywords are met: each keyword is matched once per send
    text_sims: dict[str, np.ndarray]  # filled as texts are met: a text's cosine to each candidate


_TEXT_CACHE: OrderedDict[tuple[int, tuple[tuple[str | None, str | None], ...]], TextSide] = OrderedDict()
_TEXT_CACHE_LOCK = threading.Lock()
_TEXT_CACHE_SIZE = 8  # distinct candidate sets kept per model (one send has a few groups of candidates)
_TEXT_SIMS_MAX = 1 << 21  # cosine values kept per candidate set (8 MB)


def text_side(papers: list[Paper], stored: StoredModel | None) -> TextSide:
    """TF-IDF, model views, the c x c similarity and keyword hits of the candidates, cached per (model object,
    exact titles and abstracts). Read-only results: a new model (training or fold-in reloads) starts anew."""
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
    views = stored.model.item_views(features) if stored else None
    similarity = (features @ features.T).toarray() if features.shape[1] else np.eye(len(texts))
    keywords = KeywordIndex([f"{p.title or ''}\n{p.abstract or ''}" for p in papers])
    side = TextSide(model, vectorizer, features, views, np.ascontiguousarray(similarity.T, dtype=np.float32),
                    keywords, {})  # fmt: skip
    with _TEXT_CACHE_LOCK:
        for k in [k for k, v in _TEXT_CACHE.items() if v.model is not model]:
            del _TEXT_CACHE[k]  # entries of an older model: never hit again, and they keep it in memory
        _TEXT_CACHE[key] = side
        while len(_TEXT_CACHE) > _TEXT_CACHE_SIZE:
            _TEXT_CACHE.popitem(last=False)
    return side


def text_similarity(texts: list[str], side: TextSide) -> np.ndarray:
    """(len(texts), c) cosine; each distinct text transformed once per candidate set and model (memoised up to
    _TEXT_SIMS_MAX values). Rows are independent, so this equals transforming every text."""
    memo = side.text_sims
    slot: dict[str, int] = {}
    rows = [slot.setdefault(t, len(slot)) for t in texts]
    c = side.features.shape[0]
    if not side.vectorizer.dim or side.features.shape[1] != side.vectorizer.dim:
        return np.zeros((len(texts), c), np.float32)
    missing = [t for t in slot if t not in memo]
    fresh: dict[str, np.ndarray] = {}
    if missing:
        fresh = dict(zip(missing, (side.vectorizer.transform(missing) @ side.features.T).toarray(), strict=True))
        if (len(memo) + len(fresh)) * c <= _TEXT_SIMS_MAX:
            memo.update(fresh)
    if not slot:
        return np.zeros((0, c), np.float32)
    return np.stack([fresh[t] if t in fresh else memo[t] for t in slot])[rows].astype(np.float32)


def load_candidates(session: Session, ids: list[int], stored: StoredModel | None) -> tuple[Candidates, TextSide]:
    """The candidates ``ids`` (unknown ids dropped) with live trending counts (recomputed on every call)."""
    by_id = {p.id: p for p in session.scalars(select(Paper).where(id_in(session, Paper.id, ids)))} if ids else {}
    papers = [by_id[i] for i in dict.fromkeys(ids) if i in by_id]
    side = text_side(papers, stored)
    trending = trending_for(session, papers)
    trend = standardise(trending.scores[None, :])[0] if papers else np.zeros(0, np.float32)
    authors = [{norm_name(a) for a in (p.authors or []) if isinstance(a, str)} for p in papers]
    by_author: dict[str, list[int]] = defaultdict(list)
    for j, names in enumerate(authors):
        for name in names:
            by_author[name].append(j)
    positive = np.flatnonzero(trending.scores > 0)
    pids = np.array([p.id for p in papers], dtype=np.int64)
    cands = Candidates(
        pids, side.similarity_t, authors, dict(by_author), trend, trending.scores,
        positive[np.argsort(-trending.scores[positive], kind="stable")].tolist(), trending.reasons,
        _engaged(session, pids.tolist()),
    )  # fmt: skip
    return cands, side


def _engaged(session: Session, ids: list[int]) -> np.ndarray:
    """Per candidate, the readers who clicked it or asked for more (scanner clicks left out)."""
    out = np.zeros(len(ids), np.int64)
    if not ids:
        return out
    col = {pid: j for j, pid in enumerate(ids)}
    rows = session.execute(
        select(Interaction.paper_id, func.count(func.distinct(Interaction.subscriber_id)))
        .where(id_in(session, Interaction.paper_id, ids), text(ENGAGED_ROWS), Interaction.suspected_scanner.is_(False))
        .group_by(Interaction.paper_id)
    )
    for pid, n in rows:
        out[col[int(pid)]] = int(n)
    return out


_JSON_PREFS = (Subscriber.topics, Subscriber.include_keywords, Subscriber.exclude_keywords, Subscriber.followed_authors)


def load_prefs(session: Session, batch: list[int]) -> dict[int, Prefs]:
    """The preferences of the batch's subscribers that exist, by id. The JSON columns are read as text and each
    distinct row parsed once: most readers state nothing, and decoding per reader cost more than ranking."""
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


def _unavailable(session: Session, batch: list[int], row: dict[int, int], ids: np.ndarray, day: dt.date) -> np.ndarray:
    """(R, c): already sent to the reader (a digest of the last week showed it), or reacted to (clicked, more,
    less: they have seen it)."""
    col = {int(p): j for j, p in enumerate(ids.tolist())}
    out = np.zeros((len(batch), len(col)), dtype=bool)
    for sid, pid in session.execute(
        select(Interaction.subscriber_id, Interaction.paper_id).where(
            id_in(session, Interaction.subscriber_id, batch),
            id_in(session, Interaction.paper_id, list(col)),
            Interaction.kind.in_(REACTED_KINDS),
        )
    ):
        out[row[sid], col[pid]] = True
    for sid, papers in shown(session, batch, day - dt.timedelta(days=LOOKBACK_DAYS), until=day).items():
        for pid in papers:
            if pid in col:
                out[row[sid], col[pid]] = True
    return out


@dataclass
class Liked:
    """A reader's liked papers, most recent first: ids, titles, texts, confidence; ``total`` counts them all."""

    ids: list[int]
    titles: list[str]
    texts: list[str]
    conf: list[float]
    total: int


def _liked(session: Session, batch: list[int]) -> dict[int, Liked]:
    rows = session.execute(
        select(Interaction.subscriber_id, Interaction.paper_id, Interaction.kind, Paper.title, Paper.abstract)
        .join(Paper, Paper.id == Interaction.paper_id)
        .where(
            id_in(session, Interaction.subscriber_id, batch),
            Interaction.kind.in_(LIKED_KINDS),
            Interaction.suspected_scanner.is_(False),
        )
        .order_by(Interaction.created_at.desc(), Interaction.id.desc())
    ).all()
    out: dict[int, Liked] = {}
    weight: dict[tuple[int, int], float] = defaultdict(float)
    for sid, pid, kind, title, abstract in rows:
        liked = out.setdefault(sid, Liked([], [], [], [], 0))
        if (sid, pid) not in weight:
            liked.total += 1
            if len(liked.ids) < HISTORY_FOR_REASONS:
                liked.ids.append(pid)
                liked.titles.append(title)
                liked.texts.append(paper_text(title, abstract))
        weight[(sid, pid)] += EVENT_WEIGHTS[kind]
    for sid, liked in out.items():
        liked.conf = [min(MAX_POSITIVE, weight[(sid, pid)]) for pid in liked.ids]
    return out


def _less_like_this(session: Session, batch: list[int], row: dict[int, int], side: TextSide) -> np.ndarray:
    """(R, c): each candidate's highest similarity to a paper the reader marked "less like this"."""
    out = np.zeros((len(batch), side.features.shape[0]), dtype=np.float32)
    rows = session.execute(
        select(Interaction.subscriber_id, Paper.title, Paper.abstract)
        .join(Paper, Paper.id == Interaction.paper_id)
        .where(id_in(session, Interaction.subscriber_id, batch), Interaction.kind == InteractionKind.LESS)
    ).all()
    if rows:
        sims = text_similarity([paper_text(t, a) for _, t, a in rows], side)
        for k, (sid, _, _) in enumerate(rows):
            np.maximum(out[row[sid]], sims[k], out=out[row[sid]])
    return out


def load_batch(
    session: Session, batch: list[int], cands: Candidates, side: TextSide, stored: StoredModel | None,
    weights: RankWeights, day: dt.date,
) -> Batch:  # fmt: skip
    """The ranking inputs of the batch's subscribers that exist (in ``batch`` order), for the digest of ``day``."""
    prefs = load_prefs(session, batch)
    present = [sid for sid in batch if sid in prefs]
    row = {sid: i for i, sid in enumerate(present)}
    c = len(cands)
    liked = _liked(session, present)
    learned = np.zeros((len(present), c), np.float32)
    raw: dict[int, dict[str, np.ndarray]] = {}
    if stored is not None and side.views is not None:
        known = [(i, stored.user_row[sid]) for i, sid in enumerate(present) if sid in stored.user_row]
        if known:
            local, model_rows = (np.array(x) for x in zip(*known, strict=True))
            parts = stored.model.component_scores(model_rows, side.views)
            learned[local] = blend(parts, stored.model.params)
            raw = {present[i]: {k: v[n] for k, v in parts.items()} for n, i in enumerate(local.tolist())}
    allowed = ~_unavailable(session, present, row, cands.ids, day)
    because = _because(stored, raw, liked, side) if raw else {}
    readers = []
    for i, sid in enumerate(present):
        p = prefs[sid]
        allowed[i] &= ~side.keywords.any(p.exclude)
        history = liked.get(sid)
        readers.append(Reader(
            sid, p, history.total if history else 0, tuple(history.titles) if history else (), because.get(sid),
            tuple(_topic_match(t, side) for t in p.topics), tuple(side.keywords.hits(k) for k in p.include),
        ))  # fmt: skip
    return Batch(readers, learned, allowed, _less_like_this(session, present, row, side))


def _topic_match(topic: str, side: TextSide) -> np.ndarray:
    """A stated topic against each candidate: its cosine in the model's text space, 1 where the phrase occurs."""
    sims = text_similarity([topic], side)[0]
    return np.maximum(sims, side.keywords.hits(topic).astype(np.float32))


def _because(
    stored: StoredModel, raw: dict[int, dict[str, np.ndarray]], liked: dict[int, Liked], side: TextSide
) -> dict[int, np.ndarray]:
    """Per reader the model knows and who liked papers: each liked paper's share of their learned score, (m, c).
    The liked papers of up to EXPLAIN_GROUP readers are transformed and factored once, together."""
    readers = [sid for sid in raw if sid in liked]
    out: dict[int, np.ndarray] = {}
    model = stored.model
    for start in range(0, len(readers), EXPLAIN_GROUP):
        group = readers[start : start + EXPLAIN_GROUP]
        texts = {pid: text for sid in group for pid, text in zip(liked[sid].ids, liked[sid].texts, strict=True)}
        ids = list(texts)
        at = {pid: k for k, pid in enumerate(ids)}
        rows = np.array([stored.item_row.get(pid, -1) for pid in ids], dtype=np.int64)
        explainer = Explainer(model, side.views, model.vectorizer.transform([texts[p] for p in ids]), rows)
        asked = [(np.array([at[pid] for pid in liked[sid].ids], np.int64), np.array(liked[sid].conf)) for sid in group]
        views = {name: np.stack([raw[sid][name] for sid in group]) for name in raw[group[0]]}
        out.update(zip(group, explainer.shares(asked, views), strict=True))
    return out
