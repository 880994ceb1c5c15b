"""Training reads the interaction history as arrays and folds it into one weighted entry per (reader, paper): the
same matrix the per-event rules give, however the events are spread and however many chunks they arrive in."""

from __future__ import annotations

import datetime as dt
import json
import random

import numpy as np
import pytest
from sqlalchemy import insert

from service.models import Delivery, Interaction, Paper, Subscriber
from service.recommend import train
from service.recommend.als import confidence_matrix


def _store_history(session, events: list[dict], day: dt.date) -> None:
    """``events`` as the service stores them: what digests showed as the picks of sent deliveries (up to 13 a
    digest, one digest a reader a day), reactions as interaction rows."""
    shown: dict[int, list[int]] = {}
    for e in events:
        if e["kind"] == "sent":
            shown.setdefault(e["subscriber_id"], []).append(e["paper_id"])
    for reader, papers in shown.items():
        for k in range(0, len(papers), 13):
            picks = [{"paper_id": p, "position": i + 1} for i, p in enumerate(papers[k : k + 13])]
            session.add(Delivery(subscriber_id=reader, digest_date=day + dt.timedelta(days=k // 13), status="sent",
                                 picks=picks))  # fmt: skip
    reactions = [e for e in events if e["kind"] != "sent"]
    if reactions:
        session.execute(insert(Interaction), reactions)


def test_the_folded_history_is_exactly_the_per_event_confidence_matrix(any_runtime, monkeypatch) -> None:
    monkeypatch.setattr(train, "READ_CHUNK", 7)  # many chunks: the stream is stitched back together
    rng = random.Random(3)
    with any_runtime.db.session() as session:
        papers = [Paper(title=f"Paper {i}", title_key=f"paper-{i}", abstract=f"words {i}") for i in range(6)]
        readers = [Subscriber(email=f"r{i}@example.com", status="confirmed") for i in range(5)]
        session.add_all([*papers, *readers])
        session.flush()
        paper_ids = [p.id for p in papers] + [10_000]  # an event of a paper no longer stored is left out
        events = []
        for _ in range(300):
            kind = rng.choice(["sent", "sent", "sent", "click", "more", "less", "open"])
            events.append(
                {
                    "subscriber_id": rng.choice(readers).id,
                    "paper_id": rng.choice(paper_ids),
                    "kind": kind,
                    "suspected_scanner": kind != "sent" and rng.random() < 0.1,
                }
            )
        _store_history(session, events, dt.date(2026, 6, 1))

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
                Delivery(subscriber_id=reader.id, digest_date=newest.date(), status="sent", sent_at=newest,
                         picks=[{"paper_id": papers[0].id, "position": 1}]),
                Delivery(subscriber_id=reader.id, digest_date=old.date(), status="sent", sent_at=old,
                         picks=[{"paper_id": papers[1].id, "position": 1}, {"paper_id": papers[2].id, "position": 2}]),
                Interaction(subscriber_id=reader.id, paper_id=papers[2].id, kind="click", created_at=old),
                Interaction(subscriber_id=reader.id, paper_id=papers[3].id, kind="less", created_at=old),
            ]
        )  # fmt: skip

    row = train.load_training_data(any_runtime)["conf"].toarray()[0]

    # shown lately: weak negative; shown long ago and ignored: unknown; an old click and an old "less" still count
    assert row.tolist() == pytest.approx([-0.15, 0.0, 1.0, -3.0])


def test_moving_the_sent_rows_into_the_deliveries_leaves_the_training_matrix_unchanged(tmp_path) -> None:
    """Migration 0006 on a history written the old way (a ``sent`` row per paper shown, some of a simulation with no
    delivery): the matrix training learns from before the move (the rows, read as they were) and after it (the
    digests' picks) is the same."""
    from alembic import command
    from sqlalchemy import text

    from service.db import Database, alembic_config

    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    cfg = alembic_config(db.url)
    command.upgrade(cfg, "0005")
    rng = random.Random(11)
    base = dt.datetime(2026, 6, 1, 8)
    with db.engine.begin() as conn:
        for i in range(8):
            conn.execute(text("INSERT INTO papers (id, title_key, title, abstract, authors, upvotes, num_comments,"
                              " code_links, ai_keywords, first_seen_at, last_seen_at, date_basis, withdrawn)"
                              " VALUES (:i, :k, :t, 'words', '[]', 0, 0, '[]', '[]', :at, :at, 'listing', 0)"),
                         {"i": i + 1, "k": f"p{i}", "t": f"Paper {i}", "at": base})  # fmt: skip
        for r in range(4):
            conn.execute(text("INSERT INTO subscribers (id, email, status, created_at, token_version, link_key,"
                              " topics, include_keywords, exclude_keywords, followed_authors, papers_per_email,"
                              " frequency, weekly_day, send_hour, timezone, email_format, tracking_enabled,"
                              " is_simulated) VALUES (:i, :e, 'confirmed', :at, 1, :k, '[]', '[]', '[]', '[]', 10,"
                              " 'daily', 0, 7, 'UTC', 'html', 1, 0)"),
                         {"i": r + 1, "e": f"r{r}@example.org", "at": base, "k": f"key-{r:08d}"})  # fmt: skip
        for r in range(1, 5):
            for day in range(5):
                at = base + dt.timedelta(days=day)
                shown = rng.sample(range(1, 9), 4)
                delivery = None
                if r != 4:  # reader 4's history came from a simulation: rows without a delivery
                    delivery = conn.execute(
                        text("INSERT INTO deliveries (subscriber_id, digest_date, status, picks, attempts, planned_at,"
                             " sent_at) VALUES (:s, :d, 'sent', :p, 1, :at, :at) RETURNING id"),
                        {"s": r, "d": at.date(), "at": at,
                         "p": json.dumps([{"paper_id": p, "position": k + 1} for k, p in enumerate(shown)])},
                    ).scalar()  # fmt: skip
                for k, p in enumerate(shown):
                    conn.execute(text("INSERT INTO interactions (subscriber_id, paper_id, delivery_id, kind, position,"
                                      " created_at, suspected_scanner) VALUES (:s, :p, :d, 'sent', :k, :at, 0)"),
                                 {"s": r, "p": p, "d": delivery, "k": k + 1, "at": at})  # fmt: skip
                    if rng.random() < 0.3:
                        kind = rng.choice(["click", "more", "less"])
                        conn.execute(text("INSERT INTO interactions (subscriber_id, paper_id, delivery_id, kind,"
                                          " created_at, suspected_scanner) VALUES (:s, :p, :d, :kind, :at, 0)"),
                                     {"s": r, "p": p, "d": delivery, "kind": kind, "at": at})  # fmt: skip
    old_sql = (  # training's read before the move: every reaction, and the sent rows
        "SELECT subscriber_id, paper_id, CASE kind WHEN 'click' THEN 0 WHEN 'more' THEN 1 WHEN 'less' THEN 2"
        " WHEN 'sent' THEN 3 END FROM interactions WHERE suspected_scanner = 0"
    )
    with db.engine.connect() as conn:
        before = np.array(conn.execute(text(old_sql)).all(), dtype=np.int64)
    item_ids = np.arange(1, 9)
    users_before, conf_before, n_before = train.fold_events(before, item_ids)

    command.upgrade(cfg, "head")
    with db.session() as session:
        after = train.read_events(session)
        assert session.scalar(text("SELECT count(*) FROM interactions WHERE kind = 'sent'")) == 0
    users_after, conf_after, n_after = train.fold_events(after, item_ids)
    assert users_before.tolist() == users_after.tolist() and n_before == n_after
    assert np.array_equal(conf_before.toarray(), conf_after.toarray())
    command.downgrade(cfg, "0005")  # and back: the rows are written again from the picks
    with db.engine.connect() as conn:
        again = np.array(conn.execute(text(old_sql)).all(), dtype=np.int64)
    assert np.array_equal(train.fold_events(again, item_ids)[1].toarray(), conf_before.toarray())
    db.dispose()
