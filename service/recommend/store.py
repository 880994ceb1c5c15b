"""Where trained models live: ``MODEL_DIR/v<id>/model.npz`` + ``meta.json``, one ``ModelVersion`` row each.

A model becomes visible only after its files are complete (written in a temporary folder, then renamed) and its
row is marked ``ready``; a failed or interrupted training leaves the last good model in place. No pickle: arrays
are loaded with ``allow_pickle=False`` and metadata is JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.models import ModelVersion, utcnow
from service.recommend.hybrid import HybridModel, HybridParams

FORMAT = 1
STALE_TRAINING = dt.timedelta(hours=6)


@dataclass
class StoredModel:
    """A loaded model with its id maps (database ids <-> matrix rows)."""

    version_id: int
    model: HybridModel
    user_ids: np.ndarray  # subscriber id per user row
    item_ids: np.ndarray  # paper id per item row
    meta: dict[str, Any]

    def __post_init__(self) -> None:
        self.user_row = {int(u): i for i, u in enumerate(self.user_ids.tolist())}
        self.item_row = {int(p): i for i, p in enumerate(self.item_ids.tolist())}


def model_dir(root: Path, version_id: int) -> Path:
    return Path(root) / f"v{version_id}"


def start_version(session: Session, params: dict[str, Any]) -> ModelVersion:
    """A ``training`` row; rows left ``training`` by a killed run long ago are marked failed (interrupted)."""
    cutoff = utcnow() - STALE_TRAINING
    for stale in session.scalars(
        select(ModelVersion).where(ModelVersion.status == "training", ModelVersion.created_at < cutoff)
    ):
        stale.status = "failed"
        stale.error = "interrupted: training never finished"
        stale.finished_at = utcnow()
    version = ModelVersion(status="training", params=params)
    session.add(version)
    session.flush()
    return version


def write_model(root: Path, version_id: int, stored_arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Path:
    """Write into a temporary folder and rename it into place, so a reader never sees half a model."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = model_dir(root, version_id)
    tmp = root / f".tmp-v{version_id}-{os.getpid()}-{threading.get_ident()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        with open(tmp / "model.npz", "wb") as fh:
            np.savez(fh, allow_pickle=False, **stored_arrays)
            fh.flush()
            os.fsync(fh.fileno())
        (tmp / "meta.json").write_text(json.dumps({"format": FORMAT, **meta}, default=str, sort_keys=True))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def save_model(root: Path, version_id: int, model: HybridModel, user_ids, item_ids, meta: dict[str, Any]) -> Path:
    arrays = model.to_arrays()
    arrays["user_ids"] = np.asarray(user_ids, dtype=np.int64)
    arrays["item_ids"] = np.asarray(item_ids, dtype=np.int64)
    return write_model(root, version_id, arrays, {**meta, "params": model.params.to_json()})


_CACHE: dict[tuple[str, float], StoredModel] = {}
_CACHE_LOCK = threading.Lock()


def load_model(path: Path, version_id: int) -> StoredModel:
    """Load (cached per path and modification time); raises if the files are missing or damaged."""
    path = Path(path)
    npz = path / "model.npz"
    overlay = path / "foldin.npz"
    key = (str(path), npz.stat().st_mtime + (overlay.stat().st_mtime if overlay.exists() else 0.0))
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
    meta = json.loads((path / "meta.json").read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"model at {path} has format {meta.get('format')!r}, expected {FORMAT}")
    with np.load(npz, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    model = HybridModel.from_arrays(arrays, HybridParams.from_json(meta.get("params", {})))
    stored = StoredModel(version_id, model, arrays["user_ids"], arrays["item_ids"], meta)
    if overlay.exists():
        apply_overlay(stored, overlay)
    with _CACHE_LOCK:
        _CACHE.clear()
        _CACHE[key] = stored
    return stored


def latest_model(session: Session) -> StoredModel | None:
    """The newest ``ready`` model whose files load; an unreadable one is skipped for the one before it."""
    versions = session.scalars(
        select(ModelVersion).where(ModelVersion.status == "ready").order_by(ModelVersion.id.desc()).limit(5)
    ).all()
    for version in versions:
        if not version.path:
            continue
        try:
            return load_model(Path(version.path), version.id)
        except (OSError, ValueError, KeyError):
            continue
    return None


# --- fold-in overlay: readers updated between nightly trainings ----------------------------------------------


def write_overlay(
    path: Path, user_ids: np.ndarray, profiles: sp.csr_matrix, ridge: np.ndarray, als: np.ndarray, cmf: np.ndarray
) -> None:
    """Replace the overlay atomically (merged with what it held before by the caller)."""
    p = profiles.tocsr()
    tmp = Path(path) / f".foldin-{os.getpid()}-{threading.get_ident()}.npz"
    with open(tmp, "wb") as fh:
        np.savez(
            fh,
            allow_pickle=False,
            user_ids=np.asarray(user_ids, np.int64),
            data=p.data,
            indices=p.indices,
            indptr=p.indptr,
            shape=np.asarray(p.shape, np.int64),
            ridge=ridge,
            als=als,
            cmf=cmf,
        )
    os.replace(tmp, Path(path) / "foldin.npz")


def read_overlay(overlay: Path) -> tuple[np.ndarray, sp.csr_matrix, np.ndarray, np.ndarray, np.ndarray]:
    with np.load(overlay, allow_pickle=False) as d:
        shape = tuple(int(x) for x in d["shape"])
        prof = sp.csr_matrix((d["data"], d["indices"], d["indptr"]), shape=shape)
        return d["user_ids"], prof, d["ridge"], d["als"], d["cmf"]


def apply_overlay(stored: StoredModel, overlay: Path) -> None:
    """Replace rows of folded-in readers, append readers the model had never seen."""
    ids, prof, ridge, als, cmf = read_overlay(overlay)
    m = stored.model
    known = [(i, stored.user_row[int(u)]) for i, u in enumerate(ids.tolist()) if int(u) in stored.user_row]
    new = [i for i, u in enumerate(ids.tolist()) if int(u) not in stored.user_row]
    profiles = m.profiles.tolil()
    for src, dst in known:
        profiles[dst] = prof[src]
        m.ridge_users[dst] = ridge[src]
        m.als_users[dst] = als[src]
        m.cmf.users[dst] = cmf[src]
    m.profiles = profiles.tocsr()
    if new:
        m.profiles = sp.vstack([m.profiles, prof[new]]).tocsr()
        m.ridge_users = np.vstack([m.ridge_users, ridge[new]])
        m.als_users = np.vstack([m.als_users, als[new]])
        m.cmf.users = np.vstack([m.cmf.users, cmf[new]])
        stored.user_ids = np.concatenate([stored.user_ids, ids[new]])
        stored.user_row = {int(u): i for i, u in enumerate(stored.user_ids.tolist())}
