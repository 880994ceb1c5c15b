"""Training reads the interaction history as arrays and folds it into one weighted entry per (reader, paper): the
same matrix the per-event rules give, however the events are spread and however many chunks they arrive in."""

from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pytest
from sqlalchemy import insert

from service.models import Interaction, Paper, Subscriber
from service.recommend import train
from service.recommend.als import confidence_matrix


def test_the_folded_history_is_exactly_the_per_event_confidence_matrix(any_runtime, monkeypatch) -> None:
    monkeypatch.setattr(train, "READ_CHUNK", 7)  # many chunks: the stream is stitched back together
    rng = random.Random(3)
    with any_runtime.db.session() as session:
        papers = [Paper(title=f"Paper {i}", title_key=f"paper-{i}", abstract=f"words {i}") for i in range(6)]
        readers = [Subscriber(email=f"r{i}@example.com", status="confirmed") for i in range(5)]
        session.add_all([*papers, *readers])
        session.flush()
        paper_ids = [p.id for p in papers] + [10_000]  # an event of a paper no longer stored is left out
        events = [
            {
                "subscriber_id": rng.choice(readers).id,
                "paper_id": rng.choice(paper_ids),
                "kind": rng.choice(["sent", "sent", "sent", "click", "more", "less", "open"]),
                "suspected_scanner": rng.random() < 0.1,
            }
            for _ in range(300)
        ]
        session.execute(insert(Interaction), events)

    data = train.load_training_data(any_runtime)

    learned = [
        e for e in events if e["kind"] != "open" and not e["suspected_scanner"] and e["paper_id"] in paper_ids[:-1]
    ]
    user_ids = sorted({e["subscriber_id"] for e in learned})
    item_ids = sorted(paper_ids[:-1])
    expected = confidence_matrix(
        np.array([user_ids.index(e["subscriber_id"]) for e in learned]),
        np.array([item_ids.index(e["paper_id"]) for e in learned]),
        [e["kind"] for e in learned],
        (len(user_ids), len(item_ids)),
    )
    assert data["user_ids"].tolist() == user_ids and data["item_ids"].tolist() == item_ids
    assert data["n_interactions"] == len(learned)
    assert np.array_equal(data["conf"].toarray(), expected.toarray())
    assert (data["conf"].toarray() == -3.0).any() and (data["conf"].toarray() > 1).any()  # every rule was used


def test_an_empty_history_trains_on_text_alone(runtime) -> None:
    with runtime.db.session() as session:
        session.add(Paper(title="Only paper", title_key="only-paper", abstract="words"))
    data = train.load_training_data(runtime)
    assert data["conf"].shape == (0, 1) and data["n_interactions"] == 0


def test_old_sends_stop_counting_as_negatives_but_reactions_of_any_age_stay(any_runtime) -> None:
    newest = dt.datetime(2026, 6, 30, 8)
    days = any_runtime.settings.TRAINING_IMPRESSION_DAYS
    with any_runtime.db.session() as session:
        papers = [Paper(title=f"Paper {i}", title_key=f"paper-{i}", abstract=f"words {i}") for i in range(4)]
        reader = Subscriber(email="reader@example.com", status="confirmed")
        session.add_all([*papers, reader])
        session.flush()
        old = newest - dt.timedelta(days=days + 1)
        session.add_all(
            [
                Interaction(subscriber_id=reader.id, paper_id=papers[0].id, kind="sent", created_at=newest),
                Interaction(subscriber_id=reader.id, paper_id=papers[1].id, kind="sent", created_at=old),
                Interaction(subscriber_id=reader.id, paper_id=papers[2].id, kind="sent", created_at=old),
                Interaction(subscriber_id=reader.id, paper_id=papers[2].id, kind="click", created_at=old),
                Interaction(subscriber_id=reader.id, paper_id=papers[3].id, kind="less", created_at=old),
            ]
        )

    row = train.load_training_data(any_runtime)["conf"].toarray()[0]

    # shown lately: weak negative; shown long ago and ignored: unknown; an old click and an old "less" still count
    assert row.tolist() == pytest.approx([-0.15, 0.0, 1.0, -3.0])
