"""The population stability index, one implementation for the canary's prediction shift (two variants' scores)
and the drift check's shift of each column (its binned shares against the training profile). Pure Python: the
canary runs in a zip function whose layer has no numpy."""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence

__all__ = ["PSI_BINS", "SHARE_FLOOR", "psi", "psi_of_shares"]

PSI_BINS = 10
SHARE_FLOOR = 1e-4  # an empty bin's share, so the index stays finite


def psi_of_shares(expected: Sequence[float], observed: Sequence[float]) -> float:
    """PSI between two distributions over the same bins, each given as shares: an empty bin counts as
    ``SHARE_FLOOR`` (so a bin empty on both sides adds nothing)."""
    total = 0.0
    for e, o in zip(expected, observed, strict=True):
        e, o = max(e, SHARE_FLOOR), max(o, SHARE_FLOOR)
        total += (o - e) * math.log(o / e)
    return total


def psi(reference: Sequence[float], actual: Sequence[float], bins: int = PSI_BINS) -> float:
    """PSI of ``actual`` against ``reference``, over the reference's quantile bins."""
    if not reference or not actual:
        raise ValueError("psi needs values on both sides")
    ordered = sorted(reference)
    edges = sorted({ordered[min(len(ordered) - 1, (k * len(ordered)) // bins)] for k in range(1, bins)})

    def shares(values: Sequence[float]) -> list[float]:
        counts = [0] * (len(edges) + 1)
        for v in values:
            counts[bisect_left(edges, v)] += 1
        return [c / len(values) for c in counts]

    return psi_of_shares(shares(reference), shares(actual))
