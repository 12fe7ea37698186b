"""Percentile ranks: how the score combines and compares quantities that share no scale."""
from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def percentile_rank(values: np.ndarray) -> np.ndarray:
    """Average rank / n, in (0, 1]; ties share their rank, so the result is order-independent."""
    return rankdata(values) / len(values)


def tail_fraction(values: np.ndarray) -> np.ndarray:
    """Share of the values >= each value, in [1/n, 1] (ties count as the average of their ranks)."""
    return 1.0 - percentile_rank(values) + 1.0 / len(values)
