"""When to run: the cleanest start time before a deadline, and for jobs that may pause, the
cleanest set of periods.

Pure and vectorised. A series is a row of per-period mean intensities on a regular grid (5, 15,
30 or 60 minutes: whatever the data has); many rows (regions, options, replayed jobs) are
searched at once as a 2-D array. Lengths and deadlines are in periods and may be fractional:
a job of 2.5 periods covers two whole periods and half of the third (partial periods are
weighted by the fraction used). NaN marks a period with no data: no window may use it.

- :func:`best_contiguous` - the window of length L with the least mean, among all starts
  ``s`` with ``s + L <= end``: cumulative sums, O(T) per row.
- :func:`best_interruptible` - the cheapest pause/resume schedule before ``end`` that holds
  L periods of work plus a restart overhead for every pause: exact (a dynamic programme over
  periods x blocks x whole periods, O(T x K x C) per row, run only on the periods that lower
  bounds cannot rule out); never worse than the contiguous window (its one-block case).
- :class:`TimeWindow` - when a job may run; the adapter that applies it to a live or forecast
  series (each option in its own best window) is
  :class:`recommender.intensity.shifting.ShiftedIntensity`, which hands these functions plain
  arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from recommender.units import iso

if TYPE_CHECKING:
    import pandas as pd

    from recommender.planner.model import Settings

#: Restart overhead per pause of an interruptible job, minutes (``--checkpoint-minutes``):
#: writing a checkpoint before the pause plus loading it and warming up after it.
CHECKPOINT_MINUTES = 5.0
_EPS = 1e-9  # periods: lengths and ends this close to a whole period count as whole
_REL_TIE = 1e-9  # windows within this relative difference tie; the earliest wins
_TRACE_BYTES = 64 << 20  # best_interruptible: trace-back bits held at once (rows in chunks)
_FIRST_BLOCKS = 6  # blocks searched first, before the bound is tightened (see _solve_packed)
_PRICE_TOP = 6  # _prices searches up to the price of this many times the run's periods
_PRICE_GRID = 8  # _prices: prices tried per round
_PRICE_ROUNDS = 3  # _prices: rounds, each around the best of the last
_SEED_PERIODS = 3  # best_interruptible searches first about this many times the run's periods
#: Rows handled at once by the passes over whole series (contiguous windows, lower bounds):
#: their temporaries stay small enough to be reused and to stay in cache (on a year of hourly
#: data x 100 rows the contiguous search took 10 ms in one pass and 4 ms in chunks of 25: each
#: fresh 7 MB array costs about 1 ms of page faults).
_ROW_CHUNK = 25


def _rows(values: np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim == 1:
        return array[None, :]
    if array.ndim != 2:
        raise ValueError("values must be 1-D (one series) or 2-D (rows x periods)")
    return array


def _per_row(value: Any, rows: int, default: float | None = None) -> np.ndarray:
    if value is None:
        if default is None:
            raise ValueError("missing per-row value")
        value = default
    out = np.broadcast_to(np.asarray(value, dtype=float), (rows,)).astype(float)
    return out


def _split(length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whole periods and the fraction of the last one, with float noise snapped away."""
    whole = np.floor(length + _EPS)
    frac = length - whole
    frac = np.where(np.abs(frac) < _EPS, 0.0, frac)
    return whole.astype(np.int64), np.clip(frac, 0.0, 1.0)


@dataclass(frozen=True)
class Windows:
    """The best contiguous window of each row."""

    start: np.ndarray  # (R,) int: first period of the window (0 where infeasible)
    sum: np.ndarray  # (R,) intensity x periods over the window (NaN where infeasible)
    now_sum: np.ndarray  # (R,) the same for the window that starts at period 0
    length: np.ndarray  # (R,) periods

    @property
    def feasible(self) -> np.ndarray:
        return np.isfinite(self.sum)

    @property
    def mean(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.sum / self.length

    @property
    def now_mean(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.now_sum / self.length


def _last_start(length: np.ndarray, end: np.ndarray, periods: int) -> np.ndarray:
    """Each row's last start ``s`` whose window fits: ``s + length <= end`` (+ eps, as that
    float test decides it at the boundary) and no part of it past the data (-1: none)."""
    whole, frac = _split(length)
    last = np.minimum(_last_fit(end, length), periods - whole - (frac > 0))
    return np.where(length > 0, last, -1).astype(np.int64)


def _last_fit(end: np.ndarray, size: np.ndarray) -> np.ndarray:
    """The largest whole s with ``s + size <= end`` (+ eps), as that float test decides it at
    the boundary (``floor(end - size)`` alone can be one off either way); broadcasts."""
    room = end + _EPS
    last = np.floor(room - size)
    last += last + 1 + size <= room
    last -= last + size > room
    return last


def window_costs(values: np.ndarray, length: Any, end: Any = None) -> np.ndarray:
    """Intensity x periods of the window starting at every period (R x T); ``inf`` where the
    window would pass ``end`` (default: the series' end) or touch a period with no data."""
    v = _rows(values)
    rows, periods = v.shape
    length_r = _per_row(length, rows)
    end_r = np.minimum(_per_row(end, rows, float(periods)), periods)
    whole, frac = _split(length_r)
    missing = ~np.isfinite(v)
    gappy = bool(missing.any())
    filled = np.where(missing, 0.0, v) if gappy else v
    cum = np.empty((rows, periods + 1))
    cum[:, 0] = 0.0
    np.cumsum(filled, axis=1, out=cum[:, 1:])
    last = _last_start(length_r, end_r, periods)
    if rows and (whole == whole[0]).all() and (frac == frac[0]).all():
        # one length for every row (the usual case): the stops are column shifts
        w, f = int(min(whole[0], periods)), float(frac[0])
        cost = np.empty((rows, periods))
        n = min(periods, periods + 1 - w)  # starts whose whole periods end by the last
        np.subtract(cum[:, w : w + n], cum[:, :n], out=cost[:, :n])
        cost[:, n:] = np.inf  # ends past the data: not inside
        if f > 0 and periods > w:  # starts past periods - w - 1 do not fit (last says so)
            cost[:, : periods - w] += f * filled[:, w:]
    else:
        stop_c = np.minimum(np.arange(periods)[None, :] + whole[:, None], periods)
        cost = np.take_along_axis(cum, stop_c, axis=1) - cum[:, :periods]
        tail = np.take_along_axis(filled, np.minimum(stop_c, periods - 1), axis=1)
        cost = cost + np.where(frac[:, None] > 0, frac[:, None] * tail, 0.0)
    if gappy:
        holes = np.zeros((rows, periods + 1), dtype=np.int64)
        np.cumsum(missing, axis=1, out=holes[:, 1:])
        touched = np.arange(periods)[None, :] + (whole + (frac > 0))[:, None]
        inside = np.take_along_axis(holes, np.minimum(touched, periods), axis=1)
        cost[inside != holes[:, :periods]] = np.inf
    if rows and (last == last[0]).all():
        cost[:, max(int(last[0]) + 1, 0) :] = np.inf
    else:
        cost[np.arange(periods)[None, :] > last[:, None]] = np.inf
    return cost


def window_sums(values: np.ndarray, length: Any, start: Any) -> np.ndarray:
    """Intensity x periods of each row's window of ``length`` from ``start`` (NaN if it does
    not fit or touches missing data)."""
    v = _rows(values)
    rows = v.shape[0]
    start_r = _per_row(start, rows).astype(np.int64)
    costs = window_costs(v, length)
    picked = np.take_along_axis(costs, np.clip(start_r, 0, v.shape[1] - 1)[:, None], axis=1)[:, 0]
    return np.where(np.isfinite(picked) & (start_r >= 0), picked, np.nan)


def best_contiguous(values: np.ndarray, length: Any, end: Any = None) -> Windows:
    """Each row's least-emitting window of ``length`` periods that ends by ``end`` (the
    earliest one among ties). Rows where no window fits get NaN sums and start 0."""
    v = _rows(values)
    rows, periods = v.shape
    length_r = _per_row(length, rows)
    end_r = _per_row(end, rows, float(periods))
    best = np.full(rows, np.inf)
    start = np.zeros(rows, dtype=np.int64)
    now = np.full(rows, np.inf)
    for i in range(0, rows if periods else 0, _ROW_CHUNK):  # a few rows at a time: in cache
        part = slice(i, i + _ROW_CHUNK)
        costs = window_costs(v[part], length_r[part], end_r[part])
        least = costs.min(axis=1)
        tolerance = _REL_TIE * (np.abs(np.where(np.isfinite(least), least, 0.0)) + 1.0)
        start[part] = np.argmax(costs <= (least + tolerance)[:, None], axis=1)
        best[part], now[part] = least, costs[:, 0]
    finite = np.isfinite(best)
    return Windows(
        start=np.where(finite, start, 0).astype(np.int64),
        sum=np.where(finite, best, np.nan),
        now_sum=np.where(np.isfinite(now), now, np.nan),
        length=length_r,
    )


def contiguous_weights(periods: int, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """The fraction of each period a contiguous window uses (R x T)."""
    index = np.arange(periods)[None, :]
    offset = index - np.asarray(start)[:, None]
    used = np.clip(np.asarray(length, dtype=float)[:, None] - offset, 0.0, 1.0)
    return np.where(offset >= 0, used, 0.0)


def _blocks(weights: np.ndarray) -> np.ndarray:
    """How many separate runs of used periods each row has."""
    on = weights > _EPS
    rising = on.copy()
    rising[:, 1:] &= ~on[:, :-1]
    return rising.sum(axis=1)


@dataclass(frozen=True)
class Schedule:
    """Which fraction of each period a job runs in, per row."""

    weights: np.ndarray  # (R, T) in [0, 1]
    sum: np.ndarray  # (R,) intensity x periods run (restart overheads included)
    length: np.ndarray  # (R,) periods of work
    pauses: np.ndarray  # (R,) int
    interrupted: np.ndarray  # (R,) bool: False where the contiguous window was kept

    @property
    def run(self) -> np.ndarray:
        """Periods the machines run: the work plus a restart overhead per pause."""
        return self.weights.sum(axis=1)

    @property
    def mean(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.sum / self.run

    @property
    def first(self) -> np.ndarray:
        on = self.weights > _EPS
        return np.where(on.any(axis=1), np.argmax(on, axis=1), 0)

    @property
    def finish(self) -> np.ndarray:
        """End of the last period used, in periods (a partly used one ends early)."""
        on = self.weights > _EPS
        periods = self.weights.shape[1]
        last = periods - 1 - np.argmax(on[:, ::-1], axis=1)
        part = np.take_along_axis(self.weights, last[:, None], axis=1)[:, 0]
        return np.where(on.any(axis=1), last + part, 0.0)


def _partial_runs(length: np.ndarray, over: np.ndarray, blocks: int) -> tuple[np.ndarray, ...]:
    """For 1..``blocks`` blocks (R x K): the run time ``L + (k - 1) x overhead``, the whole
    periods before the last one used (``ceil(run) - 1``) and that last period's weight (0, 1]."""
    k = np.arange(1, blocks + 1)[None, :]
    run = length[:, None] + (k - 1) * over[:, None]
    whole = np.maximum(np.ceil(run - _EPS) - 1, 0).astype(np.int64)
    return run, whole, np.minimum(run - whole, 1.0)


def _layers(
    length: np.ndarray, over: np.ndarray, most: np.ndarray, periods: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For :func:`_exact`: the whole periods and last weight per row and block count (R x K+1),
    and per j the largest whole-period count c worth computing for j blocks (index j)."""
    kmax = int(most.max(initial=0))
    _, whole, part = _partial_runs(length, over, kmax + 1)
    live = np.arange(1, kmax + 2)[None, :] <= most[:, None]
    top = np.where(live, whole, -1).max(axis=0, initial=-1)  # per k: the most any row needs
    need = np.zeros(kmax + 2, dtype=np.int64)
    for j in range(kmax, 0, -1):
        # layer j ends k = j blocks (the last period extends block j) and, through P, feeds
        # k = j + 1 (the last period alone) and layer j + 1
        later = max(int(top[j]), int(need[j + 1]) - 1) if j < kmax else -1
        need[j] = max(int(top[j - 1]), later)
    return whole, part, np.minimum(need, periods)


def _states(length: np.ndarray, over: np.ndarray, most: np.ndarray, periods: int) -> int:
    """How many (j, c) pairs :func:`_exact` computes for these rows."""
    need = _layers(length, over, most, periods)[2]
    return int(sum(max(0, int(need[j]) - j + 1) for j in range(1, len(need))))


def _block_floors(
    v: np.ndarray, length: np.ndarray, end: np.ndarray, over: np.ndarray
) -> np.ndarray:
    """A lower bound on the cost of each row's k-block schedules, k = 1..(T + 1) // 2 (R x K;
    inf where no k-block schedule fits).

    k blocks need ``ceil(run_k) - 1 >= k - 1`` whole periods and ``2k - 1`` periods in all;
    and a k-block schedule runs ``run_k`` periods, so it costs at least the cheapest
    ``run_k`` of capacity (fractional knapsack, valid for any sign)."""
    rows, periods = v.shape
    cap = np.clip(end[:, None] - np.arange(periods)[None, :], 0.0, 1.0)
    cap = np.where(np.isfinite(v), cap, 0.0)
    limit = max(1, (periods + 1) // 2)
    run, whole, _ = _partial_runs(length, over, limit)
    k = np.arange(1, limit + 1)[None, :]
    possible = (whole >= k - 1) & (run <= cap.sum(axis=1)[:, None] + _EPS)
    order = np.argsort(np.where(cap > 0, v, np.inf), axis=1, kind="stable")
    c = np.take_along_axis(cap, order, axis=1)
    spent = np.where(c > 0, c * np.take_along_axis(v, order, axis=1), 0.0)
    cost = np.concatenate((np.zeros((rows, 1)), np.cumsum(spent, axis=1)), axis=1)
    size = np.concatenate((np.zeros((rows, 1)), np.cumsum(c, axis=1)), axis=1)
    out = np.full((rows, limit), np.inf)
    for r in range(rows):
        if length[r] > 0:
            out[r] = np.where(possible[r], np.interp(run[r], size[r], cost[r]), np.inf)
    return out


def _pays(floors: np.ndarray, bound: np.ndarray) -> np.ndarray:
    """Where a k-block schedule could cost strictly less than ``bound`` (R x K): its floor is
    below the bound by more than the tie tolerance."""
    tol = np.where(np.isfinite(bound), _REL_TIE * (np.abs(bound) + 1.0), 0.0)
    return floors < (bound - tol)[:, None]


def _most_blocks(floors: np.ndarray, bound: np.ndarray) -> np.ndarray:
    """The most blocks an optimal schedule of each row can have (0: none fits), from
    :func:`_block_floors`: where a k-block floor is not below ``bound`` (a cost some schedule
    reaches) more blocks cannot be strictly cheaper."""
    ok = _pays(floors, bound)
    limit = floors.shape[1]
    return np.where(ok.any(axis=1), limit - np.argmax(ok[:, ::-1], axis=1), 0).astype(np.int64)


def _exact(
    v: np.ndarray,
    length: np.ndarray,
    end: np.ndarray,
    over: np.ndarray,
    most: np.ndarray,
    lasts: tuple[np.ndarray, ...],
    floors: np.ndarray | None = None,
    bound: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The cheapest schedule of each row with at most ``most`` blocks (see
    :func:`best_interruptible` for the model), on a row packed by :func:`_compress`: the
    weights of its whole periods (R x T, in the packed positions), its blocks (0: none fits),
    and its last period (original period, weight, value; -1, 0, 0 where none fits).
    ``lasts``: :class:`_Packed`'s last-period candidates (``ends``) and each row's end in the
    original periods.

    Dynamic programme over periods x (blocks so far j, whole periods so far c), vectorised over
    rows and periods, one (j, c) pair at a time. ``A[j, c][u]``: least cost of j blocks of c
    whole periods whose last block ends with period u; ``P`` its running minimum over u.
    ``A[j, c][u] = v[u] + min(A[j, c - 1][u - 1], P[j - 1, c - 1][u - 2])`` (extend the block,
    or start block j after a gap of at least one period). The job's last period, of weight
    w_k, then either extends block k (``A[k, m_k][p - 1] + w_k v[p]``) or is block k on its
    own (``P[k - 1, m_k][p - 2] + w_k v[p]``): p runs over the last-period candidates, which
    need not be periods the blocks may use (a period may be cheap enough to end a schedule
    with a small weight but not to be used whole). Two bits per state (started here; running
    minimum improved here) let each row's schedule be traced back.

    With ``floors`` (:func:`_block_floors`) and ``bound``, a row leaves the programme before
    layer j once no schedule of j or more blocks can cost strictly less than the least of
    ``bound`` and the best schedule it has so far (layer j only ever feeds schedules of j or
    more blocks), so ``most`` may be generous: the layers a row does not need are not run."""
    rows, periods = v.shape
    weights = np.zeros((rows, periods))
    chosen = np.zeros(rows, dtype=np.int64)
    end_t = np.full(rows, -1, dtype=np.int64)  # the last period: original, weight, value
    end_w = np.zeros(rows)
    end_v = np.zeros(rows)
    kmax = int(most.max(initial=0))
    if kmax == 0 or periods == 0:
        return weights, chosen, end_t, end_w, end_v
    index = np.arange(periods)
    whole_v = np.where(np.isfinite(v) & (index[None, :] + 1 <= end[:, None] + _EPS), v, np.inf)
    *by_kind, last_end = lasts
    last_v = (by_kind[0], by_kind[3])  # per kind: values, original periods, position before
    last_t = (by_kind[1], by_kind[4])
    last_u = (by_kind[2], by_kind[5])
    whole, part, need = _layers(length, over, most, periods)
    live = np.arange(1, kmax + 2)[None, :] <= most[:, None]
    blocks = np.arange(1, kmax + 1)[None, :]
    reach = (blocks <= most[:, None]) & (
        _pays(floors[:, :kmax], bound) if floors is not None and bound is not None else True
    )

    best = np.full(rows, np.inf)
    final_k = np.zeros(rows, dtype=np.int64)  # the best schedule's blocks, kind and last period
    final_kind = np.zeros(rows, dtype=np.int64)  # 0: the last period extends block k; 1: alone
    final_q = np.zeros(rows, dtype=np.int64)  # (its index among the row's candidates)
    started: dict[tuple[int, int], np.ndarray] = {}
    improved: dict[tuple[int, int], np.ndarray] = {}
    at: dict[int, np.ndarray] = {}  # per layer: each row's position among its rows (-1: gone)
    act = np.arange(rows)  # the rows still in the programme

    # (k, kind, c) where some row's last period can end a k-block schedule after c whole ones
    kk, rr = np.nonzero(live.T)
    ends = {(int(k) + 1, 0, int(whole[r, k])) for k, r in zip(kk, rr, strict=True)}
    ends |= {(k, 1, c) for k, _, c in ends}
    lim_k = _last_fit(last_end[:, None], part)  # the last original period, per block count

    def finish(cost: np.ndarray, k: int, kind: int, rows_k: np.ndarray, c: int) -> None:
        # cost: (A, T + 2) padded by position, A[k, c] (kind 0: the last period extends block k
        # and follows it at once) or P[k - 1, c] (kind 1: block k alone, after a gap); the
        # earliest last period wins within a row, fewer blocks across (k grows), within the
        # tie tolerance
        if (k, kind, c) not in ends:
            return
        sel = np.flatnonzero(rows_k[act])
        if not len(sel):
            return
        r_all = act[sel]
        column = last_u[kind][r_all] + 2  # -1: an inf padding column
        total = np.multiply(last_v[kind][r_all], part[r_all, k - 1][:, None])
        total += cost[sel[:, None], column]  # never NaN: no -inf anywhere
        total[last_t[kind][r_all] > lim_k[r_all, k - 1][:, None]] = np.inf
        q = np.argmin(total, axis=1)
        value = total[np.arange(len(sel)), q]
        old = best[r_all]
        tol = _REL_TIE * (np.abs(np.where(np.isfinite(old), old, 0.0)) + 1.0)
        better = np.flatnonzero(np.isfinite(value) & (value < old - tol))
        if len(better):
            r_b = r_all[better]
            best[r_b], final_q[r_b] = value[better], q[better]
            final_k[r_b], final_kind[r_b] = k, kind

    # arrays by period u carry two leading columns of inf: column u + 2 is period u, so the
    # period before (extend) and the one two before (after a gap) are views, not copies; and
    # the steps of the programme run on the rows laid end to end (one contiguous run, faster
    # than row by row): the padding keeps each row's first periods from seeing the row
    # before, as whole_pad is inf there, and its bits (row r, period u at r x width + u) are
    # never read
    # a job that fits in its last period alone: no whole periods, one block
    width = periods + 2
    finish(np.zeros((rows, width)), 1, 1, live[:, 0] & (whole[:, 0] == 0), 0)
    whole_pad = np.full((rows, width), np.inf)
    whole_pad[:, 2:] = whole_v
    previous: dict[int, np.ndarray] = {}  # P[j - 1, c] by c, padded
    ones = zeros = np.zeros(0, dtype=bool)  # shared trace bits: all set, none set
    for j in range(1, kmax + 1):
        if floors is not None and bound is not None and j > 1:
            # rows where j or more blocks could still beat the best so far stay
            cap = np.minimum(bound[act], best[act])
            tol = np.where(np.isfinite(cap), _REL_TIE * (np.abs(cap) + 1.0), 0.0)
            stay = (reach[act, j - 1 :] & (floors[act, j - 1 : kmax] < (cap - tol)[:, None])).any(
                axis=1
            )
            if not stay.all():
                keep = np.flatnonzero(stay)
                if not len(keep):
                    break
                act = act[keep]
                previous = {c: p[keep] for c, p in previous.items()}
                whole_pad = whole_pad[keep]
                need = _layers(length[act], over[act], most[act], periods)[2]
        n = len(act)
        if n * width - 2 != len(ones):
            ones, zeros = np.ones(n * width - 2, dtype=bool), np.zeros(n * width - 2, dtype=bool)
        flat_v = whole_pad.ravel()[2:]
        pos = np.full(rows, -1, dtype=np.int64)
        pos[act] = np.arange(n)
        at[j] = pos
        current: dict[int, np.ndarray] = {}
        a = np.empty(0)
        for c in range(j, int(need[j]) + 1):
            after_gap: np.ndarray | None
            if j == 1:
                after_gap = np.zeros(n * width - 2) if c == 1 else None
            else:
                low = previous.get(c - 1)
                after_gap = None if low is None else low.ravel()[:-2]
            nxt = np.empty((n, width))
            flat = nxt.ravel()
            flat[:2] = np.inf
            body = flat[2:]
            if c == j:  # every block so far one period long: block j starts here
                new = ones
                if after_gap is None:
                    body[:] = np.inf
                else:
                    np.add(flat_v, after_gap, out=body)
            else:
                extend = a.ravel()[1:-1]
                if after_gap is None:
                    new = zeros
                    np.add(flat_v, extend, out=body)
                else:
                    new = after_gap < extend
                    np.minimum(after_gap, extend, out=body)
                    body += flat_v
            a = nxt
            run_min = np.minimum.accumulate(a, axis=1)  # each row's own running minimum
            started[(j, c)] = new
            improved[(j, c)] = body < run_min.ravel()[1:-1]
            current[c] = run_min
            # the last period extends block j
            if (j, 0, c) in ends:
                finish(a, j, 0, live[:, j - 1] & (whole[:, j - 1] == c), c)
            # the last period is block j + 1 on its own
            if j < kmax and (j + 1, 1, c) in ends:
                finish(run_min, j + 1, 1, live[:, j] & (whole[:, j] == c), c)
        previous = current

    def last_improvement(j: int, c: int, r: Any, u: int) -> int:
        # the last period at or before u where P[j, c] of row r improved: where it was set
        base = int(at[j][r]) * width
        return u - int(np.argmax(improved[(j, c)][base : base + u + 1][::-1]))

    for r in np.flatnonzero(np.isfinite(best)):
        k, kind, q = int(final_k[r]), int(final_kind[r]), int(final_q[r])
        end_t[r], end_w[r], end_v[r] = last_t[kind][r, q], part[r, k - 1], last_v[kind][r, q]
        chosen[r] = k
        c = int(whole[r, k - 1])
        j = k if kind == 0 else k - 1
        u = int(last_u[kind][r, q]) if kind == 0 else -1
        if kind == 1 and j > 0:  # the best earlier end of j blocks, two or more periods before
            u = last_improvement(j, c, r, int(last_u[kind][r, q]))
        while j > 0:
            weights[r, u] = 1.0
            if started[(j, c)][int(at[j][r]) * width + u]:
                j, c = j - 1, c - 1
                if j > 0:
                    u = last_improvement(j, c, r, u - 2)
            else:
                c, u = c - 1, u - 1
    return weights, chosen, end_t, end_w, end_v


def _last_weights(length: np.ndarray, over: np.ndarray, periods: int) -> tuple[np.ndarray, ...]:
    """The least and the greatest weight the last period can have, over every block count."""
    pairs, inverse = np.unique(np.stack((length, over), axis=1), axis=0, return_inverse=True)
    _, _, part = _partial_runs(pairs[:, 0], pairs[:, 1], max(1, (periods + 1) // 2))
    inverse = inverse.reshape(-1)  # rows share a few (length, overhead) pairs: once each
    return part.min(axis=1)[inverse], part.max(axis=1)[inverse]


def _segments_bound(x: np.ndarray, charge: np.ndarray) -> np.ndarray:
    """A lower bound, per row, on ``sum over blocks of (charge + sum of x over the block)`` for
    any set of disjoint blocks (intervals; none is allowed), given ``charge >= 0``.

    Only the negative runs of ``x`` can pay: a block that covers runs ``r1..r2`` pays the charge
    once and every gap between them in full, so crediting run r with
    ``a_r = min(charge, gap before r)`` never credits more than the block pays; each run then
    counts ``min(0, sum_r + a_r)``. The same with the gap after r; the larger bound is kept."""
    return _runs_bound(x.ravel(), None, charge, x.shape[1])


def _runs_bound(
    x: np.ndarray, row: np.ndarray | None, charge: np.ndarray, width: int = 0
) -> np.ndarray:
    """:func:`_segments_bound` on rows laid end to end: ``x`` (N,) in order, ``row`` (N,) each
    item's row (non-decreasing), ``charge`` (R,); or ``row`` None and every row ``width``
    items. An item may stand for several periods (its sum): runs and gaps only ever add items
    up."""
    rows = len(charge)
    out = np.full(rows, -np.inf)
    if not len(x):
        return np.zeros(rows)
    neg = x < 0
    change = np.empty(neg.shape, dtype=bool)
    change[0] = True
    np.not_equal(neg[1:], neg[:-1], out=change[1:])
    if row is None:
        change[::width] = True
    else:
        change[1:] |= row[1:] != row[:-1]
    starts = np.flatnonzero(change)
    sums = np.add.reduceat(x, starts)
    row = starts // width if row is None else row[starts]
    is_neg = neg[starts]
    same_prev = np.r_[False, row[1:] == row[:-1]]
    same_next = np.r_[row[1:] == row[:-1], False]
    gap_before = np.where(same_prev, np.r_[np.inf, sums[:-1]], np.inf)
    gap_after = np.where(same_next, np.r_[sums[1:], np.inf], np.inf)
    cost = charge[row]
    for gap in (gap_before, gap_after):
        credit = np.minimum(0.0, sums + np.minimum(cost, gap))
        total = np.bincount(row[is_neg], weights=credit[is_neg], minlength=rows)
        out = np.maximum(out, total)
    return out


def _smallest(a: np.ndarray, ranks: list[int]) -> np.ndarray:
    """Each row's values at these 0-based ranks in sorted order (R x len(ranks)): what
    ``np.partition(a, ranks, axis=1)[:, ranks]`` gives, for a few small ranks of long rows
    without partitioning every period. The k-th smallest is at most the k-th smallest of the
    minima of any k + 1 disjoint groups of periods, so only the periods at or under that are
    sorted."""
    rows, n = a.shape
    top = max(ranks)
    size = n // (4 * (top + 1))  # groups of this many periods: 4 x (top + 1) groups or more
    if size < 4 or not rows:
        return np.partition(a, ranks, axis=1)[:, ranks]
    groups = n // size
    minima = a[:, : groups * size].reshape(rows, groups, size).min(axis=2)
    cap = np.partition(minima, top, axis=1)[:, top]
    out = np.empty((rows, len(ranks)))
    odd = ~np.isfinite(cap)  # NaN or inf among the minima: the plain way
    if odd.any():
        out[odd] = np.partition(a[odd], ranks, axis=1)[:, ranks]
    rest = np.flatnonzero(~odd)
    if len(rest):
        sub = a if len(rest) == rows else a[rest]
        r, t = np.nonzero(sub <= cap[rest, None])  # top + 1 or more per row
        counts = np.bincount(r, minlength=len(rest))
        first = np.concatenate(([0], np.cumsum(counts)[:-1]))  # r is sorted: each row's start
        packed = np.full((len(rest), int(counts.max())), np.inf)  # each row's few, inf after
        packed[r, np.arange(len(r)) - first[r]] = sub[r, t]
        out[rest] = np.partition(packed, ranks, axis=1)[:, ranks]
    return out


def _prices(v: np.ndarray, usable: np.ndarray, length: np.ndarray, over: np.ndarray) -> np.ndarray:
    """Each row's price for :func:`_lower_bounds` (R,): the one that (nearly) maximises the
    Lagrangian bound on the whole schedule, ``p L - p o + segments bound of (v - p)`` with
    charge ``p o``, found on a grid refined a few times between the m-th and the
    ``_PRICE_TOP`` x m-th cheapest usable period (m: the one-block run). Any price gives a
    valid bound; this one only makes it tight. The search runs on each row's periods below
    the top price, the others summed into one item per stretch (they never pay)."""
    rows, periods = v.shape
    every = bool(usable.all())  # usable periods have data: then v is the pool as it is
    pool = v if every else np.where(usable, v, np.inf)
    m = int(np.ceil(float(np.max(length, initial=1.0))))
    ranks = sorted({min(periods - 1, max(0, m - 1)), min(periods - 1, _PRICE_TOP * m - 1)})
    bracket = np.partition(pool, ranks, axis=1)[:, ranks]
    top = np.max(v if every else np.where(usable, v, -np.inf), axis=1, initial=-np.inf)
    top = np.where(np.isfinite(top), top, 0.0)
    bracket = np.where(np.isfinite(bracket), bracket, top[:, None])
    low, high = bracket[:, 0], bracket[:, -1]
    # items: every period below the top price alone; each stretch of other usable periods
    # summed (sum of v, count); each stretch of unusable ones a barrier no block crosses
    cand = usable & (v < high[:, None])
    kind = np.logical_not(cand) if every else 2 - usable.view(np.int8) - cand.view(np.int8)
    kind = kind.view(np.int8).ravel()  # 0 below the top price, 1 other usable, 2 unusable
    flag = np.empty(kind.shape, dtype=bool)
    flag[0] = True
    np.not_equal(kind[1:], kind[:-1], out=flag[1:])
    flag |= kind == 0
    flag[::periods] = True
    starts = np.flatnonzero(flag)
    if every:  # no unusable periods: an item's count is its length
        sums = np.add.reduceat(v.ravel(), starts)
        counts = np.diff(starts, append=v.size).astype(float)
    else:
        sums = np.add.reduceat(np.where(usable, v, 0.0).ravel(), starts)
        counts = np.add.reduceat(usable.ravel().astype(float), starts)
    barrier = kind[starts] == 2
    sums[barrier], counts[barrier] = np.inf, 0.0
    row = starts // periods
    grid = _PRICE_GRID
    stack_row = (np.arange(grid)[:, None] * rows + row[None, :]).ravel()
    for _ in range(_PRICE_ROUNDS):
        p = low[:, None] + (high - low)[:, None] * np.linspace(0.0, 1.0, grid)[None, :]
        x = sums[None, :] - p.T[:, row] * counts[None, :]  # (grid, items)
        charge = np.maximum(p.T * over[None, :], 0.0).ravel()
        with np.errstate(invalid="ignore"):
            bound = _runs_bound(x.ravel(), stack_row, charge).reshape(grid, rows).T
        bound = bound + p * (length - over)[:, None]
        bound = np.where(np.isnan(bound), -np.inf, bound)
        best = np.argmax(bound, axis=1)
        pick = np.arange(rows)
        low = p[pick, np.maximum(best - 1, 0)]
        high = p[pick, np.minimum(best + 1, grid - 1)]
        chosen = p[pick, best]
    return chosen


def _lower_bounds(
    v: np.ndarray,
    length: np.ndarray,
    end: np.ndarray,
    over: np.ndarray,
    whole_out: np.ndarray | None = None,
) -> np.ndarray:
    """For every period, a lower bound on the cost of any schedule that uses it (R x T; inf
    where no schedule can use it). Used to leave periods out of :func:`_exact`'s search.

    Lagrangian: for any price p, a k-block schedule costs ``p x run_k + sum(w (v - p))`` =
    ``p L - p o + sum over its blocks of (p o + sum of w (v - p) over the block)``. The block
    that holds period t costs at least ``p o`` plus the least sum of ``v - p`` over an interval
    around t; the other blocks at least :func:`_segments_bound` (a bound for any set of blocks).
    The last period's weight w is not known, so its ``w (v - p)`` is bounded by the smallest
    value any block count gives. Any price gives a valid bound; each row's is the one
    :func:`_prices` finds nearly maximises the bound on the whole schedule (the tightest
    there, and in practice within a few periods of the best for pruning).

    ``whole_out`` (R x T), where given, receives the bound on schedules that use the period
    whole (not as their last period): most periods cheap enough to end a schedule with a
    small weight are not cheap enough to be used whole."""
    rows, periods = v.shape
    index = np.arange(periods)[None, :]
    finite = np.isfinite(v)
    complete = bool(finite.all())  # no gaps (the usual case): shortcuts, the same values
    # periods that can be used whole: a prefix of each row where it has no gaps
    whole_n = np.clip(np.floor(end + _EPS), 0, periods)
    whole_ok = index < whole_n[:, None]
    if not complete:
        whole_ok &= finite
    w_lo, w_hi = _last_weights(length, over, periods)
    # the most the last period can weigh (w_hi, but less within w_hi of the end): before
    # column `head` every row's is w_hi, with a margin of a period, and any weight fits
    head = int(np.clip(np.floor(np.min(end + _EPS - w_hi, initial=periods)) - 1, 0, periods))
    w_top = np.minimum((end + _EPS)[:, None] - index[:, head:], w_hi[:, None])  # from head
    last_ok = np.ones((rows, periods), dtype=bool)
    np.greater_equal(w_top + _EPS, w_lo[:, None], out=last_ok[:, head:])
    if not complete:
        last_ok &= finite
    usable = whole_ok | last_ok
    # the masks are all set on complete data before every row's end: skip them there
    all_whole = bool(whole_ok.all())
    all_last = bool(last_ok.all()) if not complete else bool(last_ok[:, head:].all())
    all_usable = all_whole or bool(usable.all())

    p = _prices(v, usable, length, over)  # one price per row
    charge = p * over
    gain = v - p[:, None] if complete else np.where(finite, v - p[:, None], 0.0)
    g = gain if all_whole else np.where(whole_ok, gain, 0.0)  # v - p of a whole period
    w = np.where(gain < 0, w_hi[:, None], w_lo[:, None])
    w[:, head:] = np.where(gain[:, head:] < 0, w_top, w_lo[:, None])
    w *= gain
    h = w if all_last else np.where(last_ok, w, 0.0)  # at most the last period's w (v - p)
    least = np.minimum(g, h)  # at most what the period adds in any role
    cum = np.zeros((rows, periods + 1))  # sum of g over [0, t)
    np.cumsum(g, axis=1, out=cum[:, 1:])
    # the block around t: from its start a <= t (sum of g over [a, t)) ...
    left = np.maximum.accumulate(cum[:, :-1], axis=1)
    np.subtract(cum[:, :-1], left, out=left)
    # ... and after t, up to a last period b > t: sum of g over (t, b) plus least[b]
    tail = np.add(cum[:, :-1], least)[:, ::-1]
    np.minimum.accumulate(tail, axis=1, out=tail)
    tail = tail[:, ::-1]
    own = np.empty((rows, periods))
    np.subtract(tail[:, 1:], cum[:, 1:-1], out=own[:, :-1])
    own[:, -1] = np.inf
    np.minimum(own, 0.0, out=own)
    own += g  # the period whole, then the best continuation
    if not all_whole:
        own[~whole_ok] = np.inf
    others = _segments_bound(
        least if all_usable else np.where(usable, least, np.inf), np.maximum(charge, 0.0)
    )
    # a negative price (rows with negative data): every usable period on its own, charged
    neg = np.flatnonzero(charge < 0)  # only these rows (a pass over all of them: ~4 ms)
    if len(neg):
        others[neg] = np.where(
            usable[neg], np.minimum(0.0, least[neg] + charge[neg, None]), 0.0
        ).sum(axis=1)
    best = np.add((p * length + others)[:, None], left, out=left)
    if whole_out is not None:  # the bound on schedules that use the period whole
        np.add(best, own, out=whole_out)
    np.minimum(own, h if all_last else np.where(last_ok, h, np.inf), out=own)
    best += own
    if all_usable:
        return best
    return np.where(usable, best, np.inf)


class _Packed(NamedTuple):
    """A group of rows reduced to the periods a search may use (see :func:`_compress`)."""

    v: np.ndarray  # (R x W) the periods that may be used whole, NaN between non-adjacent ones
    end: np.ndarray  # (R,) the end in those positions
    where: np.ndarray  # (R x W) each position's original period (-1: a gap or padding)
    last_v: np.ndarray  # (R x Q) the values of every period that may end a schedule (inf: none)
    # the last-period candidates by how the last period joins the blocks, each (R x Q_kind),
    # in order, padded with inf / -1 (see _ends): values, original periods, and the position
    # of the block's end they follow (kind 0: just before; kind 1: two or more before)
    ends: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _compress(
    v: np.ndarray, end: np.ndarray, keep: np.ndarray, last: np.ndarray | None = None
) -> _Packed:
    """Each row's kept periods in order, a NaN between two that were not adjacent (so that no
    block bridges a left-out period), and the periods that may end a schedule (``last``;
    default: the kept ones) with where they stand among the kept ones: a last period extends
    a block that ends just before it, or follows one that ends two or more periods before."""
    rows, periods = v.shape
    r, t = np.nonzero(keep)
    counts = np.bincount(r, minlength=rows)
    first_of_row = np.r_[True, r[1:] != r[:-1]] if len(r) else np.zeros(0, dtype=bool)
    gap = ~first_of_row & (np.diff(t, prepend=0) > 1)
    offset = np.cumsum(1 + gap) - 1  # position if all rows were one
    row_start = np.repeat(offset[first_of_row] if len(r) else offset[:0], counts[counts > 0])
    pos = offset - row_start
    width = int(pos.max(initial=-1)) + 1
    out = np.full((rows, max(width, 1)), np.nan)
    where = np.full((rows, max(width, 1)), -1, dtype=np.int64)
    out[r, pos] = v[r, t]
    where[r, pos] = t
    new_end = np.zeros(rows)
    if len(r):
        tail = np.r_[first_of_row[1:], True]
        rl, tl, pl = r[tail], t[tail], pos[tail]
        new_end[rl] = pl + np.minimum(1.0, end[rl] - tl)
    # the last-period candidates, each row's in order, and the kept positions around them
    rc, tc = (r, t) if last is None else np.nonzero(last)
    n_c = np.bincount(rc, minlength=rows)
    start_c = np.concatenate(([0], np.cumsum(n_c)[:-1]))
    q = np.arange(len(rc)) - start_c[rc]
    size = max(int(n_c.max(initial=0)), 1)
    last_v = np.full((rows, size), np.inf)
    last_t = np.full((rows, size), -1, dtype=np.int64)
    last_u0 = np.full((rows, size), -1, dtype=np.int64)
    last_u2 = np.full((rows, size), -1, dtype=np.int64)
    value = v[rc, tc]
    last_v[rc, q] = np.where(np.isfinite(value), value, np.inf)
    last_t[rc, q] = tc
    if len(r) and len(rc):
        stride = periods + 3
        key = r * stride + t + 2  # sorted: rows in order, periods in order within a row
        i0 = np.searchsorted(key, rc * stride + tc + 1)  # the period just before
        hit = i0 < len(key)
        hit[hit] = key[i0[hit]] == (rc * stride + tc + 1)[hit]
        last_u0[rc[hit], q[hit]] = pos[i0[hit]]
        i2 = np.searchsorted(key, rc * stride + tc, side="right") - 1  # two or more before
        hit = i2 >= 0
        hit[hit] = r[i2[hit]] == rc[hit]
        last_u2[rc[hit], q[hit]] = pos[i2[hit]]
    return _Packed(out, new_end, where, last_v, _ends(last_v, last_t, last_u0, last_u2, end))


def _ends(
    last_v: np.ndarray,
    last_t: np.ndarray,
    last_u0: np.ndarray,
    last_u2: np.ndarray,
    end: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The last-period candidates worth trying, per kind, packed (see :class:`_Packed`).

    Kind 0 (the last period extends the block just before it): only candidates whose previous
    period may be used whole. Kind 1 (a block of its own): a candidate q after another q'
    with a smaller value never wins: q' follows at least the same block ends (the running
    minimum P it adds to is no larger) and costs strictly less with any weight, so only each
    row's candidates at or below every later one's value are kept; the later ones counted
    are those at least two periods before the end, which every weight may use (the last
    period p needs p + w <= end with w <= 1), and the candidates after them are all kept.
    The earliest best candidate is always kept, so the schedule found is the same."""
    rows = last_v.shape[0]
    real = (last_t >= 0) & np.isfinite(last_v)
    safe = last_t <= (np.floor(end + _EPS) - 2)[:, None]
    later = np.where(real & safe, last_v, np.inf)[:, ::-1]
    later = np.minimum.accumulate(later, axis=1)[:, ::-1]  # min over this one and after
    after = np.full(last_v.shape, np.inf)
    after[:, :-1] = later[:, 1:]
    kinds = (real & (last_u0 >= 0), real & ((last_v <= after) | ~safe))
    out: list[np.ndarray] = []
    for mask, u in zip(kinds, (last_u0, last_u2), strict=True):
        r, q = np.nonzero(mask)
        n = np.bincount(r, minlength=rows)
        i = np.arange(len(r)) - np.concatenate(([0], np.cumsum(n)[:-1]))[r]
        size = max(int(n.max(initial=0)), 1)
        values = np.full((rows, size), np.inf)
        periods = np.full((rows, size), -1, dtype=np.int64)
        before = np.full((rows, size), -1, dtype=np.int64)
        values[r, i], periods[r, i], before[r, i] = last_v[r, q], last_t[r, q], u[r, q]
        out += [values, periods, before]
    return (out[0], out[1], out[2], out[3], out[4], out[5])


def _search(
    v: np.ndarray,
    length: np.ndarray,
    end: np.ndarray,
    over: np.ndarray,
    keep: np.ndarray,
    bound: np.ndarray,
    out: np.ndarray | None = None,
    last: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_exact` on each row's kept periods only (see :func:`_compress`): the cheapest
    schedule among those that use no other period whole and end in a ``last`` one (default:
    a kept one), with every block count that could cost at most ``bound``. Weights (R x T,
    in the original periods; written into ``out``, all zeros, where given) and their cost
    (inf: none)."""
    rows, periods = v.shape
    weights = np.zeros((rows, periods)) if out is None else out
    total = np.full(rows, np.inf)
    # rows in order of how many periods they keep, in groups of similar widths
    count = keep.sum(axis=1)
    order = np.argsort(count, kind="stable")
    order = order[count[order] > 0]
    i = 0
    while i < len(order):
        j = i + 1
        limit = 2 * int(count[order[i]]) + 32
        while j < len(order) and count[order[j]] <= limit:
            j += 1
        group = order[i:j]
        i = j
        packed = _compress(v[group], end[group], keep[group], None if last is None else last[group])
        w, cost, end_t, end_w = _solve_packed(
            packed, length[group], end[group], over[group], bound[group], last is not None
        )
        rr, cc = np.nonzero(w)  # the whole periods used (never a gap or padding)
        weights[group[rr], packed.where[rr, cc]] = w[rr, cc]
        ended = np.flatnonzero(end_t >= 0)
        weights[group[ended], end_t[ended]] = end_w[ended]
        total[group] = cost
    return weights, total


def _solve_packed(
    packed: _Packed,
    length: np.ndarray,
    end: np.ndarray,
    over: np.ndarray,
    bound: np.ndarray,
    own_lasts: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_exact` with the fewest blocks that can matter, in chunks whose trace-back bits
    fit the budget: the whole periods' weights (R x W, packed), the cost (inf where no
    schedule was found), and the last period (original period, -1 for none; weight).
    ``end``: in the original periods. ``own_lasts``: the last-period candidates are not just
    the packed periods (the block-count floors then count them too)."""
    v = packed.v
    rows, periods = v.shape
    filled = np.where(np.isfinite(v), v, 0.0)
    best_w = np.zeros((rows, periods))
    best_sum = np.full(rows, np.inf)
    best_t = np.full(rows, -1, dtype=np.int64)
    best_end_w = np.zeros(rows)

    def solve(todo: np.ndarray, most: np.ndarray) -> None:
        per_row = max(1, _states(length[todo], over[todo], most[todo], periods) * periods * 2)
        step = max(1, _TRACE_BYTES // per_row)
        for i in range(0, len(todo), step):
            chunk = todo[i : i + step]
            lasts = (*(a[chunk] for a in packed.ends), end[chunk])
            w, blocks, end_t, end_w, end_v = _exact(
                v[chunk],
                length[chunk],
                packed.end[chunk],
                over[chunk],
                most[chunk],
                lasts,
                floors[chunk],
                bound[chunk],
            )
            best_w[chunk] = w
            best_t[chunk], best_end_w[chunk] = end_t, end_w
            spent = (w * filled[chunk]).sum(axis=1) + end_w * end_v
            best_sum[chunk] = np.where(blocks > 0, spent, np.inf)

    # The work grows with the number of blocks searched, and the bound given is loose on it
    # (with a long overhead, hundreds of blocks "might" pay). Within one programme a row stops
    # as soon as its best so far rules out more blocks; but where the overhead is longer than
    # a period, the whole periods of early layers grow with the blocks allowed, so few blocks
    # are searched first; the cost found is a schedule's, a tighter bound: rows where more
    # blocks could still cost as little are searched again with that many.
    if own_lasts:  # the candidates hold every period used (last ones: all of them, whole);
        # as many columns again of no data, so that the floors cover one block per candidate
        n_c = packed.last_v.shape[1]
        union = np.full((rows, 2 * n_c + 1), np.nan)
        union[:, :n_c] = np.where(np.isfinite(packed.last_v), packed.last_v, np.nan)
        floors = _block_floors(union, length, np.full(rows, float(n_c)), over)
    else:
        floors = _block_floors(v, length, packed.end, over)
    most = _most_blocks(floors, bound)
    # an overhead of at most one period: the whole periods each layer needs do not grow with
    # the blocks allowed, so every block count that can pay is searched in one programme that
    # drops each row as soon as more blocks cannot beat what it has
    lazy = over <= 1.0
    first = np.where(lazy, most, np.minimum(most, _FIRST_BLOCKS))
    solve(np.flatnonzero(first >= 1), first)
    again = _most_blocks(floors, np.minimum(bound, best_sum))
    wider = np.flatnonzero((again > first) & (most > first))
    if len(wider):
        solve(wider, np.where(np.isin(np.arange(rows), wider), np.minimum(again, most), 0))
    return best_w, best_sum, best_t, best_end_w


def best_interruptible(
    values: np.ndarray, length: Any, end: Any = None, overhead: Any = 0.0
) -> Schedule:
    """Each row's cheapest schedule before ``end`` holding ``length`` periods of work plus
    ``overhead`` periods of run time for every pause (restart after a checkpoint): exact.

    The model. The job runs in blocks (maximal runs of time it runs), each a contiguous
    interval of time: every block starts on a period boundary and every block but the last
    ends on one (the job is paused or resumed at a period's start: the data's resolution);
    the last block ends when the work is done, inside a period if need be. With k blocks the
    machines run ``L + (k - 1) x overhead`` periods, so the last period used has weight
    ``w_k = run - (ceil(run) - 1)`` in (0, 1] and every other one weight 1. Nothing runs
    after ``end`` or in a period without data. The cost is the integral of the step function,
    ``sum(intensity x weight)``. One block is :func:`best_contiguous`'s window (whose windows
    also start on a boundary and end inside the last period), so the result is never worse;
    rows whose best is one block keep exactly that window (``interrupted`` False). Among
    equal costs, fewer pauses win, then the earlier finish.

    The search is the exact dynamic programme of :func:`_exact`, O(T x K x C) per row for T
    periods, at most K blocks and C whole periods (C ~ L + (K - 1) x overhead), run only on
    the periods some schedule as cheap as a known one could use: :func:`_lower_bounds` gives
    every period a lower bound on the cost of any schedule through it; the search first runs
    on the periods with the least bounds (its result is a schedule, an upper bound U), and
    again where that is not already every period whose bound is within U: then the blocks use
    the periods whose bound as a whole period is within U, and the last period is any period
    whose bound is (most periods of a year cheap enough to end a schedule with a small weight
    are far too dear to be used whole). Periods left out are gaps no block bridges, so every
    schedule searched is one of the model's, and every schedule that could tie with the best
    is searched."""
    v = _rows(values)
    rows, periods = v.shape
    length_r = _per_row(length, rows)
    end_r = np.minimum(_per_row(end, rows, float(periods)), periods)
    over = np.maximum(_per_row(overhead, rows), 0.0)
    contiguous = best_contiguous(v, length_r, end_r)
    base_sum = np.where(contiguous.feasible, contiguous.sum, np.inf)
    best_w = np.zeros_like(v)
    best_sum = np.full(rows, np.inf)

    todo = np.flatnonzero(length_r > 0)
    if len(todo) and periods:
        # only the periods up to the latest end matter
        span = min(periods, math.ceil(float(end_r[todo].max()) - _EPS))
        whole_rows = len(todo) == rows and span == periods  # the usual case: no copies
        sub = v if whole_rows else v[todo, :span]
        lower = np.empty(sub.shape)
        lower_whole = np.empty(sub.shape)  # the same, for the periods used whole
        seed = np.empty(sub.shape, dtype=bool)
        scale = np.empty(len(todo))  # each row's sum of |v|: the size of its float noise
        # first search: the periods with the least bounds
        seed_n = min(span, int(_SEED_PERIODS * math.ceil(float(length_r[todo].max()))) + 8)
        for i in range(0, len(todo) if span else 0, _ROW_CHUNK):
            part, rows_i = slice(i, i + _ROW_CHUNK), todo[i : i + _ROW_CHUNK]
            low = _lower_bounds(
                sub[part], length_r[rows_i], end_r[rows_i], over[rows_i], lower_whole[part]
            )
            cut = _smallest(low, [seed_n - 1])[:, 0]
            lower[part] = low
            scale[part] = np.abs(np.where(np.isfinite(sub[part]), sub[part], 0.0)).sum(axis=1)
            np.less_equal(low, cut[:, None], out=seed[part])
            seed[part] &= np.isfinite(low)
        w = best_w if whole_rows else np.zeros(sub.shape)
        w, total = _search(
            sub, length_r[todo], end_r[todo], over[todo], seed, base_sum[todo], out=w
        )
        upper = np.minimum(base_sum[todo], total)
        margin = 1e-7 * (np.abs(np.where(np.isfinite(upper), upper, 0.0)) + 1.0) + 1e-9 * scale
        keep = lower <= (upper + margin)[:, None]
        again = np.flatnonzero((keep & ~seed).any(axis=1))
        if len(again):
            # every period a schedule as cheap as the best found could use: whole where its
            # bound as a whole period allows, last where its bound allows (a superset)
            w2, total2 = _search(
                sub[again],
                length_r[todo][again],
                end_r[todo][again],
                over[todo][again],
                lower_whole[again] <= (upper + margin)[again, None],
                (upper + margin)[again],
                last=keep[again],
            )
            w[again], total[again] = w2, total2
        if not whole_rows:
            best_w[todo, :span] = w
        best_sum[todo] = total

    tolerance = _REL_TIE * (np.abs(np.where(np.isfinite(base_sum), base_sum, 0.0)) + 1.0)
    use_split = np.isfinite(best_sum) & (best_sum < base_sum - tolerance)
    weights = best_w
    kept = np.flatnonzero(~use_split & contiguous.feasible)  # rows that keep the window
    weights[~use_split] = 0.0
    weights[kept] = contiguous_weights(periods, contiguous.start[kept], length_r[kept])
    total = np.where(use_split, best_sum, contiguous.sum)
    pauses = np.maximum(_blocks(weights) - 1, 0)
    return Schedule(
        weights=weights,
        sum=total,
        length=length_r,
        pauses=np.where(np.isfinite(total), pauses, 0),
        interrupted=use_split & (pauses > 0),
    )


def brute_force_contiguous(values: np.ndarray, length: float, end: float) -> float:
    """The O(T x L) reference search (tests compare the fast one against it)."""
    v = np.asarray(values, dtype=float)
    whole, frac = _split(np.array([length]))
    k, f = int(whole[0]), float(frac[0])
    best = math.inf
    for s in range(len(v)):
        if s + length > end + _EPS or s + k + (f > 0) > len(v):
            continue
        window = v[s : s + k]
        total = float(window.sum()) + (f * float(v[s + k]) if f > 0 else 0.0)
        if not np.isfinite(window).all() or (f > 0 and not np.isfinite(v[s + k])):
            continue
        best = min(best, total)
    return best


# --- the planner hook ---------------------------------------------------------------------


@dataclass(frozen=True)
class TimeWindow:
    """When a job may run: from ``start_after`` to ``deadline`` (latest finish; None: no
    flexibility, it starts at ``start_after``), pausing or not."""

    start_after: datetime
    deadline: datetime | None = None
    interruptible: bool = False
    checkpoint_minutes: float = CHECKPOINT_MINUTES

    @property
    def hours(self) -> float | None:
        if self.deadline is None:
            return None
        return (self.deadline - self.start_after).total_seconds() / 3600.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "start_after": iso(self.start_after),
            "deadline": iso(self.deadline),
            "interruptible": self.interruptible,
            "checkpoint_minutes": self.checkpoint_minutes,
        }


TIMING_COLUMNS = [
    "start",
    "end",
    "delay_hours",
    "run_hours",
    "pauses",
    "run_intervals",
    "run_now_gco2_per_kwh",
]


def add_run_now(
    frame: pd.DataFrame, energy_kwh: pd.Series, gpu_hours: pd.Series, settings: Settings
) -> pd.DataFrame:
    """``run_now_kgco2e`` (the same option started at --start-after, without pauses) and
    ``shift_saving_pct`` (how much less the chosen timing emits), given the option's energy
    and GPU-hours before any restart overheads."""
    now_kg = (
        energy_kwh * frame["run_now_gco2_per_kwh"] / 1000.0
        + gpu_hours * settings.embodied_g_per_gpu_hour / 1000.0
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        saving = np.where(now_kg > 0, 100.0 * (now_kg - frame["kgco2e"]) / now_kg, 0.0)
    return frame.assign(run_now_kgco2e=now_kg, shift_saving_pct=saving)
