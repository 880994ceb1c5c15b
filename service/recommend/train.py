"""Nightly training from the database: every paper's text, every learnable interaction, one new model version.

Learns from "click" (positive), "more" (strong positive), "less" (confident negative) and "sent" alone (weak
negative: a paper a digest showed, read from the digests' picks, ``service.impressions``; only the digests of the
last ``TRAINING_IMPRESSION_DAYS`` days, which bounds a training however long the history grows). Interactions
flagged ``suspected_scanner`` are never read. With no interactions at all the model still
holds the text space, so digests get content and stated-topic ranking from it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from itertools import chain
from typing import Any

import numpy as np
import scipy.sparse as sp
from sqlalchemy import case, func, select
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from service.db import on_postgresql
from service.impressions import newest_send, shown_events_sql
from service.models import Interaction, ModelVersion, Paper, utcnow
from service.progress import Progress, quiet
from service.recommend.als import EVENT_WEIGHTS, pair_matrix
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


READ_CHUNK = 100_000  # events per fetch
# Each learnable kind as a small number, so an event crosses from the database as three integers.
KIND_CODES = {kind: code for code, kind in enumerate(LEARNED_KINDS)}
POSITIVE_BY_CODE = np.array([EVENT_WEIGHTS[k] if k in ("click", "more") else 0.0 for k in LEARNED_KINDS])


def impressions_since(session: Session, days: int) -> dt.date | None:
    """The oldest digest date whose "shown, not clicked" is still learned from: ``days`` before the newest sent
    digest (counted from the history, not the clock, so an old or simulated history trains the same way); None:
    nothing was sent yet."""
    newest = newest_send(session)
    return None if newest is None else newest - dt.timedelta(days=days)


def reaction_statement():  # noqa: ANN201 - a SQLAlchemy Select
    """Every learnable reaction as (subscriber id, paper id, kind code): clicks, "more" and "less", of any age."""
    code = case(*((Interaction.kind == kind, code) for kind, code in KIND_CODES.items() if kind != "sent"))
    return select(Interaction.subscriber_id, Interaction.paper_id, code).where(
        Interaction.kind.in_([kind for kind in LEARNED_KINDS if kind != "sent"]),
        Interaction.suspected_scanner.is_(False),
    )


def events_sql(dialect: Dialect, since: dt.date | None) -> str:
    """Every learnable event as SQL for the driver's own cursor: the reactions, and what the digests dated
    ``since`` or later showed (``impressions.shown_events_sql``). Only our own values (kind names and codes, a date
    read from the table) are rendered in place: the driver's rows are plain tuples, where SQLAlchemy's would cost
    3x the whole read."""
    reactions = str(reaction_statement().compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    return f"{reactions} UNION ALL {shown_events_sql(dialect, since, KIND_CODES['sent'])}"


def read_events(session: Session, since: dt.date | None = None) -> np.ndarray:
    """``events_sql``'s rows as one int64 array (n, 3), streamed in chunks: no Python object per event outlives its
    chunk (the history holds ~13 shown papers per digest)."""
    connection = session.connection()
    sql = events_sql(connection.dialect, since)
    driver = connection.connection.driver_connection
    cursor = driver.cursor(name="paperboy_training_events") if on_postgresql(session) else driver.cursor()
    chunks = [np.empty((0, 3), dtype=np.int64)]
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(READ_CHUNK):
            chunks.append(np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=3 * len(rows)).reshape(-1, 3))
    finally:
        cursor.close()
    return np.concatenate(chunks)


def fold_events(events: np.ndarray, item_ids: np.ndarray) -> tuple[np.ndarray, sp.csr_matrix, int]:
    """(reader ids, readers × ``item_ids`` confidence matrix, events used); events of papers not in ``item_ids``
    are left out."""
    events = events[np.isin(events[:, 1], item_ids)]
    user_ids = np.unique(events[:, 0])
    conf = pair_matrix(
        np.searchsorted(user_ids, events[:, 0]),
        np.searchsorted(item_ids, events[:, 1]),
        events[:, 2] == KIND_CODES["less"],
        POSITIVE_BY_CODE[events[:, 2]],
        (len(user_ids), len(item_ids)),
    )
    return user_ids, conf, len(events)


def load_training_data(rt: Runtime) -> dict[str, Any]:
    """Papers (ids, texts) and the confidence matrix of the learnable interactions (readers × papers)."""
    with rt.db.session() as s:
        papers = s.execute(select(Paper.id, Paper.title, Paper.abstract).order_by(Paper.id)).all()
        events = read_events(s, impressions_since(s, rt.settings.TRAINING_IMPRESSION_DAYS))
    item_ids = np.array([p.id for p in papers], dtype=np.int64)
    user_ids, conf, used = fold_events(events, item_ids)
    return {
        "item_ids": item_ids,
        "texts": [paper_text(p.title, p.abstract) for p in papers],
        "user_ids": user_ids,
        "conf": conf,
        "n_interactions": used,
    }


TRAIN_STEPS = 3  # read, fit, save: the calls ``train_model`` makes to its ``progress``


NOTHING_TO_LEARN = "nothing to learn from: there are no papers yet (ingest some pages first)"


def nothing_to_learn(rt: Runtime) -> str | None:
    """Why training would be pointless (no papers at all), or None. Clicks are not needed: a model of the papers'
    text alone already ranks by stated topics."""
    with rt.db.session() as session:
        papers = session.scalar(select(func.count(Paper.id)))
    return NOTHING_TO_LEARN if not papers else None


def train_model(rt: Runtime, params: HybridParams | None = None, progress: Progress = quiet) -> dict[str, Any]:
    """Fit and save a new model version; on any error the row is marked failed and the last good model stays.

    ``progress`` is called after each of the ``TRAIN_STEPS`` steps."""
    params = params or production_params()
    started = time.perf_counter()
    with rt.db.session() as s:
        version_id = start_version(s, params.to_json()).id
    report: dict[str, Any] = {"status": "failed", "model_version": None, "n_users": 0, "n_items": 0,
                              "n_interactions": 0, "fit_s": 0.0}  # fmt: skip
    try:
        data = load_training_data(rt)
        progress("fitting")
        conf = data["conf"]
        vectorizer = TextVectorizer.fit(data["texts"])
        features = vectorizer.transform(data["texts"])
        model = HybridModel.fit(vectorizer, features, conf, params)
        progress("saving")
        fit_s = time.perf_counter() - started
        report.update(
            n_users=conf.shape[0], n_items=conf.shape[1], n_interactions=data["n_interactions"],
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
    progress()
    return report
