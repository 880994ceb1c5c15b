"""The batched pick loop against each reader ranked alone, and the exploration draw.

``pick_batch`` groups identical readers, runs MMR for all readers at once and draws the exploration noise for a
batch in one array operation. Inputs are random but full of ties (scores, trending counts), blocks, followed
authors, topics, keywords and histories, so that any difference in order, tie-breaking, reasons or sections
shows up.
"""

from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pytest
from sqlalchemy import select

from service.models import Subscriber
from service.recommend.content import TextVectorizer
from service.recommend.hybrid import standardise
from service.recommend.inputs import Batch, Candidates, Prefs, RankWeights, Reader, norm_name
from service.recommend.loader import KeywordIndex, TextSide, load_prefs, text_similarity
from service.recommend.ranking import explore_noise, pick_batch, score_batch
from tests.recommend.fixtures import add_subscriber

DAY = dt.date(2025, 3, 3)
WEIGHTS = RankWeights()
WORDS = ["diffusion", "graph", "robot", "speech", "retrieval", "llm", "agents", "vision"]
NAMES = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "J. R. Smith"]


def make_candidates(rng: random.Random, c: int) -> Candidates:
    """Random candidates; the similarity is deliberately not symmetric (rows and columns must not be confused)."""
    texts = [" ".join(rng.sample(WORDS, 3)) + f"\npaper {j}" for j in range(c)]
    KEYWORDS[c] = KeywordIndex(texts)
    authors = [{norm_name(a) for a in rng.sample(NAMES, rng.choice([0, 1, 2]))} for _ in range(c)]
    by_author: dict[str, list[int]] = {}
    for j, names in enumerate(authors):
        for name in names:
            by_author.setdefault(name, []).append(j)
    nprng = np.random.default_rng(rng.randrange(1 << 30))
    similarity = np.round(nprng.random((c, c)), 1).astype(np.float32)  # rounded: equal redundancies
    raw = np.array([rng.choice([0.0, 0.0, 1.5, 2.0, 2.0, 3.25]) for _ in range(c)], dtype=np.float32)
    return Candidates(
        ids=np.arange(1000, 1000 + c, dtype=np.int64),
        similarity_t=np.ascontiguousarray(similarity.T),
        authors=authors,
        by_author=by_author,
        trend=standardise(raw[None, :])[0],
        trend_raw=raw,
        trend_order=sorted((j for j in range(c) if raw[j] > 0), key=lambda j: -raw[j]),  # Python's sort is stable
        trend_reasons=[f"trending {j}" for j in range(c)],
        engaged=np.array([rng.choice([0, 0, 2]) for _ in range(c)]),
    )


KEYWORDS: dict[int, KeywordIndex] = {}


def reader(i: int, prefs: Prefs, c: int, evidence: int = 0, because: np.ndarray | None = None) -> Reader:
    keywords = KEYWORDS[c]
    titles = tuple(f"liked {k}" for k in range(0 if because is None else len(because)))
    return Reader(i, prefs, evidence, titles, because, tuple(keywords.hits(t).astype(np.float32) for t in prefs.topics),
                  tuple(keywords.hits(k) for k in prefs.include))  # fmt: skip


def make_readers(rng: random.Random, c: int) -> tuple[list[Reader], np.ndarray, np.ndarray]:
    """Readers with their learned scores and allowed candidates; many are identical (shared groups), some not
    quite."""
    nprng = np.random.default_rng(rng.randrange(1 << 30))
    cold = Prefs.of([], [], [], [], None)
    topical = Prefs.of(["graph", "robot"], ["speech"], [], [], 5)
    readers, scores, allowed = [], [], []
    for i in range(240):
        kind = i % 6
        if kind in (0, 1):  # identical new readers, one group
            readers.append(reader(i, cold, c))
            scores.append(np.zeros(c))
            allowed.append(np.ones(c, dtype=bool))
        elif kind == 2:  # identical topical readers, but some with a block of their own
            readers.append(reader(i, topical, c))
            scores.append(np.zeros(c))
            block = np.ones(c, dtype=bool)
            if i % 4 == 0:
                block[rng.randrange(c)] = False
            allowed.append(block)
        else:  # readers of their own: history, followed authors, keywords, any digest size, ties in scores
            prefs = Prefs.of(
                rng.sample(WORDS, rng.choice([0, 1, 2])), rng.sample(WORDS, rng.choice([0, 0, 1])), [],
                rng.sample(NAMES, rng.choice([0, 0, 1, 2])), rng.choice([1, 2, 3, 4, 10, 12, 60]),
            )  # fmt: skip
            because = None
            if kind == 3:
                because = np.round(nprng.random((rng.choice([1, 3, 8]), c)), 2).astype(np.float32)
            readers.append(reader(i, prefs, c, rng.choice([0, 1, 5]) if kind != 5 else 0, because))
            scores.append(np.round(nprng.normal(size=c) * 2) / 2 if kind != 5 else np.zeros(c))
            allowed.append(nprng.random(c) < (0.0 if i % 29 == 0 else 0.85))
    return readers, np.array(scores), np.array(allowed)


def batch_of(readers: list[Reader], score: np.ndarray, allowed: np.ndarray, c: int) -> tuple[Batch, np.ndarray]:
    batch = Batch(readers, score.astype(np.float32), allowed, np.zeros((len(readers), c), np.float32))
    return batch, score_batch(batch, CANDS[c], WEIGHTS)


@pytest.mark.parametrize("seed", range(6))
def test_batched_picks_equal_each_reader_ranked_alone(seed):
    """Grouping identical readers and running MMR for all at once changes nobody's picks."""
    rng = random.Random(seed)
    c = rng.choice([1, 4, 40, 90])
    CANDS[c] = cands = make_candidates(rng, c)
    readers, learned, allowed = make_readers(rng, c)
    batch, score = batch_of(readers, learned, allowed, c)
    got = pick_batch(batch, score, cands, DAY, WEIGHTS)
    for i, reader in enumerate(readers):
        alone, alone_score = batch_of([reader], learned[i : i + 1], allowed[i : i + 1], c)
        assert got[i] == pick_batch(alone, alone_score, cands, DAY, WEIGHTS)[0], f"reader {reader.id}"
        assert len(got[i]) == min(reader.prefs.n, int(allowed[i].sum()))  # every slot filled, none more
        assert len({p.paper_id for p in got[i]}) == len(got[i])
        assert all(allowed[i][p.paper_id - 1000] for p in got[i])
    sections = {p.section for ps in got for p in ps}
    assert c < 40 or sections == {"followed", "for_you", "explore", "trending"}


CANDS: dict[int, Candidates] = {}


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
    CANDS[80] = cands = make_candidates(rng, 80)
    cold = Prefs.of([], [], [], [], None)
    readers = [reader(i, cold, 80) for i in range(300)]
    batch, score = batch_of(readers, np.zeros((300, 80)), np.ones((300, 80), dtype=bool), 80)
    picks = pick_batch(batch, score, cands, DAY, WEIGHTS)
    heads = {tuple(p for p in ps if p.section in ("followed", "for_you", "trending")) for ps in picks}
    explored = {next(p.paper_id for p in ps if p.section == "explore") for ps in picks}
    assert len(heads) <= 2 and len(explored) > 20  # the fill after exploration may differ by one paper


def test_text_similarity_memo_returns_what_a_fresh_transform_does():
    texts = [f"{a} {b} study of {a}" for a in WORDS for b in WORDS]
    vectorizer = TextVectorizer.fit(texts)
    features = vectorizer.transform(texts[:30])
    side = TextSide(None, vectorizer, features, None, np.eye(30, dtype=np.float32), KeywordIndex(texts[:30]), {})
    queries = texts[10:50] + texts[:20] + texts[10:50]
    fresh = (vectorizer.transform(queries) @ features.T).toarray()
    first = text_similarity(queries, side)
    assert len(side.text_sims) == 50
    second = text_similarity(queries[::-1], side)
    np.testing.assert_allclose(first, fresh, rtol=1e-6)
    np.testing.assert_allclose(second, fresh[::-1], rtol=1e-6)


def test_preferences_read_as_text_equal_what_the_orm_decodes(any_runtime):
    with any_runtime.db.session() as s:
        odd = add_subscriber(
            s, "odd@example.org", topics=[" graph neural ", 3, "", "diffusion"], include_keywords=["C++", None],
            exclude_keywords=["speech"], followed_authors=["J. R. Smith", "j r smith", 7], papers_per_email=0,
        )  # fmt: skip
        plain = add_subscriber(s, "plain@example.org")
        twin = add_subscriber(s, "twin@example.org")
    with any_runtime.db.session() as s:
        got = load_prefs(s, [odd, plain, twin, 999_999])
        subs = {x.id: x for x in s.scalars(select(Subscriber))}
    want = {
        sid: Prefs.of(x.topics, x.include_keywords, x.exclude_keywords, x.followed_authors, x.papers_per_email)
        for sid, x in subs.items()
    }
    assert got == want
    assert got[odd] == Prefs(10, ("graph neural", "diffusion"), ("C++",), ("speech",), (("j r smith", "j r smith"),))
