"""train_model + rank_digest on a real (SQLite) database: what a subscriber would notice in their digest."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from service.models import Interaction, ModelVersion, Paper, Subscriber
from service.recommend import SECTIONS, Pick, fold_in_clicks, rank_digest, train_model
from service.recommend import hybrid as hybrid_module
from service.recommend.store import latest_model
from tests.recommend.fixtures import add_events, add_papers, add_subscriber

DAY = dt.date(2025, 3, 3)


def topic_of(session, pid: int) -> str:
    return session.get(Paper, pid).title.split("(")[1].split()[0]


@pytest.fixture
def world(runtime):
    """Past papers in four topics, readers with histories, and a fresh batch of today's candidates."""
    with runtime.db.session() as s:
        past = {t: add_papers(s, t, 10) for t in ("diffusion", "graphs", "robotics", "speech")}
        alice = add_subscriber(s, "alice@example.org", papers_per_email=5)
        bob = add_subscriber(s, "bob@example.org", papers_per_email=5)
        add_events(s, alice, past["diffusion"][:6], "sent")
        add_events(s, alice, past["diffusion"][:6], "click")
        add_events(s, bob, past["robotics"][:6], "click")
        add_events(s, bob, past["graphs"][:2], "click")
    return {"past": past, "alice": alice, "bob": bob}


def new_candidates(runtime, per_topic: int = 6, **extra) -> dict[str, list[int]]:
    with runtime.db.session() as s:
        return {
            t: add_papers(s, t, per_topic, start=100, tag="new", **extra)
            for t in ("diffusion", "graphs", "robotics", "speech")
        }


def rank(runtime, subs, cands) -> dict[int, list[Pick]]:
    with runtime.db.session() as s:
        return rank_digest(runtime, s, subs, cands, DAY)


def test_train_reports_and_saves_a_ready_version(runtime, world):
    report = train_model(runtime)
    assert report["status"] == "ready", report
    assert report["n_users"] == 2 and report["n_items"] == 40 and report["n_interactions"] == 20
    with runtime.db.session() as s:
        version = s.get(ModelVersion, report["model_version"])
        assert version.status == "ready"
        files = sorted(p.name for p in (runtime.settings.MODEL_DIR / f"v{version.id}").iterdir())
    assert files == ["meta.json", "model.npz"]


def test_digest_follows_what_each_reader_clicked(runtime, world):
    train_model(runtime)
    cands = new_candidates(runtime)
    all_ids = [p for ids in cands.values() for p in ids]
    picks = rank(runtime, [world["alice"], world["bob"]], all_ids)
    with runtime.db.session() as s:
        alice_top = [topic_of(s, p.paper_id) for p in picks[world["alice"]] if p.section == "for_you"]
        bob_top = [topic_of(s, p.paper_id) for p in picks[world["bob"]] if p.section == "for_you"]
    assert alice_top[:3] == ["diffusion"] * 3
    assert bob_top[0] == "robotics"
    first = next(p for p in picks[world["alice"]] if p.section == "for_you")
    assert first.reason.startswith("because you read “") and "diffusion study" in first.reason
    for ps in picks.values():
        assert all(isinstance(p, Pick) and p.section in SECTIONS for p in ps)
        assert len({p.paper_id for p in ps}) == len(ps)
        assert len(ps) == 5  # papers per email, everything included
        assert sum(p.section == "explore" for p in ps) == 1


def test_never_resends_and_drops_excluded_keywords(runtime, world):
    train_model(runtime)
    cands = new_candidates(runtime)
    with runtime.db.session() as s:
        add_events(s, world["alice"], cands["diffusion"][:4], "sent")
        s.get(Subscriber, world["alice"]).exclude_keywords = ["speech"]
    all_ids = [p for ids in cands.values() for p in ids]
    picks = rank(runtime, [world["alice"]], all_ids)[world["alice"]]
    chosen = {p.paper_id for p in picks}
    assert not chosen & set(cands["diffusion"][:4])
    assert not chosen & set(cands["speech"])
    assert chosen & set(cands["diffusion"][4:])  # the two unsent diffusion papers still come first


def test_followed_authors_are_pinned_first(runtime, world):
    train_model(runtime)
    cands = new_candidates(runtime)
    with runtime.db.session() as s:
        star = add_papers(s, "speech", 1, start=500, tag="star", authors=["Ada Lovelace", "X Y"])[0]
        s.get(Subscriber, world["alice"]).followed_authors = ["ada lovelace"]
    all_ids = [p for ids in cands.values() for p in ids] + [star]
    picks = rank(runtime, [world["alice"]], all_ids)[world["alice"]]
    assert picks[0].paper_id == star and picks[0].section == "followed"
    assert picks[0].reason == "new from ada lovelace, whom you follow"


def test_cold_start_uses_stated_topics_and_trending(runtime):
    with runtime.db.session() as s:
        for t in ("diffusion", "graphs", "robotics", "speech"):
            add_papers(s, t, 5)
        carol = add_subscriber(s, "carol@example.org", topics=["speech recognition"], papers_per_email=4)
        dave = add_subscriber(s, "dave@example.org", papers_per_email=4)
    report = train_model(runtime)
    assert report["status"] == "ready" and report["n_interactions"] == 0
    cands = new_candidates(runtime, per_topic=4)
    with runtime.db.session() as s:
        hot = add_papers(s, "graphs", 1, start=900, tag="hot", upvotes=42)[0]
    all_ids = [p for ids in cands.values() for p in ids] + [hot]
    picks = rank(runtime, [carol, dave], all_ids)
    carol_first = next(p for p in picks[carol] if p.section == "for_you")
    assert carol_first.paper_id in cands["speech"]
    assert "speech recognition" in carol_first.reason
    trending = [p for p in picks[dave] if p.section == "trending"] + [p for p in picks[dave] if p.paper_id == hot]
    assert any(p.paper_id == hot and p.reason == "trending: 42 upvotes" for p in trending)


def test_works_with_no_model_at_all(runtime, world):
    cands = new_candidates(runtime, per_topic=3)
    all_ids = [p for ids in cands.values() for p in ids]
    picks = rank(runtime, [world["alice"]], all_ids)[world["alice"]]
    assert len(picks) == 5


def test_less_like_this_pushes_a_topic_down(runtime):
    with runtime.db.session() as s:
        past = {t: add_papers(s, t, 8) for t in ("diffusion", "graphs", "robotics", "speech")}
        eve = add_subscriber(s, "eve@example.org", papers_per_email=6)
        frank = add_subscriber(s, "frank@example.org", papers_per_email=6)
        for sub in (eve, frank):
            add_events(s, sub, past["diffusion"][:4] + past["graphs"][:4], "click")
        add_events(s, frank, past["graphs"][4:8], "less")
    train_model(runtime)
    cands = new_candidates(runtime, per_topic=5)
    all_ids = cands["diffusion"] + cands["graphs"] + cands["robotics"]
    picks = rank(runtime, [eve, frank], all_ids)
    eve_graphs = sum(p.paper_id in cands["graphs"] for p in picks[eve] if p.section == "for_you")
    frank_graphs = sum(p.paper_id in cands["graphs"] for p in picks[frank] if p.section == "for_you")
    assert frank_graphs < eve_graphs


def test_scanner_clicks_are_never_learned(runtime):
    with runtime.db.session() as s:
        ids = add_papers(s, "diffusion", 5)
        gina = add_subscriber(s, "gina@example.org")
        add_events(s, gina, ids, "click", suspected_scanner=True)
    report = train_model(runtime)
    assert report["status"] == "ready" and report["n_interactions"] == 0 and report["n_users"] == 0


def test_failed_training_keeps_the_last_good_model(runtime, world, monkeypatch):
    good = train_model(runtime)

    def explode(*args, **kwargs):
        raise MemoryError("out of memory while fitting")

    monkeypatch.setattr(hybrid_module.HybridModel, "fit", classmethod(lambda cls, *a, **k: explode()))
    bad = train_model(runtime)
    assert bad["status"] == "failed" and "out of memory" in bad["error"]
    with runtime.db.session() as s:
        rows = s.scalars(select(ModelVersion).order_by(ModelVersion.id)).all()
        assert [r.status for r in rows] == ["ready", "failed"]
        assert latest_model(s).version_id == good["model_version"]
    assert not (runtime.settings.MODEL_DIR / f"v{bad['model_version']}").exists()
    cands = new_candidates(runtime)
    picks = rank(runtime, [world["alice"]], [p for ids in cands.values() for p in ids])[world["alice"]]
    assert picks[0].reason.startswith("because you read")


def test_fold_in_personalises_a_reader_before_the_next_training(runtime, world):
    train_model(runtime)
    with runtime.db.session() as s:
        hana = add_subscriber(s, "hana@example.org", papers_per_email=4)
    cands = new_candidates(runtime)
    all_ids = [p for ids in cands.values() for p in ids]
    with runtime.db.session() as s:
        add_events(s, hana, world["past"]["speech"][:5], "click")
    result = fold_in_clicks(runtime, hana)
    assert result["status"] == "ok" and result["n_interactions"] == 5
    picks = rank(runtime, [hana], all_ids)[hana]
    for_you = [p.paper_id for p in picks if p.section == "for_you"]
    assert for_you[0] in cands["speech"] and for_you[1] in cands["speech"]
    with runtime.db.session() as s:
        assert s.scalar(select(Interaction.id).where(Interaction.subscriber_id == hana)) is not None


def test_a_training_killed_midway_is_marked_failed_and_never_used(runtime, world):
    good = train_model(runtime)
    with runtime.db.session() as s:  # a run that died after creating its row (and maybe half its files)
        dead = ModelVersion(status="training", created_at=dt.datetime(2020, 1, 1))
        s.add(dead)
        s.flush()
        dead_id = dead.id
    (runtime.settings.MODEL_DIR / f".tmp-v{dead_id}-1-1").mkdir(parents=True)
    with runtime.db.session() as s:
        assert latest_model(s).version_id == good["model_version"]
    newer = train_model(runtime)
    with runtime.db.session() as s:
        row = s.get(ModelVersion, dead_id)
        assert row.status == "failed" and "interrupted" in row.error
        assert latest_model(s).version_id == newer["model_version"] > dead_id


def test_same_digest_on_sqlite_and_postgresql_and_on_a_repeat_call(any_runtime):
    """The id filters (bound array on PostgreSQL) drop sent and "less" papers alike; a second batch agrees."""
    rt = any_runtime
    with rt.db.session() as s:
        past = {t: add_papers(s, t, 8) for t in ("diffusion", "graphs", "robotics", "speech")}
        ivy = add_subscriber(s, "ivy@example.org", papers_per_email=5)
        add_events(s, ivy, past["diffusion"][:5], "click")
    train_model(rt)
    cands = new_candidates(rt, per_topic=4)
    all_ids = [p for ids in cands.values() for p in ids]
    with rt.db.session() as s:
        add_events(s, ivy, cands["diffusion"][:2], "sent")
        add_events(s, ivy, cands["speech"][:1], "less")
    first = rank(rt, [ivy], all_ids)[ivy]
    chosen = {p.paper_id for p in first}
    assert first and not chosen & set(cands["diffusion"][:2] + cands["speech"][:1])
    assert next(p for p in first if p.section == "for_you").paper_id in cands["diffusion"][2:]
    assert rank(rt, [ivy], all_ids)[ivy] == first


def test_trending_reflects_upvotes_that_arrive_between_batches(runtime, world):
    """The candidates' text side is reused across batches of one send; the live trending counts are not."""
    train_model(runtime)
    cands = new_candidates(runtime, per_topic=3)
    all_ids = [p for ids in cands.values() for p in ids]
    with runtime.db.session() as s:
        s.get(Subscriber, world["bob"]).papers_per_email = 4  # one trending slot (an email of 4 has room for one)
    before = rank(runtime, [world["bob"]], all_ids)[world["bob"]]
    assert not any(p.reason.startswith("trending: ") for p in before)
    with runtime.db.session() as s:
        s.get(Paper, cands["speech"][0]).upvotes = 77
    after = rank(runtime, [world["bob"]], all_ids)[world["bob"]]
    assert any(p.paper_id == cands["speech"][0] and p.reason == "trending: 77 upvotes" for p in after)
