"""How precisely figures are compared: the ranking, the Pareto frontier and the ranges'
comparisons all count figures equal to ``RANK_DIGITS`` significant digits as ties (the inputs
are not more precise than that)."""

from __future__ import annotations

import numpy as np
import pandas as pd

RANK_DIGITS = 3  # figures equal to this many significant digits tie on that criterion

__all__ = ["RANK_DIGITS", "significant"]


def significant(values: pd.Series, digits: int = 3) -> np.ndarray:
    """Round to ``digits`` significant figures (0 stays 0)."""
    x = values.to_numpy(dtype=float)
    with np.errstate(divide="ignore"):
        exponent = np.where(x > 0, digits - 1 - np.floor(np.log10(np.abs(x))), 0.0)
    # Below 1e-290 (denormals) the scale would overflow; such figures are zero for ranking.
    scale = 10.0 ** np.minimum(exponent, 290.0)
    return np.round(x * scale) / scale
