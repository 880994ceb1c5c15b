"""Every reason a reader can see, with a scenario where it must appear and one where it must not."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from service.models import Paper
from service.recommend import fold_in_clicks, rank_digest, train_model
from service.recommend.inputs import Batch, Candidates, Prefs, RankWeights, Reader
from service.recommend.ranking import score_batch
from service.recommend.reasons import CROWD_REASON, EXPLORE_REASON, LEARNED_REASON, Reasons
from tests.recommend.fixtures import add_events, add_papers, add_subscriber

DAY = dt.date(2025, 3, 3)
TOPICS = ("diffusion", "graphs", "robotics", "speech")


def topic_of(rt, pid: int) -> str:
    with rt.db.session() as s:
        return s.get(Paper, pid).title.split("(")[1].split()[0]


@pytest.fixture
def world(runtime):
    """Past papers in four topics, readers with histories (so the model learns), a trained model, and today's
    candidates: five per topic and one hot graph paper with 42 upvotes."""
    with runtime.db.session() as s:
        past = {t: add_papers(s, t, 10) for t in TOPICS}
        for k, t in enumerate(TOPICS * 2):
            reader = add_subscriber(s, f"past{k}@example.org")
            add_events(s, reader, past[t][k % 2 :: 2], "click")
    assert train_model(runtime)["status"] == "ready"
    with runtime.db.session() as s:
        today = {t: add_papers(s, t, 5, start=100, tag="new") for t in TOPICS}
        hot = add_papers(s, "graphs", 1, start=900, tag="hot", upvotes=42)[0]
    return {"past": past, "today": today, "hot": hot, "all": [p for ids in today.values() for p in ids] + [hot]}


def rank(rt, sid: int, ids: list[int]):
    with rt.db.session() as s:
        return rank_digest(rt, s, [sid], ids, DAY)[sid]


def test_a_stated_topic_is_named_only_on_papers_that_match_it(runtime, world):
    with runtime.db.session() as s:
        carol = add_subscriber(s, "carol@example.org", topics=["speech recognition"], papers_per_email=6)
    picks = rank(runtime, carol, world["all"])
    named = [p for p in picks if "speech recognition" in p.reason]
    assert len(named) >= 3 and all(topic_of(runtime, p.paper_id) == "speech" for p in named)
    hot = next((p for p in picks if p.paper_id == world["hot"]), None)
    assert hot is None or hot.reason == "trending: 42 upvotes"  # ranked on trending, and says so


def test_a_topic_that_matches_nothing_is_never_given_as_a_reason(runtime, world):
    with runtime.db.session() as s:
        dave = add_subscriber(s, "dave@example.org", topics=["quantum chemistry"], papers_per_email=4)
    picks = rank(runtime, dave, world["all"])
    assert len(picks) == 4 and not any("quantum chemistry" in p.reason for p in picks)
    assert any(p.paper_id == world["hot"] and p.reason == "trending: 42 upvotes" for p in picks)


def test_because_you_read_names_the_liked_paper_that_drives_the_pick(runtime, world):
    with runtime.db.session() as s:
        alice = add_subscriber(s, "alice@example.org", papers_per_email=6)
        add_events(s, alice, world["past"]["diffusion"][:6], "click")
    fold_in_clicks(runtime, alice)
    picks = rank(runtime, alice, world["all"])
    because = [p for p in picks if p.reason.startswith("because you read")]
    assert because and topic_of(runtime, because[0].paper_id) == "diffusion"
    for p in because:  # never a paper of another topic "because you read" a diffusion paper
        assert topic_of(runtime, p.paper_id) == "diffusion" and "diffusion study" in p.reason
    others = [p for p in picks if topic_of(runtime, p.paper_id) != "diffusion"]
    assert others and not any(p.reason.startswith("because you read") for p in others)


def tiny(engaged: list[int], because: np.ndarray | None) -> tuple[Reasons, Batch]:
    """Two candidates, one reader with a learned score only (the part that drives both picks)."""
    cands = Candidates(np.array([1, 2]), np.eye(2, dtype=np.float32), [set(), set()], {}, np.zeros(2, np.float32),
                       np.zeros(2, np.float32), [], ["new today", "new today"], np.array(engaged))  # fmt: skip
    reader = Reader(7, Prefs.of([], [], [], [], 2), 3, ("Liked paper",), because)
    batch = Batch([reader], np.array([[2.0, -2.0]], np.float32), np.ones((1, 2), bool), np.zeros((1, 2), np.float32))
    score_batch(batch, cands, RankWeights())
    return Reasons(batch, cands, RankWeights()), batch


def test_because_you_read_needs_a_share_above_the_threshold():
    strong, _ = tiny([0, 0], np.array([[2.0, -2.0]], np.float32))
    assert strong.one(0, 0) == "because you read “Liked paper”"
    weak, _ = tiny([0, 0], np.array([[0.05, -0.05]], np.float32))  # the learned score comes from elsewhere
    assert weak.one(0, 0) == LEARNED_REASON


def test_readers_like_you_only_when_readers_engaged_with_the_paper():
    assert tiny([3, 0], None)[0].one(0, 0) == CROWD_REASON
    assert tiny([0, 0], None)[0].one(0, 0) == LEARNED_REASON


def test_trending_is_said_with_its_figure_and_only_for_trending_papers(runtime, world):
    with runtime.db.session() as s:
        erin = add_subscriber(s, "erin@example.org", papers_per_email=8)
    picks = rank(runtime, erin, world["all"])
    assert any(p.paper_id == world["hot"] and p.reason == "trending: 42 upvotes" for p in picks)
    assert not any(p.reason.startswith("trending") for p in picks if p.paper_id != world["hot"])


def test_exploration_is_labelled_and_only_exploration_is(runtime, world):
    with runtime.db.session() as s:
        fay = add_subscriber(s, "fay@example.org", topics=["speech recognition"], papers_per_email=5)
        gus = add_subscriber(s, "gus@example.org", topics=["speech recognition"], papers_per_email=2)
    picks = rank(runtime, fay, world["all"])
    assert [p.reason for p in picks if p.section == "explore"] == [EXPLORE_REASON]
    assert all(p.reason != EXPLORE_REASON for p in picks if p.section != "explore")
    assert not any(p.section == "explore" or p.reason == EXPLORE_REASON for p in rank(runtime, gus, world["all"]))
