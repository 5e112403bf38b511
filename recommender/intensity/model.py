"""What every grid-intensity source returns: a time series per grid zone, tagged with where it
came from and whether each point is an observation or a forecast.

:class:`ZoneSeries` is the unit the planner (averages over an option's run hours) and the time
shifter (issue 4: the cleanest start hour) both read; it keeps the source's native resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

import numpy as np

# one definition, shared with the planner; re-exported: the sources import them from here
from recommender.units import iso as iso
from recommender.units import utc as utc

PointKind = Literal["actual", "forecast"]
#: How a row's figure was obtained, as written to ``intensity_kind``.
RowKind = Literal["static", "live", "forecast", "cached"]


def parse_time(text: str) -> datetime:
    """ISO 8601 as the APIs write it (``...Z``, ``+00:00``, ``.000Z``, ``2018-01-20T12:00Z``)."""
    return utc(datetime.fromisoformat(text.strip()))


@dataclass(frozen=True)
class Point:
    """One value of a series: the grid intensity from ``time`` for the series' period."""

    time: datetime
    gco2_per_kwh: float
    kind: PointKind = "actual"


@dataclass(frozen=True)
class Target:
    """A cloud region as the sources see it: its keys into each API and its static figure."""

    provider: str
    region: str
    location: str = ""
    country_code: str = ""
    em_zone: str | None = None
    watttime_region: str | None = None
    lat: float | None = None
    lon: float | None = None
    static_gco2_per_kwh: float | None = None
    static_source: str = ""
    static_year: int | None = None

    @property
    def key(self) -> str:
        return f"{self.provider}:{self.region}"


def unusable_credential(setting: str, value: str | None) -> str | None:
    """Why a credential cannot go into an HTTP header (non-ASCII or control characters), naming
    the setting but never the value; None when it can (or is not set)."""
    if not value:
        return None
    if not value.isascii():
        return f"{setting} holds non-ASCII characters, which an HTTP request cannot carry"
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        return f"{setting} holds control characters (a stray newline?)"
    return None


class SourceFault(Exception):
    """A source could not answer for a zone. ``reason`` is short, safe to print (it never holds
    a URL, header or credential) and groups warnings; ``auth`` marks rejected credentials."""

    def __init__(self, reason: str, *, auth: bool = False, access: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.auth = auth
        self.access = access  # the credentials are fine but may not see this zone/endpoint


@dataclass(frozen=True)
class ZoneSeries:
    """The intensity of one grid zone from one source, at the source's native resolution."""

    source: str  # registry name, e.g. "electricitymaps"
    label: str  # human name for rows, e.g. "Electricity Maps API v3 (lifecycle)"
    zone: str
    period_s: int  # each point holds for this many seconds from its time
    points: tuple[Point, ...]
    fetched_at: datetime
    observed_at: datetime | None = None  # time of the newest observation or forecast issue
    signal: str = ""
    has_history: bool = False
    stale: bool = False  # served from the cache after the source failed
    zone_name: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.points, key=lambda p: (p.time, p.kind == "forecast")))
        object.__setattr__(self, "points", ordered)

    def as_stale(self, reason: str) -> ZoneSeries:
        """This series served after the source failed with ``reason``."""
        return replace(self, stale=True, notes=(reason,))

    @property
    def period(self) -> timedelta:
        return timedelta(seconds=self.period_s)

    def latest(self, now: datetime) -> Point | None:
        """The newest observation that started at or before ``now``."""
        now = utc(now)
        actual = [p for p in self.points if p.kind == "actual" and p.time <= now]
        return actual[-1] if actual else None

    def history(self, now: datetime, hours: float = 24.0) -> list[Point]:
        """Observations in the ``hours`` before ``now``."""
        now = utc(now)
        start = now - timedelta(hours=hours)
        return [p for p in self.points if p.kind == "actual" and start <= p.time <= now]

    def forecast(self, now: datetime, hours: float | None = None) -> list[Point]:
        """Forecast points whose period has not ended by ``now`` (up to ``hours`` ahead)."""
        now = utc(now)
        end = now + timedelta(hours=hours) if hours is not None else None
        return [
            p
            for p in self.points
            if p.kind == "forecast" and p.time + self.period > now and (end is None or p.time < end)
        ]

    def forecast_end(self, now: datetime) -> datetime | None:
        points = self.forecast(now)
        return points[-1].time + self.period if points else None

    def hourly(self, start: datetime, hours: int) -> list[tuple[datetime, float, str]]:
        """Mean intensity of each whole hour from ``start`` and where it came from
        ("forecast" or "latest"): the series the time shifter ranks start hours on."""
        start = utc(start)
        out: list[tuple[datetime, float, str]] = []
        for h in range(hours):
            begin = start + timedelta(hours=h)
            means, covered = window_means(self, begin, np.array([1.0]))
            if math.isnan(means[0]):
                break
            out.append((begin, float(means[0]), "forecast" if covered[0] >= 0.5 else "latest"))
        return out


def window_means(
    series: ZoneSeries, start: datetime, hours: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean intensity over ``[start, start + h)`` for each ``h`` in ``hours`` (vectorised), and
    how many of those hours a forecast covered.

    Each hour takes the forecast where one covers it, else the latest observation (persistence).
    Gaps inside the forecast are filled with the latest value too. With neither, the means are
    NaN and the caller falls back to the next source."""
    start = utc(start)
    hours = np.asarray(hours, dtype=float)
    latest = series.latest(start)
    forecast = series.forecast(start)
    if latest is None and not forecast:
        nan = np.full(hours.shape, np.nan)
        return nan, np.zeros(hours.shape)
    # Gaps take the latest observation; with none, the nearest forecast value.
    gap = latest.gco2_per_kwh if latest else forecast[0].gco2_per_kwh
    tail = latest.gco2_per_kwh if latest else forecast[-1].gco2_per_kwh
    period_h = series.period_s / 3600.0
    # Piecewise-constant segments from 0 (= start), in hours: (begin, end, value, is_forecast).
    segments: list[tuple[float, float, float, float]] = []
    cursor = 0.0
    for p in forecast:
        begin = max((p.time - start).total_seconds() / 3600.0, 0.0)
        end = (p.time - start).total_seconds() / 3600.0 + period_h
        if end <= cursor:
            continue
        if begin > cursor:
            segments.append((cursor, begin, gap, 0.0))
        begin = max(begin, cursor)
        segments.append((begin, end, p.gco2_per_kwh, 1.0))
        cursor = end
    breaks = np.array([0.0] + [s[1] for s in segments])
    values = np.array([s[2] for s in segments])
    flags = np.array([s[3] for s in segments])
    widths = np.diff(breaks)
    integral = np.concatenate(([0.0], np.cumsum(widths * values)))
    covered = np.concatenate(([0.0], np.cumsum(widths * flags)))
    end = breaks[-1]
    beyond = np.maximum(hours - end, 0.0)
    total = np.interp(np.minimum(hours, end), breaks, integral) + beyond * tail
    forecast_hours = np.interp(np.minimum(hours, end), breaks, covered)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(hours > 0, total / hours, values[0] if len(values) else tail)
    return means, forecast_hours
