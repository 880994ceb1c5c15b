"""Between nightly trainings: fold a subscriber's newest clicks into the current model (no full retrain).

The reader's profile, ridge weights, ALS and collective-ALS factors are recomputed from all their learnable
interactions with the item side held fixed (implicit's ``recalculate_user``), and stored in the model folder's
``foldin.npz`` overlay, which ``store.load_model`` applies on top of the nightly arrays. Papers the model never
saw get their item factors from their text, so clicks on today's papers count at once.
"""

from __future__ import annotations

import datetime as dt
import fcntl
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.models import Interaction, InteractionKind, ModelVersion, Paper
from service.recommend.als import confidence_matrix
from service.recommend.content import paper_text
from service.recommend.store import latest_model, read_overlay, write_overlay
from service.recommend.train import LEARNED_KINDS
from service.runtime import Runtime


def readers_with_new_reactions(session: Session, since: dt.datetime) -> list[int]:
    """The readers who clicked, or answered "more"/"less", since ``since`` (learnable reactions only): those whose
    model vectors are worth folding in again before the nightly training."""
    return list(
        session.scalars(
            select(Interaction.subscriber_id)
            .where(
                Interaction.created_at >= since,
                Interaction.kind.in_((InteractionKind.CLICK, InteractionKind.MORE, InteractionKind.LESS)),
                Interaction.suspected_scanner.is_(False),
            )
            .distinct()
            .order_by(Interaction.subscriber_id)
        )
    )


def fold_in_clicks(rt: Runtime, subscriber_id: int) -> dict[str, Any]:
    """Update one subscriber in the last good model; ``{"status": "no-model"}`` when there is none yet."""
    with rt.db.session() as s:
        stored = latest_model(s)
        if stored is None:
            return {"status": "no-model", "subscriber_id": subscriber_id}
        rows = s.execute(
            select(Interaction.paper_id, Interaction.kind, Paper.title, Paper.abstract)
            .join(Paper, Paper.id == Interaction.paper_id)
            .where(
                Interaction.subscriber_id == subscriber_id,
                Interaction.kind.in_(LEARNED_KINDS),
                Interaction.suspected_scanner.is_(False),
            )
        ).all()
        path = Path(s.get(ModelVersion, stored.version_id).path)
    papers = list(dict.fromkeys(r.paper_id for r in rows))
    col = {pid: j for j, pid in enumerate(papers)}
    text = {r.paper_id: paper_text(r.title, r.abstract) for r in rows}
    conf = confidence_matrix(
        np.zeros(len(rows), dtype=np.int64), np.array([col[r.paper_id] for r in rows], dtype=np.int64),
        [r.kind for r in rows], (1, len(papers)),
    )  # fmt: skip
    model = stored.model
    features = model.vectorizer.transform([text[p] for p in papers])
    item_als, item_cmf = model.paper_factors(features, np.array([stored.item_row.get(p, -1) for p in papers]))
    vectors = model.fold_in(conf, features, item_als, item_cmf)
    _merge_overlay(path, subscriber_id, *vectors, model.vectorizer.dim)
    return {"status": "ok", "subscriber_id": subscriber_id, "model_version": stored.version_id,
            "n_interactions": len(rows)}  # fmt: skip


def _merge_overlay(path: Path, subscriber_id: int, profile, ridge, als, cmf, dim: int) -> None:
    """Replace this subscriber's row in the overlay (or start one), written atomically.

    Concurrent fold-ins (several workers) are serialised by a lock file so none overwrites another's row.
    """
    with open(path / "foldin.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            _merge_locked(path, subscriber_id, profile, ridge, als, cmf, dim)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _merge_locked(path: Path, subscriber_id: int, profile, ridge, als, cmf, dim: int) -> None:
    overlay = path / "foldin.npz"
    if overlay.exists():
        ids, prof, r, a, c = read_overlay(overlay)
        keep = ids != subscriber_id
        ids = np.concatenate([ids[keep], [subscriber_id]])
        prof = sp.vstack([prof[np.flatnonzero(keep)], profile]).tocsr()
        r, a, c = np.vstack([r[keep], ridge]), np.vstack([a[keep], als]), np.vstack([c[keep], cmf])
    else:
        ids, prof, r, a, c = np.array([subscriber_id]), sp.csr_matrix(profile, shape=(1, dim)), ridge, als, cmf
    write_overlay(path, ids, prof, r.astype(np.float32), a.astype(np.float32), c.astype(np.float32))
