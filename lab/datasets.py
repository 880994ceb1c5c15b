"""Evaluation data sets (``items.jsonl``, ``train.csv``, ``test.csv``) and their splits.

See ``../shared/eval/citeulike-t/README.md`` for the format and the new-paper protocol.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from service.recommend.content import TextVectorizer, paper_text

VALIDATION_FRACTION = 0.2
SEED = 20240601


@dataclass
class Split:
    """Users x items matrices for one train/test split; items are rows of ``features``."""

    train: sp.csr_matrix  # (n_users, n_train_items) binary
    test: sp.csr_matrix  # (n_users, n_test_items) binary
    train_features: sp.csr_matrix
    test_features: sp.csr_matrix
    vectorizer: TextVectorizer


@dataclass
class Dataset:
    texts: dict[str, str]
    train_pairs: list[tuple[str, str]]
    test_pairs: list[tuple[str, str]]


def load_dataset(path: Path) -> Dataset:
    """Read the three files; a missing file or a bad line is reported with its location."""
    path = Path(path)
    for name in ("items.jsonl", "train.csv", "test.csv"):
        if not (path / name).is_file():
            raise FileNotFoundError(f"{path / name} is missing (a dataset needs items.jsonl, train.csv, test.csv)")
    texts: dict[str, str] = {}
    with open(path / "items.jsonl", encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                texts[str(obj["id"])] = paper_text(obj.get("title"), obj.get("abstract"))
            except (ValueError, KeyError) as exc:
                raise ValueError(f"{path / 'items.jsonl'} line {n}: {exc}") from exc
    return Dataset(texts, _pairs(path / "train.csv"), _pairs(path / "test.csv"))


def _pairs(file: Path) -> list[tuple[str, str]]:
    with open(file, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or not {"user", "item"} <= set(reader.fieldnames):
            raise ValueError(f"{file}: header must be 'user,item'")
        return [(row["user"], row["item"]) for row in reader]


def make_split(texts: dict[str, str], train_pairs: list[tuple[str, str]], test_pairs: list[tuple[str, str]]) -> Split:
    """Index users over both sides; the vectorizer sees only the texts of items that are not test items."""
    users = {u: i for i, u in enumerate(sorted({u for u, _ in train_pairs} | {u for u, _ in test_pairs}))}
    train_items = list(dict.fromkeys(i for _, i in train_pairs))
    test_items = list(dict.fromkeys(i for _, i in test_pairs))
    missing = [i for i in train_items + test_items if i not in texts]
    if missing:
        raise ValueError(f"{len(missing)} items have pairs but no text in items.jsonl, e.g. {missing[:3]}")
    test_set = set(test_items)
    vectorizer = TextVectorizer.fit([t for i, t in texts.items() if i not in test_set])
    return Split(
        _matrix(train_pairs, users, train_items),
        _matrix(test_pairs, users, test_items),
        vectorizer.transform([texts[i] for i in train_items]),
        vectorizer.transform([texts[i] for i in test_items]),
        vectorizer,
    )


def _matrix(pairs, users: dict[str, int], items: list[str]) -> sp.csr_matrix:
    col = {it: j for j, it in enumerate(items)}
    rows = np.array([users[u] for u, _ in pairs], dtype=np.int64)
    cols = np.array([col[i] for _, i in pairs], dtype=np.int64)
    m = sp.csr_matrix((np.ones(len(pairs), np.float32), (rows, cols)), shape=(len(users), len(items)))
    m.data[:] = 1.0
    return m


def held_out_readers(split: Split, fraction: float = VALIDATION_FRACTION, seed: int = SEED) -> np.ndarray:
    """A random ``fraction`` of the readers with test pairs (sorted row indices): readers the model never
    trains on, for the few-click rows."""
    users = np.flatnonzero(np.diff(split.test.indptr) > 0)
    rng = np.random.default_rng(seed + 1)
    return np.sort(rng.choice(users, size=max(1, int(round(len(users) * fraction))), replace=False))


def without_readers(split: Split, readers: np.ndarray) -> Split:
    """The split with ``readers``' training rows emptied (their test rows stay, to be predicted)."""
    keep = np.ones(split.train.shape[0], dtype=np.float32)
    keep[readers] = 0.0
    train = (sp.diags(keep) @ split.train).tocsr()
    train.eliminate_zeros()
    return Split(train, split.test, split.train_features, split.test_features, split.vectorizer)


def validation_split(split: Split, seed: int = SEED) -> Split:
    """Hold out a random 20% of the training items whole: the same shape of problem, test never touched."""
    n = split.train.shape[1]
    rng = np.random.default_rng(seed)
    held = np.zeros(n, dtype=bool)
    held[rng.choice(n, size=max(1, int(round(n * VALIDATION_FRACTION))), replace=False)] = True
    keep, out = np.flatnonzero(~held), np.flatnonzero(held)
    return Split(
        split.train[:, keep].tocsr(), split.train[:, out].tocsr(), split.train_features[keep],
        split.train_features[out], split.vectorizer,
    )  # fmt: skip
