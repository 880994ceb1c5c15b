"""What everyone is reading: upvotes, comments, GitHub stars, and the first clicks of all our subscribers.

Counts are log-damped so one viral paper does not drown the rest; the reason names the strongest signal. The
candidates are recent by their sources' dates already (``service.digest.candidates``); a paper only known from
an undated capture (``date_basis`` ``first-seen``) brings counts of unknown age, so only our readers' clicks,
which are live, make it trending. Nothing here depends on when a page was ingested.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from service.db import id_in
from service.models import ENGAGED_ROWS, Interaction, Paper

WEIGHTS = {"upvotes": 1.0, "comments": 0.5, "stars": 0.3, "clicks": 1.0}
UNDATED = "first-seen"  # a paper no source dated: its counts are of unknown age (see the module docstring)
_NAMES = list(WEIGHTS)
_WEIGHT_ROW = np.array(list(WEIGHTS.values()))


@dataclass
class Trending:
    scores: np.ndarray  # one per candidate, >= 0
    reasons: list[str]


def _fmt(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 10_000 else str(n)


def trending_for(session: Session, papers: Sequence[Paper]) -> Trending:
    """Scores (float32, shape ``(len(papers),)``, >= 0) and reasons for ``papers``, in that order:
    ``sum_k w_k * log1p(count_k)`` over upvotes, comments, stars and distinct engaged readers (scanners left out),
    one array operation for all papers. Counts of undated papers are left out, clicks excepted."""
    ids = [p.id for p in papers]
    clicks: dict[int, int] = {}
    if ids:
        rows = session.execute(
            select(Interaction.paper_id, func.count(func.distinct(Interaction.subscriber_id)))
            .where(
                id_in(session, Interaction.paper_id, ids),
                text(ENGAGED_ROWS),  # literally the partial index's predicate, so the index serves this count
                Interaction.suspected_scanner.is_(False),
            )
            .group_by(Interaction.paper_id)
        ).all()
        clicks = {int(pid): int(n) for pid, n in rows}
    signals = [
        (0, 0, 0, clicks.get(p.id, 0))
        if p.date_basis == UNDATED
        else (int(p.upvotes or 0), int(p.num_comments or 0), int(p.github_stars or 0), clicks.get(p.id, 0))
        for p in papers
    ]
    parts = np.log1p(np.array(signals, dtype=np.float64).reshape(len(papers), len(WEIGHTS))) * _WEIGHT_ROW
    total = parts[:, 0] + parts[:, 1] + parts[:, 2] + parts[:, 3]  # summed in WEIGHTS order, left to right
    strongest = parts.argmax(axis=1).tolist()  # the first of equal parts, as in WEIGHTS order
    reasons = [_reason(_NAMES[k], counts[k]) for counts, k in zip(signals, strongest, strict=True)]
    return Trending(total.astype(np.float32), reasons)


def _reason(top: str, n: int) -> str:
    """Names the strongest signal (``top``, with count ``n``)."""
    if n == 0:
        return "new today"
    if top == "upvotes":
        return f"trending: {_fmt(n)} upvote{'s' if n != 1 else ''}"
    if top == "comments":
        return f"trending: {_fmt(n)} comment{'s' if n != 1 else ''}"
    if top == "stars":
        return f"trending: {_fmt(n)} GitHub stars"
    return f"trending: read by {_fmt(n)} subscriber{'s' if n != 1 else ''}"
