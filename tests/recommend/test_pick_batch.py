"""The batched pick loop against a straightforward per-reader reference, and the exploration draw.

``pick_batch`` groups identical readers, runs MMR for all readers at once and draws the exploration noise for a
batch in one array operation; ``reference_pick`` is the plain per-reader loop it replaced (with the same noise).
Inputs are random but full of ties (scores, trending counts), blocks, followed authors, topics, keywords and
histories, so that any difference in order, tie-breaking, reasons or sections shows up.
"""

from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pytest
import scipy.sparse as sp
from sqlalchemy import select

from service.models import Paper, Subscriber
from service.recommend.blend import (
    EXPLORE_REASON,
    MAX_TRENDING,
    MMR_LAMBDA,
    REASON_MIN_SIM,
    Candidates,
    History,
    Pick,
    Prefs,
    Reader,
    _KeywordIndex,
    _norm_name,
    _prefs,
    _text_similarity,
    explore_noise,
    pick_batch,
)
from service.recommend.content import TextVectorizer
from service.recommend.hybrid import standardise
from tests.recommend.fixtures import add_subscriber

DAY = dt.date(2025, 3, 3)
WORDS = ["diffusion", "graph", "robot", "speech", "retrieval", "llm", "agents", "vision"]
NAMES = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "J. R. Smith"]


def make_candidates(rng: random.Random, c: int) -> Candidates:
    """Random candidates; the similarity is deliberately not symmetric (rows and columns must not be confused)."""
    texts = [" ".join(rng.sample(WORDS, 3)) + f"\npaper {j}" for j in range(c)]
    authors = [{_norm_name(a) for a in rng.sample(NAMES, rng.choice([0, 1, 2]))} for _ in range(c)]
    by_author: dict[str, list[int]] = {}
    for j, names in enumerate(authors):
        for name in names:
            by_author.setdefault(name, []).append(j)
    nprng = np.random.default_rng(rng.randrange(1 << 30))
    similarity = np.round(nprng.random((c, c)), 1).astype(np.float32)  # rounded: equal redundancies
    raw = np.array([rng.choice([0.0, 0.0, 1.5, 2.0, 2.0, 3.25]) for _ in range(c)], dtype=np.float32)
    return Candidates(
        papers=[Paper(id=1000 + j, title=f"paper {j}", abstract=texts[j]) for j in range(c)],
        ids=np.arange(1000, 1000 + c, dtype=np.int64),
        features=sp.csr_matrix((c, 0), dtype=np.float32),
        views=None,
        similarity=similarity,
        similarity_t=np.ascontiguousarray(similarity.T),
        keywords=_KeywordIndex(texts),
        text_sims={},
        authors=authors,
        by_author=by_author,
        trend=standardise(raw[None, :])[0],
        trend_raw=raw,
        trend_order=sorted((j for j in range(c) if raw[j] > 0), key=lambda j: -raw[j]),  # Python's sort is stable
        trend_reasons=[f"trending {j}" for j in range(c)],
        vectorizer=TextVectorizer(np.array([], dtype=str), np.zeros(0, np.float32)),
    )


def make_readers(rng: random.Random, c: int) -> tuple[list[Reader], np.ndarray, np.ndarray]:
    """Readers with their scores and allowed candidates; many are identical (shared groups), some not quite."""
    nprng = np.random.default_rng(rng.randrange(1 << 30))
    cold_score = np.round(nprng.normal(size=c), 1)
    cold = Prefs.of([], [], [], [], None)
    topical = Prefs.of(["graph", "robot"], ["speech"], [], [], 5)
    readers, scores, allowed = [], [], []
    for i in range(240):
        kind = i % 6
        if kind in (0, 1):  # identical new readers, one group
            readers.append(Reader(i, cold, None, False))
            scores.append(cold_score)
            allowed.append(np.ones(c, dtype=bool))
        elif kind == 2:  # identical topical readers, but some with a block of their own
            readers.append(Reader(i, topical, None, False))
            scores.append(cold_score + 0.5)
            block = np.ones(c, dtype=bool)
            if i % 4 == 0:
                block[rng.randrange(c)] = False
            allowed.append(block)
        else:  # readers of their own: history, followed authors, keywords, any digest size, ties in scores
            prefs = Prefs.of(
                rng.sample(WORDS, rng.choice([0, 1, 2])), rng.sample(WORDS, rng.choice([0, 0, 1])), [],
                rng.sample(NAMES, rng.choice([0, 0, 1, 2])), rng.choice([1, 2, 3, 4, 10, 12, 60]),
            )  # fmt: skip
            history = None
            if kind == 3:
                titles = [f"liked {k}" for k in range(rng.choice([1, 3, 8]))]
                history = History(titles, np.round(nprng.random((len(titles), c)) * 0.3, 2).astype(np.float32))
            readers.append(Reader(i, prefs, history, kind == 4))
            scores.append(np.round(nprng.normal(size=c) * 2) / 2)
            allowed.append(nprng.random(c) < (0.0 if i % 29 == 0 else 0.85))
    return readers, np.array(scores), np.array(allowed)


def reference_pick(reader: Reader, score: np.ndarray, allowed: np.ndarray, cands: Candidates, day: dt.date):
    """One reader at a time, as ranking worked before it was batched (the exploration noise aside)."""
    n = reader.prefs.n
    include = cands.keywords.any(reader.prefs.include)
    topic_hits = {t: cands.keywords.hits(t) for t in reader.prefs.topics}
    chosen: list[Pick] = []
    taken = np.zeros(len(score), dtype=bool)
    followed = dict(reader.prefs.followed)
    if followed:
        for j in np.argsort(-score):
            if len(chosen) >= n:
                break
            hit = next((followed[a] for a in cands.authors[j] if a in followed), None)
            if hit and allowed[j]:
                chosen.append(Pick(cands.papers[j].id, float(score[j]), f"new from {hit}, whom you follow", "followed"))
                taken[j] = True
    explore_slot = 1 if n >= 3 else 0
    pool = np.flatnonzero(allowed & ~taken)
    pool = pool[np.argsort(-score[pool], kind="stable")][: max(4 * n, 30)]
    closest = cands.similarity[:, taken].max(axis=1) if taken.any() else None
    rel = score[pool]
    rel_n = (rel - rel.min()) / (rel.max() - rel.min()) if len(rel) and rel.max() > rel.min() else np.ones(len(rel))
    remaining = list(range(len(pool)))
    while remaining and len(chosen) < n - explore_slot:
        redundancy = closest[pool[remaining]] if closest is not None else np.zeros(len(remaining))
        mmr = MMR_LAMBDA * rel_n[remaining] - (1 - MMR_LAMBDA) * redundancy
        j = int(pool[remaining.pop(int(np.argmax(mmr)))])
        chosen.append(Pick(cands.papers[j].id, float(score[j]), reference_reason(reader, j, include, topic_hits, cands),
                           "for_you"))  # fmt: skip
        taken[j] = True
        closest = cands.similarity[:, j].copy() if closest is None else np.maximum(closest, cands.similarity[:, j])
    if explore_slot and len(chosen) < n:
        rest = np.flatnonzero(allowed & ~taken)
        if len(rest):
            noise = explore_noise([reader.id], day, cands.ids)[0][rest]
            novelty = 1 - (closest[rest] if closest is not None else 0)
            j = int(rest[int(np.argmax(novelty + 0.5 * cands.trend[rest] + noise * 0.5))])
            chosen.append(Pick(cands.papers[j].id, float(score[j]), EXPLORE_REASON, "explore"))
            taken[j] = True
    rest = np.flatnonzero(allowed & ~taken & (cands.trend_raw > 0))
    for j in rest[np.argsort(-cands.trend_raw[rest], kind="stable")][:MAX_TRENDING]:
        chosen.append(Pick(cands.papers[j].id, float(cands.trend_raw[j]), cands.trend_reasons[j], "trending"))
    return chosen


def reference_reason(reader: Reader, j: int, include: np.ndarray, topic_hits: dict, cands: Candidates) -> str:
    history = reader.history
    if history is not None and history.titles:
        best = int(np.argmax(history.sims[:, j]))
        if history.sims[best, j] >= REASON_MIN_SIM:
            return f"because you read “{history.titles[best]}”"
    for topic, hits in topic_hits.items():
        if hits[j]:
            return f"matches your topic “{topic}”"
    if include[j]:
        text = cands.keywords.texts[j : j + 1]
        kw = next((k for k in reader.prefs.include if _KeywordIndex(text).hits(k)[0]), None)
        if kw:
            return f"matches your keyword “{kw}”"
    if reader.known:
        return "popular with readers who share your taste"
    if reader.prefs.topics:
        return f"close to your topics: {', '.join(reader.prefs.topics[:3])}"
    return cands.trend_reasons[j]


@pytest.mark.parametrize("seed", range(6))
def test_batched_picks_equal_the_per_reader_reference(seed):
    rng = random.Random(seed)
    c = rng.choice([1, 4, 40, 90])
    cands = make_candidates(rng, c)
    readers, score, allowed = make_readers(rng, c)
    got = pick_batch(readers, score, allowed, cands, DAY)
    want = [reference_pick(r, score[i], allowed[i], cands, DAY) for i, r in enumerate(readers)]
    for reader, g, w in zip(readers, got, want, strict=True):
        assert g == w, f"reader {reader.id}"
    sections = {p.section for ps in got for p in ps}
    assert c < 40 or sections == {"followed", "for_you", "explore", "trending"}


def test_exploration_is_fixed_per_reader_and_day_and_varies_with_both():
    papers = np.arange(500, 700, dtype=np.int64)
    today = explore_noise([1, 2, 3], DAY, papers)
    assert today.shape == (3, 200) and np.isfinite(today).all()
    assert np.array_equal(today, explore_noise([1, 2, 3], DAY, papers))  # a re-run draws the same
    assert np.array_equal(today[1], explore_noise([2], DAY, papers)[0])  # whatever else is in the batch
    assert np.array_equal(today[:, 50:60], explore_noise([1, 2, 3], DAY, papers[50:60]))  # whatever the candidates
    days = [explore_noise([1], DAY + dt.timedelta(days=k), papers)[0].argmax() for k in range(8)]
    assert len(set(days)) >= 5  # another exploration pick from one day to the next
    readers = explore_noise(list(range(2000)), DAY, papers)
    assert len(set(readers.argmax(axis=1).tolist())) > 150  # readers of one day explore different papers
    assert abs(readers.mean() - np.euler_gamma) < 0.01 and abs(readers.std() - np.pi / np.sqrt(6)) < 0.01


def test_identical_new_readers_share_a_head_but_explore_apart():
    rng = random.Random(11)
    cands = make_candidates(rng, 80)
    cold = Prefs.of([], [], [], [], None)
    readers = [Reader(i, cold, None, False) for i in range(300)]
    score = np.tile(np.round(np.random.default_rng(3).normal(size=80), 1), (300, 1))
    picks = pick_batch(readers, score, np.ones((300, 80), dtype=bool), cands, DAY)
    heads = {tuple(p for p in ps if p.section in ("followed", "for_you")) for ps in picks}
    explored = {next(p.paper_id for p in ps if p.section == "explore") for ps in picks}
    assert len(heads) == 1 and len(explored) > 20


def test_text_similarity_memo_returns_what_a_fresh_transform_does():
    texts = [f"{a} {b} study of {a}" for a in WORDS for b in WORDS]
    vectorizer = TextVectorizer.fit(texts)
    cands = make_candidates(random.Random(5), 30)
    cands.features = vectorizer.transform(texts[:30])
    queries = texts[10:50] + texts[:20] + texts[10:50]
    fresh = (vectorizer.transform(queries) @ cands.features.T).toarray()
    first = _text_similarity(queries, cands, vectorizer)
    assert len(cands.text_sims) == 50
    second = _text_similarity(queries[::-1], cands, vectorizer)
    assert np.array_equal(first, fresh) and np.array_equal(second, fresh[::-1])


def test_preferences_read_as_text_equal_what_the_orm_decodes(any_runtime):
    with any_runtime.db.session() as s:
        odd = add_subscriber(
            s, "odd@example.org", topics=[" graph neural ", 3, "", "diffusion"], include_keywords=["C++", None],
            exclude_keywords=["speech"], followed_authors=["J. R. Smith", "j r smith", 7], papers_per_email=0,
        )  # fmt: skip
        plain = add_subscriber(s, "plain@example.org")
        twin = add_subscriber(s, "twin@example.org")
    with any_runtime.db.session() as s:
        got = _prefs(s, [odd, plain, twin, 999_999])
        subs = {x.id: x for x in s.scalars(select(Subscriber))}
    want = {
        sid: Prefs.of(x.topics, x.include_keywords, x.exclude_keywords, x.followed_authors, x.papers_per_email)
        for sid, x in subs.items()
    }
    assert got == want
    assert got[odd] == Prefs(10, ("graph neural", "diffusion"), ("C++",), ("speech",), (("j r smith", "j r smith"),))
