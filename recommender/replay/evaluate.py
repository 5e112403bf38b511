"""Replay a job pattern on a trace: run at submit vs the best start (and, for jobs that may
pause, the cheapest periods) before each job's deadline.

The planner's decision is made on what could be known at submit time and then charged at the
trace's real intensities:

- ``forecast`` (realistic): a simple built-in forecaster that sees only periods that ended by
  submit time. ``yesterday``: each period of the window takes the intensity of the same time
  of day on the last full day before submit (day-ahead persistence); ``week``: the mean of
  that time of day over the seven days before submit; ``week-now``: that weekly profile plus
  the last period's deviation from its own weekly mean, fading with a 12-hour half-life
  (a windy or sunny spell lasts a while).
- ``oracle``: perfect foresight, the bound a perfect forecast would reach.

All jobs draw the same power, so emissions are proportional to intensity x hours run and the
savings are ratios of sums over every job (restart overheads of paused jobs included).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recommender.errors import BadInputError
from recommender.planner.timing import (
    best_contiguous,
    best_interruptible,
    window_sums,
)
from recommender.replay.traces import Trace

FORECASTERS = ("yesterday", "week", "week-now")
_HISTORY_DAYS = {"yesterday": 1, "week": 7, "week-now": 7}
#: ``week-now``: how fast today's deviation from the weekly profile fades (weather persists
#: for hours, not days).
ANOMALY_HALF_LIFE_H = 12.0


@dataclass(frozen=True)
class Jobs:
    """Submit time, length and latest finish of each job (UTC)."""

    submit: pd.DatetimeIndex
    hours: np.ndarray
    deadline: pd.DatetimeIndex
    pattern: str

    def __len__(self) -> int:
        return len(self.submit)


def parse_duration(flag: str, text: str) -> float:
    """``24h``, ``90m``, ``7d`` or plain hours, in hours."""
    value = text.strip().lower()
    scale = {"m": 1 / 60, "h": 1.0, "d": 24.0}.get(value[-1:])
    number = value[:-1] if scale is not None else value
    try:
        hours = float(number) * (scale or 1.0)
    except ValueError:
        raise BadInputError(
            f"{flag} {text!r} is not a duration", "e.g. 24h, 90m, 7d or hours (24)"
        ) from None
    if not math.isfinite(hours) or hours <= 0:
        raise BadInputError(f"{flag} must be > 0, got {text}")
    return hours


def parse_clock(text: str) -> float:
    """``HH:MM`` as hours after midnight."""
    try:
        hh, mm = text.strip().split(":")
        h, m = int(hh), int(mm)
    except ValueError:
        raise BadInputError(
            f"--at {text!r} is not a time of day", "give HH:MM, e.g. 01:00"
        ) from None
    if not (0 <= h < 24 and 0 <= m < 60):
        raise BadInputError(f"--at {text!r} is not a time of day", "give HH:MM, e.g. 01:00")
    return h + m / 60.0


def daily_jobs(
    trace: Trace,
    *,
    job_hours: float,
    flex_hours: float,
    every_hours: float = 24.0,
    at_hours: float = 0.0,
    first: pd.Timestamp | None = None,
    until: pd.Timestamp | None = None,
) -> Jobs:
    """A job of ``job_hours`` every ``every_hours`` from ``at_hours`` on the trace's first day,
    each allowed to finish up to ``flex_hours`` late; only jobs whose deadline the trace
    covers (and submitted in [first, until))."""
    day0 = trace.start.normalize()
    anchor = day0 + pd.Timedelta(hours=at_hours)
    step = pd.Timedelta(hours=every_hours)
    window = pd.Timedelta(hours=job_hours + flex_hours)
    last = trace.end - window
    if until is not None:
        last = min(last, until - pd.Timedelta(seconds=1))
    begin = max(trace.start, first) if first is not None else trace.start
    if last < anchor:
        submit = pd.DatetimeIndex([], tz="UTC")
    else:
        count = int((last - anchor) / step) + 1
        submit = pd.DatetimeIndex([anchor + i * step for i in range(count)])
        submit = submit[submit >= begin]
    hours = np.full(len(submit), float(job_hours))
    return Jobs(submit, hours, submit + window, f"every {every_hours:g} h")


def jobs_from_file(path: Path, flex_hours: float) -> Jobs:
    """Jobs from a CSV: ``submit`` (ISO 8601), ``job_hours`` (or ``hours``), and optionally
    ``deadline`` (ISO 8601; default submit + job_hours + --flex)."""
    path = Path(path).expanduser()
    hint = "columns: submit (ISO 8601), job_hours, optional deadline (ISO 8601)"
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise BadInputError(f"--jobs {path} does not exist", hint) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(f"--jobs {path} cannot be read ({type(exc).__name__})", hint) from None
    rows = list(csv.DictReader(text.splitlines()))
    if not rows:
        raise BadInputError(f"--jobs {path} has no jobs", hint)
    names = {k.strip().lower(): k for k in rows[0] if k is not None}
    submit_col = names.get("submit")
    hours_col = names.get("job_hours") or names.get("hours")
    deadline_col = names.get("deadline")
    if submit_col is None or hours_col is None:
        raise BadInputError(
            f"--jobs {path}: columns {', '.join(names)!s} lack submit/job_hours", hint
        )
    submit, hours, deadline = [], [], []
    for line, row in enumerate(rows, start=2):
        try:
            when = pd.Timestamp(row[submit_col].strip())
            when = when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")
            length = float(row[hours_col])
            due_text = (row.get(deadline_col) or "").strip() if deadline_col else ""
            if due_text:
                due = pd.Timestamp(due_text)
                due = due.tz_localize("UTC") if due.tzinfo is None else due.tz_convert("UTC")
            else:
                due = when + pd.Timedelta(hours=length + flex_hours)
        except (ValueError, TypeError, AttributeError):
            raise BadInputError(f"--jobs {path} line {line}: cannot read {row!r}", hint) from None
        if not math.isfinite(length) or length <= 0:
            raise BadInputError(f"--jobs {path} line {line}: job_hours must be > 0", hint)
        if due < when + pd.Timedelta(hours=length) - pd.Timedelta(seconds=1):
            raise BadInputError(
                f"--jobs {path} line {line}: the deadline is sooner than submit + job_hours", hint
            )
        submit.append(when)
        hours.append(length)
        deadline.append(due)
    return Jobs(
        pd.DatetimeIndex(submit),
        np.array(hours),
        pd.DatetimeIndex(deadline),
        f"jobs from {path.name}",
    )


def forecast_matrix(
    values: np.ndarray, first: np.ndarray, width: int, per_day: int, method: str
) -> np.ndarray:
    """What ``method`` forecasts at period ``first[j]`` for the next ``width`` periods, from
    periods before ``first[j]`` only (each row needs ``_HISTORY_DAYS`` days before it)."""
    offset = np.arange(width)[None, :] % per_day
    base = first[:, None] - per_day + offset  # same time of day, the last full day before
    if method == "yesterday":
        return values[base]
    if method in ("week", "week-now"):
        days = _HISTORY_DAYS["week"]
        profile = np.mean([values[base - k * per_day] for k in range(days)], axis=0)
        if method == "week":
            return profile
        # The last period before submit against its own weekly mean, fading out ahead.
        last = first - 1
        usual = np.mean([values[last - k * per_day] for k in range(1, days + 1)], axis=0)
        hours_ahead = (np.arange(width)[None, :] + 1) * 24.0 / per_day
        fade = 0.5 ** (hours_ahead / ANOMALY_HALF_LIFE_H)
        return profile + (values[last] - usual)[:, None] * fade
    raise BadInputError(f"unknown forecaster {method!r}", f"use one of {', '.join(FORECASTERS)}")


@dataclass(frozen=True)
class Outcome:
    """One planning mode's result over all jobs."""

    shifted_sum: float
    interruptible_sum: float | None
    delay_hours: np.ndarray
    interruptible_finish_delay_hours: np.ndarray | None
    pauses: np.ndarray | None


def _plan(
    seen: np.ndarray,
    actual: np.ndarray,
    length: np.ndarray,
    end: np.ndarray,
    period_h: float,
    interruptible: bool,
    overhead: float,
) -> Outcome:
    """Choose on ``seen``, charge on ``actual``."""
    best = best_contiguous(seen, length, end)
    shifted = window_sums(actual, length, best.start)
    inter_sum = None
    finish_delay = None
    pauses = None
    if interruptible:
        schedule = best_interruptible(seen, length, end, overhead)
        charged = (schedule.weights * np.where(np.isfinite(actual), actual, 0.0)).sum(axis=1)
        inter_sum = float(charged.sum())
        finish_delay = (schedule.finish - length) * period_h
        pauses = schedule.pauses
    return Outcome(float(shifted.sum()), inter_sum, best.start * period_h, finish_delay, pauses)


def evaluate(
    trace: Trace,
    jobs: Jobs,
    *,
    interruptible: bool = False,
    checkpoint_minutes: float = 5.0,
    forecaster: str = "week-now",
    oracle: bool = False,
    on_skip: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Replay ``jobs`` on ``trace``; one flat record of figures (see the module docstring)."""
    if forecaster not in FORECASTERS:
        raise BadInputError(
            f"unknown forecaster {forecaster!r}", f"use one of {', '.join(FORECASTERS)}"
        )
    period_s = trace.period_s
    p = trace.period_h
    per_day = 86400 // period_s
    values = trace.values
    total = len(values)
    # Jobs start at the first period boundary at or after submit.
    raw = np.array([trace.index_of(t) for t in jobs.submit], dtype=float)
    first = np.ceil(raw - 1e-9).astype(np.int64) if len(raw) else np.zeros(0, dtype=np.int64)
    length = jobs.hours / p
    due = np.array([trace.index_of(t) for t in jobs.deadline], dtype=float)
    end = np.maximum(due - first, length)  # periods from the (aligned) start
    history = _HISTORY_DAYS[forecaster] * per_day
    inside = (first >= history) & (np.ceil(first + end - 1e-9) <= total)
    skipped = int((~inside).sum())
    first, length, end = first[inside], length[inside], end[inside]
    record: dict[str, Any] = {
        "trace": trace.name,
        "layout": trace.layout,
        "column": trace.column,
        "period_minutes": period_s // 60,
        "trace_start": trace.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "trace_end": trace.end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "periods_filled": trace.filled,
        "pattern": jobs.pattern,
        "jobs": len(first),
        "jobs_skipped": skipped,
        "job_hours": float(np.mean(length) * p) if len(first) else None,
        "flex_hours": float(np.mean(end - length) * p) if len(first) else None,
        "interruptible": interruptible,
        "checkpoint_minutes": checkpoint_minutes if interruptible else None,
        "forecaster": forecaster,
        "mode": "oracle" if oracle else "forecast",
    }
    if skipped and on_skip is not None:
        on_skip(
            f"{trace.name}: {skipped} job(s) left out (the trace does not cover their deadline, "
            f"or the {forecaster} forecaster has under {_HISTORY_DAYS[forecaster]} day(s) of "
            "history before them)"
        )
    if not len(first):
        for key in _FIGURES:
            record[key] = None
        return _ordered(record)
    width = int(np.ceil(end.max() - 1e-9))
    index = first[:, None] + np.arange(width)[None, :]
    actual = np.where(index < total, values[np.minimum(index, total - 1)], np.nan)
    seen = forecast_matrix(values, first, width, per_day, forecaster)
    overhead = checkpoint_minutes / 60.0 / p
    base = window_sums(actual, length, 0)
    base_total = float(base.sum())
    hours_total = float(length.sum())
    outcomes = {
        "forecast": _plan(seen, actual, length, end, p, interruptible, overhead),
        "oracle": _plan(actual, actual, length, end, p, interruptible, overhead),
    }

    def pct(part: float | None) -> float | None:
        if part is None or base_total <= 0:
            return None
        return 100.0 * (1.0 - part / base_total)

    def per_kwh(part: float | None) -> float | None:
        return None if part is None else part / hours_total

    record["baseline_gco2_per_kwh"] = base_total / hours_total
    for mode, out in outcomes.items():
        record[f"{mode}_shifted_gco2_per_kwh"] = per_kwh(out.shifted_sum)
        record[f"{mode}_shifted_saving_pct"] = pct(out.shifted_sum)
        record[f"{mode}_mean_delay_hours"] = float(out.delay_hours.mean())
        record[f"{mode}_interruptible_gco2_per_kwh"] = per_kwh(out.interruptible_sum)
        record[f"{mode}_interruptible_saving_pct"] = pct(out.interruptible_sum)
        record[f"{mode}_interruptible_mean_pauses"] = (
            float(out.pauses.mean()) if out.pauses is not None else None
        )
        record[f"{mode}_interruptible_mean_finish_delay_hours"] = (
            float(out.interruptible_finish_delay_hours.mean())
            if out.interruptible_finish_delay_hours is not None
            else None
        )
    head = "oracle" if oracle else "forecast"
    for key in _HEADLINE:
        record[key] = record[f"{head}_{key}"]
    return _ordered(record)


_HEADLINE = (
    "shifted_gco2_per_kwh",
    "shifted_saving_pct",
    "mean_delay_hours",
    "interruptible_gco2_per_kwh",
    "interruptible_saving_pct",
    "interruptible_mean_pauses",
    "interruptible_mean_finish_delay_hours",
)
_FIGURES = (
    "baseline_gco2_per_kwh",
    *_HEADLINE,
    *(f"{mode}_{key}" for mode in ("forecast", "oracle") for key in _HEADLINE),
)


def _ordered(record: dict[str, Any]) -> dict[str, Any]:
    """The issue's fields first (trace, jobs, baseline, savings, delay), then the rest."""
    first = [
        "trace",
        "jobs",
        "baseline_gco2_per_kwh",
        "shifted_saving_pct",
        "interruptible_saving_pct",
        "mean_delay_hours",
    ]
    return {**{k: record[k] for k in first}, **{k: v for k, v in record.items() if k not in first}}
