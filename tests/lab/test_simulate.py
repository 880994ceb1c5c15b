"""Simulated readers click what their hidden taste likes, more so near the top of an email."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from lab.simulate import affinity, click_probability, position_bias, simulate_population, tokens
from service.models import Delivery, Interaction, Paper, Subscriber
from service.runtime import Runtime

TOPICS = {
    "vision": "diffusion image generation pixels denoising latent images visual segmentation",
    "language": "language models tokens transformer text instruction reasoning prompts translation",
    "robots": "robot manipulation grasping reinforcement policy control locomotion simulation",
    "audio": "speech audio acoustic speaker waveform recognition music spectrogram",
}


def _add_papers(rt: Runtime, per_topic: int = 6) -> None:
    with rt.db.session() as session:
        for day, (topic, words) in enumerate(TOPICS.items()):
            for i in range(per_topic):
                title = f"{topic.title()} study {i}: {' '.join(words.split()[i % 4 : i % 4 + 3])}"
                session.add(
                    Paper(
                        title=title,
                        title_key=f"{topic}-{i}",
                        abstract=words,
                        upvotes=i,
                        url=f"https://example.org/{topic}/{i}",
                        listing_date=dt.date(2026, 11, 1) + dt.timedelta(days=day),
                    )
                )


def test_click_model_prefers_matching_papers_and_top_positions() -> None:
    profile = {"terms": {"diffusion": 1.0, "image": 0.8}, "activity": 1.0}
    assert affinity(profile, "Latent diffusion for image synthesis") > 0.8
    assert affinity(profile, "Speech recognition with transformers") == 0.0
    assert position_bias(1) == 1.0 > position_bias(2) > position_bias(10)
    assert click_probability(profile, "diffusion image", 1) > click_probability(profile, "diffusion image", 8)
    assert click_probability(profile, "diffusion image", 1) > 5 * click_probability(profile, "speech audio", 1)


def test_tokens_fold_accents_and_drop_stop_words() -> None:
    assert tokens("Café models and the Résumé of DIFFUSION") == {"cafe", "resume", "diffusion"}


def test_population_has_stated_and_hidden_tastes_and_a_click_history(runtime: Runtime) -> None:
    _add_papers(runtime)
    report = simulate_population(runtime, n_subscribers=30, days=5, seed=3)
    assert report["subscribers"] == 30
    with runtime.db.session() as session:
        readers = session.scalars(select(Subscriber)).all()
        assert all(r.status == "confirmed" and r.is_simulated and r.simulation_profile for r in readers)
        assert any(r.topics for r in readers) and any(not r.topics for r in readers)  # some cold-start readers
        clicks = session.scalar(select(func.count()).where(Interaction.kind == "click"))
        digests = session.scalars(select(Delivery).where(Delivery.status == "sent")).all()
        sent = sum(len(d.picks) for d in digests)
        top = session.scalar(select(func.count()).where(Interaction.kind == "click", Interaction.position == 1))
        low = session.scalar(select(func.count()).where(Interaction.kind == "click", Interaction.position == 6))
    assert sent == report["sent"] > 0 and 0 < clicks == report["clicks"] < sent
    assert top > low  # position bias shows in the history
    # the history never uses the newest listing: those papers stay new for the next digest
    with runtime.db.session() as session:
        newest = session.scalar(select(func.max(Paper.listing_date)))
        newest_ids = set(session.scalars(select(Paper.id).where(Paper.listing_date == newest)))
        shown = {p["paper_id"] for d in session.scalars(select(Delivery)) for p in d.picks}
    assert shown and not shown & newest_ids


def test_same_seed_adds_nobody_twice(runtime: Runtime) -> None:
    _add_papers(runtime)
    simulate_population(runtime, n_subscribers=5, days=2, seed=1)
    again = simulate_population(runtime, n_subscribers=5, days=2, seed=1)
    assert again["subscribers"] == 0


def test_simulation_needs_papers(runtime: Runtime) -> None:
    with pytest.raises(ValueError, match="ingest"):
        simulate_population(runtime, n_subscribers=2, days=2, seed=0)
