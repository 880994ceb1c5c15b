"""What everyone is reading: upvotes, comments, GitHub stars, and the first clicks of all our subscribers.

Counts are log-damped so one viral paper does not drown the rest; the reason names the strongest signal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.models import Interaction, Paper

WEIGHTS = {"upvotes": 1.0, "comments": 0.5, "stars": 0.3, "clicks": 1.0}


@dataclass
class Trending:
    scores: np.ndarray  # one per candidate, >= 0
    reasons: list[str]


def _fmt(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 10_000 else str(n)


def trending_for(session: Session, papers: list[Paper]) -> Trending:
    """Scores and reasons for ``papers`` (in that order)."""
    ids = [p.id for p in papers]
    clicks: dict[int, int] = {}
    if ids:
        rows = session.execute(
            select(Interaction.paper_id, func.count(func.distinct(Interaction.subscriber_id)))
            .where(
                Interaction.paper_id.in_(ids),
                Interaction.kind.in_(("click", "more")),
                Interaction.suspected_scanner.is_(False),
            )
            .group_by(Interaction.paper_id)
        ).all()
        clicks = {int(pid): int(n) for pid, n in rows}
    scores = np.zeros(len(papers), dtype=np.float32)
    reasons: list[str] = []
    for i, p in enumerate(papers):
        signals = {
            "upvotes": int(p.upvotes or 0),
            "comments": int(p.num_comments or 0),
            "stars": int(p.github_stars or 0),
            "clicks": clicks.get(p.id, 0),
        }
        parts = {k: WEIGHTS[k] * float(np.log1p(v)) for k, v in signals.items()}
        scores[i] = sum(parts.values())
        reasons.append(_reason(signals, parts))
    return Trending(scores, reasons)


def _reason(signals: dict[str, int], parts: dict[str, float]) -> str:
    top = max(parts, key=lambda k: parts[k])
    n = signals[top]
    if n == 0:
        return "new today"
    if top == "upvotes":
        return f"trending: {_fmt(n)} upvote{'s' if n != 1 else ''}"
    if top == "comments":
        return f"trending: {_fmt(n)} comment{'s' if n != 1 else ''}"
    if top == "stars":
        return f"trending: {_fmt(n)} GitHub stars"
    return f"trending: read by {_fmt(n)} subscriber{'s' if n != 1 else ''}"
