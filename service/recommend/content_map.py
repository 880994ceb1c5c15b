"""Closed-form ridge from the text space to ALS item factors: how a paper nobody has clicked gets factors.

Strong regularisation matters: ALS factors of papers with one or two clicks are noisy, and the map must
generalise to papers it has never seen.
"""

from __future__ import annotations

import numpy as np


def fit_ridge_map(latent: np.ndarray, targets: np.ndarray, lam: float) -> np.ndarray:
    """M minimising ||Z M - V||^2 + lam ||M||^2, shape (k, f); zeros when there is nothing to learn from."""
    k = latent.shape[1]
    f = targets.shape[1] if targets.ndim == 2 else 0
    if latent.shape[0] == 0 or f == 0 or not np.any(targets):
        return np.zeros((k, f), dtype=np.float32)
    z = latent.astype(np.float64)
    gram = z.T @ z
    gram[np.diag_indices_from(gram)] += lam
    return np.linalg.solve(gram, z.T @ targets.astype(np.float64)).astype(np.float32)
