"""Which label a classifier's probabilities decide, the same in evaluation, serving and batch scoring: the most
probable label, or, for a binary model with a decision threshold (``training.threshold``), the positive label
whenever its probability reaches the threshold. numpy only: the inference path imports it."""

from __future__ import annotations

import numpy as np

__all__ = ["decide"]


def decide(probabilities: np.ndarray, positive: int = 1, threshold: float | None = None) -> np.ndarray:
    """Class codes ``(n,)`` from ``(n, k)`` probabilities: argmax, or with ``threshold`` (two classes only)
    ``positive`` where P(positive) >= threshold, the other class elsewhere."""
    scores = np.asarray(probabilities, dtype=np.float64)
    if len(scores) == 0:
        return np.zeros(0, dtype=np.int64)
    if threshold is None or scores.shape[1] != 2:
        return np.asarray(scores.argmax(axis=1), dtype=np.int64)
    return np.where(scores[:, positive] >= threshold, positive, 1 - positive).astype(np.int64)
