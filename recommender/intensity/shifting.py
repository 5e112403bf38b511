"""The time-shifting intensity hook: each option runs in its own best window of a live or
forecast series (or, interruptible, its cheapest periods) between ``--start-after`` and
``--deadline``.

This is the adapter between the intensity sources and the planner: it turns a zone's
:class:`~recommender.intensity.model.ZoneSeries` into a plain per-period array
(:func:`zone_grid`) and hands that to the planner's pure window search
(:func:`recommender.planner.timing.best_contiguous` / ``best_interruptible``). The planner
never sees the source types; it calls this hook as an
:data:`recommender.planner.core.IntensityFn` (a frame of options in, intensity columns out).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from recommender.intensity.model import ZoneSeries, iso, utc, window_means
from recommender.intensity.planner import apply_series
from recommender.planner.timing import (
    TimeWindow,
    best_contiguous,
    best_interruptible,
    contiguous_weights,
    window_sums,
)

_EPS = 1e-9  # periods: as recommender.planner.timing, a length this close to whole is whole


@dataclass(frozen=True)
class Grid:
    """A zone's intensity per period from ``origin``: what the search ranks."""

    origin: datetime
    period_h: float
    values: np.ndarray  # (T,) mean gCO2e/kWh of each period
    forecast: np.ndarray  # (T,) hours of each period a forecast covered
    known_h: float  # hours from origin that data covers (beyond: the latest value repeated)


def zone_grid(series: ZoneSeries, origin: datetime, hours: float) -> Grid:
    """``series`` as per-period means over ``[origin, origin + hours)`` at its own period,
    with issue 3's rule per instant: the forecast where one covers it, else the latest
    observation (:func:`recommender.intensity.model.window_means`)."""
    origin = utc(origin)
    period = series.period
    period_h = series.period_s / 3600.0
    cells = max(1, math.ceil(hours / period_h - _EPS))
    horizon = origin + timedelta(hours=cells * period_h)
    trimmed = trim(series, origin, horizon)
    latest = trimmed.latest(origin)
    bounds = np.arange(1, cells + 1) * period_h
    means, covered = window_means(trimmed, origin, bounds)
    integral = np.concatenate(([0.0], means * bounds))
    forecast_h = np.concatenate(([0.0], covered))
    end = trimmed.forecast_end(origin)
    if end is not None:
        known = (end - origin).total_seconds() / 3600.0
    elif latest is not None:
        known = (latest.time + period - origin).total_seconds() / 3600.0
    else:
        known = 0.0
    return Grid(origin, period_h, np.diff(integral) / period_h, np.diff(forecast_h), max(known, 0))


def trim(series: ZoneSeries, begin: datetime, end: datetime) -> ZoneSeries:
    """Only the points that matter for ``[begin, end)``: the latest observation at ``begin``
    and the forecast points overlapping the span (a year-long trace stays cheap)."""
    period = series.period
    latest = series.latest(begin)
    kept = tuple(
        p
        for p in series.points
        if (p.kind == "forecast" and p.time + period > begin and p.time < end) or p is latest
    )
    return replace(series, points=kept)


class ShiftedIntensity:
    """An :data:`IntensityFn`: each option runs in its own best window (or, interruptible, its
    cheapest periods) between ``--start-after`` and ``--deadline``, ranked on what the live
    source forecasts; ``run_now_gco2_per_kwh`` is the same job started at ``--start-after``.

    ``live`` is issue 3's :class:`recommender.intensity.LiveIntensity` (None: static figures,
    where time changes nothing). Interruptible runs take longer (a restart overhead per pause),
    so their energy, GPU-hours and cost grow by ``run_hours / wall_hours``."""

    def __init__(
        self,
        live: Any,
        window: TimeWindow,
        *,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.live = live
        self.window = window
        self.warn = warn
        self.notes: list[str] = []
        # what the search ranked, per "provider:region", kept for the report's timing chart
        self.searched: dict[str, tuple[Grid, ZoneSeries]] = {}

    def curve(self, provider: str, region: str) -> dict[str, Any] | None:
        """The intensity a region's windows were chosen on, per period over
        ``[--start-after, --deadline]``, as plain JSON values (the report draws it as
        ``timing.png``); None without a deadline or without a live or trace series there."""
        found = self.searched.get(f"{provider}:{region}")
        if found is None:
            return None
        grid, series = found
        values = [float(v) if math.isfinite(v) else None for v in grid.values.tolist()]
        return {
            "region": f"{provider}:{region}",
            "source": series.label,
            "zone": series.zone,
            "start": iso(grid.origin),
            "period_hours": grid.period_h,
            "known_hours": grid.known_h,  # beyond: the last known value, repeated
            "gco2_per_kwh": [None if v is None else round(v, 3) for v in values],
        }

    def prefetch(self, regions: pd.DataFrame) -> None:
        if self.live is not None:
            self.live.prefetch(regions)

    def describe(self) -> str:
        base = self.live.describe() if self.live is not None else "static annual figures"
        return f"{base}; each option in its own best window (--start-after/--deadline)"

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)
            if self.warn is not None:
                self.warn(text)

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:

        w = self.window
        n = len(frame)
        wall = frame["wall_hours"].to_numpy(dtype=float)
        answers: dict[str, Any] = {}
        if self.live is not None:
            now = self.live.now or datetime.now(UTC)
            resolution = self.live.resolve(frame)
            begin = min(now, w.start_after)
            horizon = w.start_after + timedelta(hours=w.hours or float(wall.max(initial=0)) + 1)
            trimmed: dict[int, Any] = {}
            for key, found in resolution.answers.items():
                if found is not None:
                    if id(found) not in trimmed:
                        trimmed[id(found)] = trim(found, begin, horizon)
                    answers[key] = trimmed[id(found)]
            out = apply_series(frame, answers, now)
        else:
            out = frame[["gco2_per_kwh"]].copy()
        start_iso = iso(w.start_after)
        cols: dict[str, np.ndarray] = {
            "start": np.full(n, start_iso, dtype=object),
            "end": np.array(
                [iso(w.start_after + timedelta(hours=float(h))) for h in wall], dtype=object
            ),
            "delay_hours": np.zeros(n),
            "run_hours": wall.copy(),
            "pauses": np.zeros(n, dtype=np.int64),
            "run_intervals": np.full(n, None, dtype=object),
            "run_now_gco2_per_kwh": out["gco2_per_kwh"].to_numpy(dtype=float).copy(),
        }
        values = cols["run_now_gco2_per_kwh"].copy()
        sources = (
            out["intensity_source"].astype(object).to_numpy().copy()
            if "intensity_source" in out
            else None
        )
        kinds = (
            out["intensity_kind"].astype(object).to_numpy().copy()
            if "intensity_kind" in out
            else None
        )
        keys = (frame["provider"].astype(str) + ":" + frame["region"].astype(str)).to_numpy()
        positions = pd.Series(np.arange(n)).groupby(keys).indices
        grids: dict[int, Grid] = {}  # regions sharing a zone share its series
        short: list[datetime] = []
        shifted_any = False
        for key, idx in positions.items():
            series = answers.get(str(key))
            if series is None:
                continue
            span = w.hours if w.hours is not None else float(wall[idx].max())
            grid = grids.get(id(series))
            if grid is None:
                grid = grids[id(series)] = zone_grid(series, w.start_after, max(span, 1e-6))
            if w.hours is not None:
                self.searched[str(key)] = (grid, series)
            p = grid.period_h
            length = wall[idx] / p
            end_deadline = (span / p) if w.hours is not None else length
            known = grid.known_h / p
            end = np.minimum(end_deadline, np.maximum(known, length))
            if w.hours is not None and grid.known_h < span - 1e-6:
                short.append(grid.origin + timedelta(hours=grid.known_h))
            v = np.broadcast_to(grid.values, (len(idx), len(grid.values)))
            over = w.checkpoint_minutes / 60.0 / p
            if w.interruptible:
                plan = best_interruptible(v, length, end, over)
                weights = plan.weights
                run_sum, run = plan.sum, plan.run
                first, finish, pauses = plan.first, plan.finish, plan.pauses
            else:
                best = best_contiguous(v, length, end)
                weights = contiguous_weights(len(grid.values), best.start, length)
                run_sum, run = best.sum, length
                first, finish = best.start, best.start + length
                pauses = np.zeros(len(idx), dtype=np.int64)
            now = window_sums(v, length, 0) / length
            ok = np.isfinite(run_sum) & np.isfinite(now)
            idx, weights = idx[ok], weights[ok]
            run_sum, run, first, finish = run_sum[ok], run[ok], first[ok], finish[ok]
            pauses, now, length = pauses[ok], now[ok], length[ok]
            if len(idx) and not _on_boundaries(series, grid.origin):
                run_sum, now = _exact_sums(series, grid, weights, length)
            values[idx] = run_sum / run
            cols["run_now_gco2_per_kwh"][idx] = now
            cols["delay_hours"][idx] = first * p
            cols["run_hours"][idx] = run * p
            cols["pauses"][idx] = pauses
            shifted_any = shifted_any or bool((first > 0).any() or (pauses > 0).any())
            forecast_share = (weights * grid.forecast[None, :]).sum(axis=1)
            for j, i in enumerate(idx.tolist()):
                begin = w.start_after + timedelta(hours=float(first[j] * p))
                cols["start"][i] = iso(begin)
                cols["end"][i] = iso(w.start_after + timedelta(hours=float(finish[j] * p)))
                if w.interruptible:
                    cols["run_intervals"][i] = _intervals(weights[j], w.start_after, p)
                if sources is not None:
                    sources[i] = _describe_window(
                        str(sources[i]), grid, float(length[j] * p), w, bool(pauses[j])
                    )
                if kinds is not None and forecast_share[j] > 0 and kinds[i] == "live":
                    kinds[i] = "forecast"
        if short:
            self._note(
                f"the forecast ends before the deadline (from {iso(min(short))}): start times "
                "were searched within the forecast only; runs longer than it start at "
                "--start-after, with the last known figure beyond its end"
            )
        if self.live is not None and not answers:
            self._note(
                "no region has live or forecast figures (static fallback): nothing to shift; "
                "every option runs from --start-after"
            )
        elif answers and not shifted_any and w.hours is not None:
            self._note("no option is cleaner later: every option runs from --start-after")
        out["gco2_per_kwh"] = values
        if sources is not None:
            out["intensity_source"] = sources
        if kinds is not None:
            out["intensity_kind"] = kinds
        for name, column in cols.items():
            out[name] = column
        scale = np.where(wall > 0, cols["run_hours"] / np.where(wall > 0, wall, 1.0), 1.0)
        if w.interruptible and (scale != 1.0).any():
            for name in ("energy_kwh", "gpu_hours", "cost_usd"):
                out[name] = frame[name].to_numpy(dtype=float) * scale
        return out


def _on_boundaries(series: ZoneSeries, origin: datetime) -> bool:
    """Whether the grid's periods from ``origin`` are the series' own (``--start-after`` on
    one of its period boundaries), so that each grid period holds one value."""
    if not series.points:
        return True
    offset = (utc(origin) - series.points[0].time).total_seconds() % series.period_s
    return min(offset, series.period_s - offset) < 1e-3


def _exact_sums(
    series: ZoneSeries, grid: Grid, weights: np.ndarray, length: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each schedule's sum of intensity x period (as ``weights`` x ``grid.values``) and the
    run-now mean, from the series itself where the grid cannot give them exactly.

    With ``--start-after`` inside a data period, every grid period straddles two of the
    series' periods and its value is their mean: exact for a period used whole, not for the
    partly used last period of a run (the run uses its first part only) nor for run-now's last
    period. Those parts are integrated over the time actually run, so the figure reported and
    ranked is the intensity over the run's intervals. (The search itself still chose the
    schedule on the grid's means: a start on the grid's boundaries, --start-after + whole
    periods, as everywhere.)"""
    p = grid.period_h
    rows = np.arange(len(weights))
    used = weights > _EPS
    last = weights.shape[1] - 1 - np.argmax(used[:, ::-1], axis=1)
    frac = weights[rows, last]
    values = np.where(np.isfinite(grid.values), grid.values, 0.0)
    whole = np.where(used, weights * values[None, :], 0.0).sum(axis=1) - frac * values[last]
    begin, end, now_end = last * p, (last + frac) * p, length * p
    means, _ = window_means(series, grid.origin, np.concatenate([begin, end, now_end]))
    n = len(rows)
    integral = np.where(
        np.concatenate([begin, end]) > 0, means[: 2 * n] * np.concatenate([begin, end]), 0.0
    )
    part = (integral[n:] - integral[:n]) / p
    return whole + part, means[2 * n :]


def _intervals(weights: np.ndarray, origin: datetime, period_h: float) -> str:
    """``START/END START/END ...`` (ISO 8601 intervals) of the periods a schedule runs in."""
    on = weights > _EPS
    parts = []
    i = 0
    while i < len(on):
        if not on[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(on) and on[j + 1]:
            j += 1
        begin = origin + timedelta(hours=i * period_h)
        finish = origin + timedelta(hours=(j + float(weights[j])) * period_h)
        parts.append(f"{iso(begin)}/{iso(finish)}")
        i = j + 1
    return " ".join(parts)


def _describe_window(
    source: str, grid: Grid, hours: float, window: TimeWindow, paused: bool
) -> str:
    head = source.split(": ", 1)[0]  # "<source label>, zone X"
    until = window.deadline
    known_end = grid.origin + timedelta(hours=grid.known_h)
    what = "cheapest periods" if paused else "best window"
    text = f"{head}: {what} for {hours:,.1f} h"
    if until is not None:
        text += f" before {iso(until)}"
        if known_end < until:
            text += f" (data ends {iso(known_end)}: searched up to it)"
    return text
