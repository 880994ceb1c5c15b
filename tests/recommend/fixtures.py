"""Invented papers in four clearly separated topics, and helpers to add subscribers and events."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from service.models import Delivery, Interaction, Paper, Subscriber

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


def add_subscriber(session, email: str, **prefs) -> int:
    sub = Subscriber(email=email, status="confirmed", confirmed_at=dt.datetime(2025, 1, 1), **prefs)
    session.add(sub)
    session.flush()
    return sub.id


SENT_ON = dt.date(2025, 3, 2)  # the day before the tests' digest date: a digest of the last week showed these


def add_events(session, subscriber_id: int, paper_ids: list[int], kind: str, **extra) -> None:
    """Reactions as interaction rows; ``sent``: a sent digest showing these papers (what training learns as shown,
    and what a later digest must not repeat), one more day back for each earlier one of the reader."""
    if kind != "sent":
        session.add_all(Interaction(subscriber_id=subscriber_id, paper_id=p, kind=kind, **extra) for p in paper_ids)
        session.flush()
        return
    earlier = session.scalar(select(func.count()).where(Delivery.subscriber_id == subscriber_id))
    picks = [{"paper_id": p, "position": i + 1, "section": "for_you"} for i, p in enumerate(paper_ids)]
    session.add(
        Delivery(subscriber_id=subscriber_id, digest_date=SENT_ON - dt.timedelta(days=earlier), status="sent",
                 picks=picks)
    )  # fmt: skip
    session.flush()
