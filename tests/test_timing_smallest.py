"""recommender.planner.timing._smallest (the seed cut of the interruptible search) against
numpy's partition: the same values at the same ranks, with ties, infinities and NaN."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.planner.timing import _smallest


@pytest.mark.parametrize("seed", range(40))
def test_smallest_equals_partition(seed):
    rng = np.random.default_rng(seed)
    rows, n = int(rng.integers(1, 6)), int(rng.integers(1, 4000))
    ties = seed % 3 == 0
    a = rng.choice([1.0, 2.0, 3.0], size=(rows, n)) if ties else rng.normal(size=(rows, n))
    if seed % 4 == 1:
        a[rng.random(a.shape) < 0.4] = np.inf  # left-out periods
    if seed % 5 == 2:
        a[rng.random(a.shape) < 0.05] = np.nan
    # ranks small against the row (the groups' path) and, now and then, not (numpy's)
    ranks = sorted({int(k) for k in rng.integers(0, min(n, 60 if seed % 8 else 2000), size=2)})
    expected = np.partition(a, ranks, axis=1)[:, ranks]
    np.testing.assert_array_equal(_smallest(a, ranks), expected)
