"""One contract, run against every scorer (as implicit's tests do for its models): shapes, determinism, cold
readers, empty candidates, new readers folded in, and the save/load round trip without pickle."""

from __future__ import annotations

import io

import numpy as np
import pytest
import scipy.sparse as sp

from service.recommend.als import ALSParams
from service.recommend.hybrid import HybridParams
from service.recommend.scorers import (
    SCORERS,
    ALSContentMapScorer,
    ContentProfileScorer,
    HybridScorer,
    PopularityScorer,
    RandomScorer,
    Scorer,
)
from tests.recommend.conftest import N_PER_TOPIC
from tests.recommend.fixtures import TOPICS

SMALL = HybridParams(svd_dim=16, als=ALSParams(factors=8, iterations=6), cmf=ALSParams(factors=8, iterations=6),
                     cmf_alphas=[20.0, 40.0])  # fmt: skip


class ScorerContract:
    """Mix into a test class that sets ``make``; every scorer must pass all of these."""

    make: staticmethod

    @pytest.fixture
    def scorer(self, data) -> Scorer:
        vectorizer, features, conf, _ = data
        return self.make().fit(vectorizer, features, conf)

    def test_shapes_and_dtype(self, scorer, data):
        new = data[3]
        scores = scorer.score(np.array([0, 4, 7]), new)
        assert scores.shape == (3, new.shape[0]) and scores.dtype == np.float32 and np.isfinite(scores).all()

    def test_deterministic(self, scorer, data):
        vectorizer, features, conf, new = data
        again = self.make().fit(vectorizer, features, conf)
        np.testing.assert_allclose(scorer.score(np.arange(12), new), again.score(np.arange(12), new), atol=1e-5)

    def test_cold_reader_gets_finite_scores(self, scorer, data):
        assert np.isfinite(scorer.score(np.array([11]), data[3])).all()

    def test_empty_candidates(self, scorer, data):
        empty = sp.csr_matrix((0, data[3].shape[1]), dtype=np.float32)
        assert scorer.score(np.array([0, 1]), empty).shape == (2, 0)
        rows = sp.csr_matrix(np.ones((1, 2), np.float32))
        assert scorer.score_new_readers(rows, data[1][:2], empty, np.array([0, 1])).shape == (1, 0)

    def test_save_and_load_round_trip(self, scorer, data):
        buffer = io.BytesIO()
        np.savez(buffer, allow_pickle=False, **scorer.to_arrays())
        buffer.seek(0)
        with np.load(buffer, allow_pickle=False) as arrays:
            loaded = type(scorer).from_arrays({k: arrays[k] for k in arrays.files})
        new = data[3]
        np.testing.assert_allclose(scorer.score(np.arange(12), new), loaded.score(np.arange(12), new), atol=1e-5)

    def test_a_new_reader_folded_in_from_a_few_papers(self, scorer, data):
        _, features, _, new = data
        picked = np.array([N_PER_TOPIC * 3, N_PER_TOPIC * 3 + 1])  # two papers of the last topic
        rows = sp.csr_matrix((np.ones(2, np.float32), ([0, 0], [0, 1])), shape=(1, 2))
        scores = scorer.score_new_readers(rows, features[picked], new, picked)
        assert scores.shape == (1, new.shape[0]) and np.isfinite(scores).all()
        if scorer.personal:  # the last topic's new papers come first
            assert set(np.argsort(-scores[0])[:3].tolist()) == {9, 10, 11}

    def test_readers_get_their_topic_first(self, scorer, data):
        scores = scorer.score(np.array([0, 4, 7, 10]), data[3])
        if not scorer.personal:  # the same ranking for every reader, whatever they read
            assert (np.argsort(-scores, axis=1) == np.argsort(-scores[0])).all()
            return
        for row, topic in enumerate(range(len(TOPICS))):
            assert set(np.argsort(-scores[row])[:3].tolist()) == {3 * topic, 3 * topic + 1, 3 * topic + 2}


class TestHybrid(ScorerContract):
    make = staticmethod(lambda: HybridScorer(SMALL))


class TestALSContentMap(ScorerContract):
    make = staticmethod(lambda: ALSContentMapScorer(SMALL))


class TestContentProfile(ScorerContract):
    make = staticmethod(ContentProfileScorer)


class TestPopularity(ScorerContract):
    make = staticmethod(PopularityScorer)


class TestRandom(ScorerContract):
    make = staticmethod(lambda: RandomScorer(seed=3))


def test_every_scorer_is_under_contract():
    tested = {c.make().name for c in ScorerContract.__subclasses__()}
    assert tested == set(SCORERS)


def test_liked_shares_add_up_to_a_folded_in_readers_score(data):
    """The explanation behind "because you read": each liked paper's share, summed, is the learned score."""
    from service.recommend.explain import Explainer

    vectorizer, features, conf, new = data
    model = HybridScorer(SMALL).fit(vectorizer, features, conf).model
    liked = np.array([0, 1, 25])
    weights = np.array([1.0, 3.0, 1.0], np.float32)
    rows = sp.csr_matrix((weights, ([0, 0, 0], [0, 1, 2])), shape=(1, 3))
    views = model.item_views(new)
    profiles, ridge, als, cmf = model.fold_in(rows, features[liked], *model.paper_factors(features[liked], liked))
    raw = {"profile": (profiles @ new.T).toarray()[0], "ridge": (ridge @ views.latent.T)[0],
           "als": (als @ views.als.T)[0], "cmf": (cmf @ views.cmf.T)[0],
           "embed": (model.embed_rows(profiles) @ views.embed.T)[0]}  # fmt: skip
    explainer = Explainer(model, views, features[liked], liked)
    shares = explainer.shares([(np.arange(3), weights)], {k: v[None, :] for k, v in raw.items()})[0]
    # a second reader in the same call (fewer papers, so the first one's are padded) changes nothing
    both = explainer.shares(
        [(np.array([2]), weights[:1]), (np.arange(3), weights)], {k: np.stack([v, v]) for k, v in raw.items()}
    )
    np.testing.assert_allclose(both[1], shares, rtol=1e-4, atol=1e-5)
    learned = model.score_rows(rows, features[liked], views, liked)[0]
    centred = shares - shares.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(centred.sum(axis=0), learned, atol=0.05 * np.abs(learned).max())


def test_fold_in_counts_every_training_paper_as_implicit_does():
    """With the model's Y'Y, a folded-in reader is implicit's own recalculate_user over all items."""
    from implicit.cpu.als import AlternatingLeastSquares

    from service.recommend.als import fold_in_users, item_gram

    rng = np.random.default_rng(0)
    items = rng.normal(size=(50, 6)).astype(np.float32)
    params = ALSParams(factors=6, regularization=0.5, alpha=4.0)
    full = sp.csr_matrix((np.array([1.0, 3.0], np.float32), ([0, 0], [3, 17])), shape=(1, 50))
    reference = AlternatingLeastSquares(factors=6, regularization=0.5, alpha=4.0)
    reference.item_factors = items
    want = reference.recalculate_user(0, full)
    rows = sp.csr_matrix(np.array([[1.0, 3.0]], np.float32))
    got = fold_in_users(items[[3, 17]], rows, params, gram=item_gram(items))
    np.testing.assert_allclose(got[0], want, rtol=1e-3, atol=1e-4)
