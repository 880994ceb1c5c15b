"""``rank_digest``: the picks of each subscriber's digest, loaded (``loader.py``) then ranked (``ranking.py``)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from service.recommend.inputs import SECTIONS, Pick, RankWeights
from service.recommend.loader import load_batch, load_candidates
from service.recommend.ranking import pick_batch, score_batch
from service.recommend.store import latest_model
from service.runtime import Runtime

__all__ = ["BATCH", "SECTIONS", "WEIGHTS", "Pick", "rank_digest"]

BATCH = 2000
WEIGHTS = RankWeights()


def rank_digest(
    rt: Runtime,
    session: Session,
    subscriber_ids: list[int],
    candidate_paper_ids: list[int],
    digest_date: dt.date,
    weights: RankWeights = WEIGHTS,
) -> dict[int, list[Pick]]:
    """The picks of each subscriber's digest for ``digest_date``: at most their papers per email, everything
    included; an empty list when nothing is left to send or the subscriber does not exist."""
    stored = latest_model(session)
    cands, side = load_candidates(session, list(candidate_paper_ids), stored)
    ids = list(dict.fromkeys(int(s) for s in subscriber_ids))
    result: dict[int, list[Pick]] = {sid: [] for sid in ids}
    if not len(cands):
        return result
    for start in range(0, len(ids), BATCH):
        batch = load_batch(session, ids[start : start + BATCH], cands, side, stored, weights, digest_date)
        if batch.readers:
            score = score_batch(batch, cands, weights)
            picks = pick_batch(batch, score, cands, digest_date, weights)
            result.update({r.id: p for r, p in zip(batch.readers, picks, strict=True)})
    return result
