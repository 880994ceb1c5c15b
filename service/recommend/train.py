"""Nightly training from the database: every paper's text, every learnable interaction, one new model version.

Learns from "click" (positive), "more" (strong positive), "less" (confident negative) and "sent" alone (weak
negative). Interactions flagged ``suspected_scanner`` are never read. With no interactions at all the model still
holds the text space, so digests get content and stated-topic ranking from it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from sqlalchemy import select

from service.models import Interaction, ModelVersion, Paper, utcnow
from service.recommend.als import confidence_matrix
from service.recommend.content import TextVectorizer, paper_text
from service.recommend.hybrid import HybridModel, HybridParams
from service.recommend.store import save_model, start_version
from service.runtime import Runtime

log = logging.getLogger(__name__)

LEARNED_KINDS = ("click", "more", "less", "sent")


def production_params() -> HybridParams:
    """The defaults of ``HybridParams``: the settings and blend chosen on the citeulike-t validation split
    (``paperboy evaluate`` re-tunes the blend per data set; the database's own clicks are too few to tune on)."""
    return HybridParams()


def load_training_data(rt: Runtime) -> dict[str, Any]:
    """Papers (ids, texts) and the learnable interactions as index arrays."""
    with rt.db.session() as s:
        papers = s.execute(select(Paper.id, Paper.title, Paper.abstract).order_by(Paper.id)).all()
        rows = s.execute(
            select(Interaction.subscriber_id, Interaction.paper_id, Interaction.kind)
            .where(Interaction.kind.in_(LEARNED_KINDS), Interaction.suspected_scanner.is_(False))
            .order_by(Interaction.id)
        ).all()
    item_ids = np.array([p.id for p in papers], dtype=np.int64)
    texts = [paper_text(p.title, p.abstract) for p in papers]
    user_ids = np.array(sorted({r.subscriber_id for r in rows}), dtype=np.int64)
    return {"item_ids": item_ids, "texts": texts, "user_ids": user_ids, "rows": rows}


def train_model(rt: Runtime, params: HybridParams | None = None) -> dict[str, Any]:
    """Fit and save a new model version; on any error the row is marked failed and the last good model stays."""
    params = params or production_params()
    started = time.perf_counter()
    with rt.db.session() as s:
        version_id = start_version(s, params.to_json()).id
    report: dict[str, Any] = {"status": "failed", "model_version": None, "n_users": 0, "n_items": 0,
                              "n_interactions": 0, "fit_s": 0.0}  # fmt: skip
    try:
        data = load_training_data(rt)
        item_row = {int(p): i for i, p in enumerate(data["item_ids"].tolist())}
        user_row = {int(u): i for i, u in enumerate(data["user_ids"].tolist())}
        rows = [r for r in data["rows"] if r.paper_id in item_row]
        conf = confidence_matrix(
            np.array([user_row[r.subscriber_id] for r in rows], dtype=np.int64),
            np.array([item_row[r.paper_id] for r in rows], dtype=np.int64),
            [r.kind for r in rows],
            (len(user_row), len(item_row)),
        )
        vectorizer = TextVectorizer.fit(data["texts"])
        features = vectorizer.transform(data["texts"])
        model = HybridModel.fit(vectorizer, features, conf, params)
        fit_s = time.perf_counter() - started
        report.update(
            n_users=len(user_row), n_items=len(item_row), n_interactions=len(rows),
            n_positive=int((conf.data > 0).sum()), n_negative=int((conf.data <= -1).sum()),
            vocabulary=vectorizer.dim, fit_s=round(fit_s, 3),
        )  # fmt: skip
        path = save_model(
            rt.settings.MODEL_DIR, version_id, model, data["user_ids"], data["item_ids"],
            {"version": version_id, "trained_at": utcnow().isoformat(), **report},
        )  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - any failure must be recorded, the last good model kept
        log.exception("training failed")
        with rt.db.session() as s:
            version = s.get(ModelVersion, version_id)
            version.status, version.error, version.finished_at = "failed", f"{type(exc).__name__}: {exc}", utcnow()
        report.update(status="failed", error=f"{type(exc).__name__}: {exc}", model_version=version_id)
        report["fit_s"] = round(time.perf_counter() - started, 3)
        return report
    with rt.db.session() as s:
        version = s.get(ModelVersion, version_id)
        version.status, version.path, version.finished_at = "ready", str(path), utcnow()
        version.n_users, version.n_items, version.n_interactions = (
            report["n_users"], report["n_items"], report["n_interactions"],
        )  # fmt: skip
        version.metrics = {k: report[k] for k in ("n_positive", "n_negative", "vocabulary", "fit_s")}
    report.update(status="ready", model_version=version_id)
    return report
