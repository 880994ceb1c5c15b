"""The recommender: train a hybrid model nightly, rank each day's new papers per subscriber.

Public API: ``train_model(rt)``, ``rank_digest(rt, session, subscriber_ids, candidate_paper_ids, digest_date)``
returning ``Pick``s, and ``fold_in_clicks(rt, subscriber_id)`` between trainings.

Imported on first use: the modules behind them pull in scikit-learn and SciPy (~1 s of start-up), which
commands such as ``paperboy send`` with a broker never need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from service.recommend.foldin import fold_in_clicks
    from service.recommend.rank import SECTIONS, Pick, rank_digest
    from service.recommend.train import train_model

_HOMES = {
    "SECTIONS": "service.recommend.rank",
    "Pick": "service.recommend.rank",
    "rank_digest": "service.recommend.rank",
    "fold_in_clicks": "service.recommend.foldin",
    "train_model": "service.recommend.train",
}

__all__ = ["SECTIONS", "Pick", "fold_in_clicks", "rank_digest", "train_model"]


def __getattr__(name: str) -> Any:  # noqa: ANN401 - whatever the exported name is
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value
