"""The model's parts: confidence weights, collective fold-in, save/load without pickle, atomic writes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

from service.recommend.als import EVENT_WEIGHTS, ALSParams, confidence_matrix
from service.recommend.cmf import fit_collective, fold_in_items
from service.recommend.content import TextVectorizer
from service.recommend.hybrid import HybridModel, HybridParams
from service.recommend.store import load_model, save_model, write_model
from tests.recommend.fixtures import TOPICS, make_paper


def corpus(n: int = 12) -> list[str]:
    return [f"{p.title} {p.abstract}" for t in TOPICS for p in (make_paper(t, i) for i in range(n))]


def test_confidence_less_wins_positives_add_sent_is_weak():
    users = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    items = np.array([0, 0, 1, 1, 2, 0, 0, 3])
    kinds = ["sent", "click", "click", "less", "sent", "click", "more", "open"]
    conf = confidence_matrix(users, items, kinds, (2, 4)).toarray()
    assert conf[0, 0] == EVENT_WEIGHTS["click"]  # sent + click is a click
    assert conf[0, 1] == EVENT_WEIGHTS["less"] < 0  # "less" is never a positive
    assert EVENT_WEIGHTS["sent"] == conf[0, 2] > -1  # weaker than any real signal
    assert conf[1, 0] == EVENT_WEIGHTS["click"] + EVENT_WEIGHTS["more"]
    assert conf[1, 3] == 0  # unknown kinds ignored


def test_fold_in_of_new_papers_is_implicits_own_least_squares():
    from implicit.cpu.als import AlternatingLeastSquares

    texts = corpus()
    vec = TextVectorizer.fit(texts)
    feats = vec.transform(texts)
    rng = np.random.default_rng(0)
    clicks = sp.csr_matrix((rng.random((20, feats.shape[0])) < 0.1).astype(np.float32))
    params = ALSParams(factors=8, regularization=0.5, alpha=5.0, iterations=5)
    cf = fit_collective(clicks, feats, 2.0, [params])
    ours = fold_in_items(cf, feats[:5], 2.0, [params])
    ref = AlternatingLeastSquares(factors=8, regularization=0.5, alpha=5.0)
    ref.item_factors = cf.words
    ref.user_factors = np.zeros((5, 8), np.float32)
    theirs = ref.recalculate_user(np.arange(5), (2.0 * feats[:5]).tocsr())
    np.testing.assert_allclose(ours, theirs, rtol=2e-3, atol=2e-4)


def test_saved_model_scores_exactly_like_the_fitted_one(tmp_path):
    texts = corpus()
    vec = TextVectorizer.fit(texts)
    feats = vec.transform(texts)
    conf = sp.csr_matrix(np.kron(np.eye(4), np.ones((3, 12))).astype(np.float32))  # 12 users, 3 per topic
    model = HybridModel.fit(vec, feats, conf, HybridParams(svd_dim=16))
    new = vec.transform([f"{p.title} {p.abstract}" for p in (make_paper("graphs", 50), make_paper("speech", 51))])
    before = model.score(np.arange(12), model.item_views(new))
    path = save_model(tmp_path, 1, model, np.arange(100, 112), np.arange(48), {"note": "x"})
    stored = load_model(path, 1)
    after = stored.model.score(np.arange(12), stored.model.item_views(new))
    np.testing.assert_allclose(before, after, rtol=1e-5, atol=1e-5)
    assert stored.user_row[100] == 0 and json.loads((path / "meta.json").read_text())["note"] == "x"
    with np.load(path / "model.npz", allow_pickle=False) as data:  # loads without pickle
        assert data["vec_vocabulary"].dtype.kind == "U"
    graphs_readers, speech_readers = before[3:6], before[9:12]
    assert (graphs_readers[:, 0] > graphs_readers[:, 1]).all() and (speech_readers[:, 1] > speech_readers[:, 0]).all()


def test_an_interrupted_write_leaves_no_model_behind(tmp_path):
    write_model(tmp_path, 7, {"ok": np.zeros(3)}, {"good": True})
    bad = {"ok": np.ones(3), "bad": np.array([object()], dtype=object)}  # would need pickle: refused mid-write
    with pytest.raises(ValueError, match="pickle"):
        write_model(tmp_path, 8, bad, {})
    assert not (tmp_path / "v8").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]
    with np.load(tmp_path / "v7" / "model.npz", allow_pickle=False) as data:  # the earlier model is untouched
        assert data["ok"].sum() == 0


def test_unread_papers_in_the_training_corpus_do_not_change_what_readers_are_learned_to_like():
    """The daily job ingests the day's listing before the nightly training: those papers nobody has seen yet must
    not count as papers every reader declined (an empty ALS column), and are scored from their words as new."""
    read, unread = corpus(), [f"{p.title} {p.abstract}" for p in (make_paper("speech", 200 + i) for i in range(24))]
    vec = TextVectorizer.fit(read + unread)
    feats = vec.transform(read + unread)
    clicks = np.kron(np.eye(4), np.ones((3, 12))).astype(np.float32)  # 12 readers, 3 per topic, speech last
    params = HybridParams(svd_dim=16)
    without = HybridModel.fit(vec, feats[: len(read)], sp.csr_matrix(clicks), params)
    unread_columns = np.zeros((12, 24), np.float32)
    with_unread = HybridModel.fit(vec, feats, sp.csr_matrix(np.hstack([clicks, unread_columns])), params)
    np.testing.assert_allclose(with_unread.cmf.users, without.cmf.users, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(with_unread.cmf.words, without.cmf.words, rtol=1e-5, atol=1e-6)
    new_rows = np.arange(len(read), len(read) + 24)
    _, learned = with_unread.paper_factors(feats[new_rows], new_rows)
    np.testing.assert_allclose(learned, with_unread.item_views(feats[new_rows]).cmf, rtol=1e-5, atol=1e-6)
    graphs = vec.transform([f"{p.title} {p.abstract}" for p in (make_paper("graphs", 300 + i) for i in range(4))])
    scores = with_unread.score(np.arange(12), with_unread.item_views(sp.vstack([feats[new_rows[:4]], graphs])))
    assert (scores[9:, :4].min(axis=1) > scores[9:, 4:].max(axis=1)).all()  # speech readers: the speech papers first
    assert (scores[3:6, 4:].min(axis=1) > scores[3:6, :4].max(axis=1)).all()  # graphs readers: the graphs papers
