"""The optional embedding view: WordLlama from its own wheel (never a download), inside the hybrid when trained
with it, and a model without it still loads and scores."""

from __future__ import annotations

import numpy as np
import pytest

from service.recommend import embed
from service.recommend.hybrid import HybridParams
from service.recommend.scorers import HybridScorer
from tests.recommend.test_scorers import SMALL, ScorerContract


def test_words_are_embedded_from_the_wheel_without_any_download(monkeypatch):
    import requests

    def no_network(*args, **kwargs):
        raise AssertionError("WordLlama tried to download something")

    monkeypatch.setattr(requests, "get", no_network)
    embed._model.cache_clear()
    vectors = embed.word_vectors(np.array(["speech", "audio", "molecule", "chemistry"]))
    assert vectors.shape == (4, embed.DIM)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    sim = vectors @ vectors.T
    assert sim[0, 1] > sim[0, 2] and sim[2, 3] > sim[2, 1]  # related words are closer


def test_without_the_package_the_view_is_absent(monkeypatch):
    monkeypatch.setattr(embed, "available", lambda: False)
    assert embed.word_vectors(np.array(["speech"])).shape == (1, 0)


class TestHybridWithEmbedding(ScorerContract):
    """The hybrid with the embedding view honours the whole scorer contract."""

    make = staticmethod(lambda: HybridScorer(HybridParams(**{**SMALL.to_json(), "w_embed": 1.5, "als": SMALL.als,
                                                              "cmf": SMALL.cmf})))  # fmt: skip

    def test_the_view_is_in_the_model(self, scorer, data):
        assert scorer.model.embed_words.shape == (data[0].dim, embed.DIM)
        assert scorer.model.item_views(data[3]).embed.shape == (data[3].shape[0], embed.DIM)


@pytest.mark.parametrize("w_embed", [0.0, 1.0])
def test_a_model_saved_without_the_view_loads(data, w_embed):
    vectorizer, features, conf, new = data
    scorer = HybridScorer(HybridParams(**{**SMALL.to_json(), "w_embed": w_embed, "als": SMALL.als, "cmf": SMALL.cmf}))
    scorer.fit(vectorizer, features, conf)
    arrays = scorer.to_arrays()
    arrays.pop("embed_words")  # as written before the view existed
    loaded = HybridScorer.from_arrays(arrays)
    assert np.isfinite(loaded.score(np.arange(12), new)).all()
