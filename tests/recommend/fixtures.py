"""Invented papers in four clearly separated topics, and helpers to add subscribers and events."""

from __future__ import annotations

import datetime as dt

from service.models import Paper
from tests import factories
from tests.factories import add_subscriber  # noqa: F401 - the tests' builder

TOPICS = {
    "diffusion": [
        "denoising diffusion", "score matching", "image generation", "sampler steps", "noise schedule",
        "latent diffusion", "guidance scale", "generative prior",
    ],
    "graphs": [
        "graph neural", "message passing", "node classification", "molecular graphs", "graph transformer",
        "edge features", "link prediction", "oversmoothing layers",
    ],
    "robotics": [
        "robot manipulation", "grasping policy", "locomotion controller", "sim-to-real transfer",
        "legged robot", "tactile sensing", "motion planning", "reinforcement rollout",
    ],
    "speech": [
        "speech recognition", "acoustic model", "speaker diarization", "text-to-speech vocoder",
        "phoneme alignment", "audio tokens", "spoken language", "waveform synthesis",
    ],
}  # fmt: skip


def make_paper(topic: str, n: int, **extra) -> Paper:
    phrases = TOPICS[topic]
    a, b, c = phrases[n % 8], phrases[(n + 3) % 8], phrases[(n + 5) % 8]
    return Paper(
        title=f"{a.title()} with {b} ({topic} study {n})",
        title_key=f"{topic}-{n}-{extra.get('tag', '')}",
        abstract=f"We study {a} and {b} for {topic}. Our {c} method improves {a} over prior {b} baselines.",
        authors=extra.get("authors", [f"Author {topic.title()} {n % 3}"]),
        upvotes=extra.get("upvotes", 0),
    )


def add_papers(session, topic: str, count: int, start: int = 0, **extra) -> list[int]:
    papers = [make_paper(topic, start + n, **extra) for n in range(count)]
    session.add_all(papers)
    session.flush()
    return [p.id for p in papers]


DAY = dt.date(2025, 3, 3)  # the recommender tests' digest date


def add_events(session, subscriber_id: int, paper_ids: list[int], kind: str, **extra) -> None:
    """``factories.add_events``, a ``sent`` digest dated before these tests' digest date."""
    factories.add_events(
        session, subscriber_id, paper_ids, kind, **({"before": DAY} if kind == "sent" else {}), **extra
    )
