"""The recommender: train a hybrid model nightly, rank each day's new papers per subscriber.

Public API: ``train_model(rt)``, ``rank_digest(rt, session, subscriber_ids, candidate_paper_ids, digest_date)``
returning ``Pick``s, and ``fold_in_clicks(rt, subscriber_id)`` between trainings.
"""

from service.recommend.blend import SECTIONS, Pick, rank_digest
from service.recommend.foldin import fold_in_clicks
from service.recommend.train import train_model

__all__ = ["SECTIONS", "Pick", "fold_in_clicks", "rank_digest", "train_model"]
