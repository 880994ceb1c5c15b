"""Fixtures of the recommender tests: a tiny corpus in four topics with readers of each."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from service.recommend.content import TextVectorizer
from tests.recommend.fixtures import TOPICS, make_paper

N_PER_TOPIC = 10  # training papers per topic; readers 0-2 read topic 0, 3-5 topic 1, ...


def texts(start: int, n: int) -> list[str]:
    return [f"{p.title} {p.abstract}" for t in TOPICS for p in (make_paper(t, start + i) for i in range(n))]


@pytest.fixture(scope="module")
def data():
    train = texts(0, N_PER_TOPIC)
    vectorizer = TextVectorizer.fit(train)
    features = vectorizer.transform(train)
    rng = np.random.default_rng(1)
    blocks = np.kron(np.eye(len(TOPICS)), np.ones((3, N_PER_TOPIC)))  # 12 readers, 3 per topic
    blocks[11] = 0  # a reader the training never heard from
    conf = sp.csr_matrix((blocks * (rng.random(blocks.shape) < 0.6)).astype(np.float32))
    new = vectorizer.transform(texts(100, 3))  # 3 new papers per topic, in TOPICS order
    return vectorizer, features, conf.tocsr(), new
