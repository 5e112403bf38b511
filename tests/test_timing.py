"""The window search (recommender.planner.timing): against brute force, interruptible never
worse than contiguous, zero flexibility, resolutions and partial periods."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.intensity.model import Point, ZoneSeries
from recommender.intensity.shifting import zone_grid
from recommender.planner.timing import (
    best_contiguous,
    best_interruptible,
    brute_force_contiguous,
    contiguous_weights,
    window_sums,
)

series_st = st.lists(
    st.floats(min_value=0, max_value=1000, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=48,
)


@st.composite
def problems(draw):
    values = np.array(draw(series_st))
    periods = len(values)
    length = draw(st.floats(min_value=0.05, max_value=float(periods)))
    end = draw(st.floats(min_value=length, max_value=float(periods)))
    return values, length, end


@settings(max_examples=300, deadline=None)
@given(problems())
def test_window_search_equals_brute_force(problem):
    values, length, end = problem
    fast = best_contiguous(values, length, end)
    slow = brute_force_contiguous(values, length, end)
    assert math.isfinite(slow)
    assert fast.sum[0] == pytest.approx(slow, rel=1e-9, abs=1e-6)
    # and the start it names really has that sum
    assert window_sums(values, length, fast.start)[0] == pytest.approx(slow, rel=1e-9, abs=1e-6)
    assert fast.start[0] + length <= end + 1e-9


@settings(max_examples=100, deadline=None)
@given(problems(), st.lists(st.integers(min_value=0, max_value=47), max_size=4))
def test_window_search_skips_missing_data_like_brute_force(problem, holes):
    values, length, end = problem
    values = values.copy()
    for h in holes:
        if h < len(values):
            values[h] = np.nan
    fast = best_contiguous(values, length, end)
    slow = brute_force_contiguous(values, length, end)
    if math.isfinite(slow):
        assert fast.sum[0] == pytest.approx(slow, rel=1e-9, abs=1e-6)
    else:
        assert not fast.feasible[0]


def test_rows_are_searched_independently_in_one_batch():
    rng = np.random.default_rng(7)
    values = rng.uniform(10, 500, size=(30, 200))
    lengths = rng.uniform(1, 40, size=30)
    ends = np.minimum(lengths + rng.uniform(0, 150, size=30), 200)
    batch = best_contiguous(values, lengths, ends)
    for r in range(30):
        one = best_contiguous(values[r], lengths[r], ends[r])
        assert batch.start[r] == one.start[0]
        assert batch.sum[r] == pytest.approx(one.sum[0])
        assert batch.sum[r] == pytest.approx(brute_force_contiguous(values[r], lengths[r], ends[r]))


@pytest.mark.parametrize("length", [24.0, 37.5, 1.0])
def test_one_length_with_ends_of_its_own_and_holes_equals_brute_force(length):
    # one length for every row takes the column-shift path; the rows (more than one chunk of
    # them) each stop at their own end, some inside a period, and some have no data in places
    rng = np.random.default_rng(11)
    values = rng.uniform(10, 500, size=(60, 120))
    values[rng.random(values.shape) < 0.03] = np.nan
    ends = np.round(rng.uniform(length - 0.5, 120.0, size=60), 2)
    ends[::7] = 120.0
    batch = best_contiguous(values, length, ends)
    for r in range(60):
        slow = brute_force_contiguous(values[r], length, ends[r])
        if math.isfinite(slow):
            assert batch.sum[r] == pytest.approx(slow, rel=1e-12)
            assert batch.start[r] + length <= ends[r] + 1e-9
        else:
            assert not batch.feasible[r]


def test_earliest_of_equal_windows_wins():
    values = np.array([5.0, 1.0, 1.0, 5.0, 1.0, 1.0, 5.0])
    best = best_contiguous(values, 2, 7)
    assert best.start[0] == 1  # the window at 4 is as clean but later


def test_partial_periods_are_weighted():
    values = np.array([40.0, 20.0, 30.0, 0.0, 50.0])
    # 1.5 periods from 0: all of 40 and half of 20
    assert window_sums(values, 1.5, 0)[0] == pytest.approx(40 + 0.5 * 20)
    # from 1: 35; from 2: 30 + half of 0 = 30; from 3: 0 + half of 50 = 25 (the best)
    best = best_contiguous(values, 1.5, 5.0)
    assert best.start[0] == 3 and best.sum[0] == pytest.approx(25.0)
    assert best.mean[0] == pytest.approx(25.0 / 1.5)


def test_a_window_must_end_by_the_deadline():
    values = np.array([100.0, 100.0, 100.0, 1.0])
    assert best_contiguous(values, 2, 3.5).start[0] == 0  # [2, 4) would end after 3.5
    assert best_contiguous(values, 2, 4).start[0] == 2


@settings(max_examples=200, deadline=None)
@given(problems(), st.floats(min_value=0, max_value=2))
def test_interruptible_is_never_worse_than_contiguous(problem, overhead):
    values, length, end = problem
    contiguous = best_contiguous(values, length, end)
    schedule = best_interruptible(values, length, end, overhead)
    assert schedule.sum[0] <= contiguous.sum[0] + 1e-6
    weights = schedule.weights[0]
    assert ((weights >= -1e-12) & (weights <= 1 + 1e-12)).all()
    # it runs the work plus an overhead per pause, never after the deadline
    pauses = int(schedule.pauses[0])
    assert weights.sum() >= length + pauses * overhead - 1e-6
    assert schedule.finish[0] <= end + 1e-6
    assert schedule.sum[0] == pytest.approx(float((weights * values).sum()), abs=1e-6)


@settings(max_examples=200, deadline=None)
@given(series_st, st.data())
def test_without_overhead_interruptible_takes_the_cleanest_periods(raw, data):
    values = np.array(raw)
    length = data.draw(st.integers(min_value=1, max_value=len(values)))
    schedule = best_interruptible(values, length, len(values), 0.0)
    cheapest = float(np.sort(values)[:length].sum())
    assert schedule.sum[0] == pytest.approx(cheapest, abs=1e-6)


def test_overhead_makes_pausing_pay_only_when_the_gap_is_worth_it():
    values = np.array([1.0, 50.0, 1.0, 50.0, 50.0, 50.0])
    free = best_interruptible(values, 2, 6, 0.0)
    assert free.pauses[0] == 1 and free.sum[0] == pytest.approx(2.0)
    # a restart costs a whole period: 1 + 1 + one more period beats 1 + 50 ...
    costly = best_interruptible(values, 2, 6, 1.0)
    assert costly.sum[0] <= best_contiguous(values, 2, 6).sum[0]
    # ... and with a dearer restart it does not pause at all
    dear = best_interruptible(np.array([1.0, 3.0, 1.0, 50.0]), 2, 4, 1.5)
    assert dear.pauses[0] == 0 and not dear.interrupted[0]


@settings(max_examples=100, deadline=None)
@given(series_st, st.data())
def test_zero_flexibility_gives_zero_saving(raw, data):
    values = np.array(raw)
    length = data.draw(st.floats(min_value=0.05, max_value=float(len(values))))
    best = best_contiguous(values, length, length)
    assert best.start[0] == 0
    assert best.sum[0] == best.now_sum[0]
    schedule = best_interruptible(values, length, length, 0.05)
    assert schedule.sum[0] == pytest.approx(best.now_sum[0])
    assert schedule.pauses[0] == 0


def test_contiguous_weights_cover_the_window():
    weights = contiguous_weights(6, np.array([1]), np.array([2.5]))
    assert weights.tolist() == [[0.0, 1.0, 1.0, 0.5, 0.0, 0.0]]


def _series(period_min: int, values: list[float], origin: datetime) -> ZoneSeries:
    step = timedelta(minutes=period_min)
    points = tuple(Point(origin + i * step, v, "forecast") for i, v in enumerate(values))
    return ZoneSeries(
        source="csv",
        label="test",
        zone="*",
        period_s=period_min * 60,
        points=points,
        fetched_at=origin,
        observed_at=origin,
    )


@pytest.mark.parametrize("period_min", [5, 15, 30, 60])
def test_resolution_follows_the_data(period_min):
    """The same hourly profile at 5/15/30/60-minute resolution: the same best 3-hour window."""
    origin = datetime(2025, 1, 1, tzinfo=UTC)
    hourly = [300.0, 280.0, 120.0, 100.0, 110.0, 400.0, 420.0, 410.0]
    per_hour = 60 // period_min
    values = [v for v in hourly for _ in range(per_hour)]
    grid = zone_grid(_series(period_min, values, origin), origin, 8)
    assert grid.period_h == pytest.approx(period_min / 60)
    assert len(grid.values) == 8 * per_hour
    best = best_contiguous(grid.values, 3 / grid.period_h, 8 / grid.period_h)
    assert best.start[0] * grid.period_h == pytest.approx(2.0)
    assert best.mean[0] == pytest.approx((120 + 100 + 110) / 3)


def test_grid_weights_a_start_inside_a_period():
    origin = datetime(2025, 1, 1, tzinfo=UTC)
    series = _series(60, [100.0, 200.0, 300.0], origin)
    grid = zone_grid(series, origin + timedelta(minutes=30), 2)
    # [00:30, 01:30) is half 100, half 200
    assert grid.values[0] == pytest.approx(150.0)
    assert grid.values[1] == pytest.approx(250.0)


def test_brute_force_reference_agrees_on_a_hand_example():
    values = np.array([3.0, 1.0, 2.0, 9.0])
    assert brute_force_contiguous(values, 2, 4) == 3.0  # periods 1 and 2
    assert brute_force_contiguous(values, 2, 2) == 4.0  # only periods 0 and 1 fit
