"""Grid-intensity traces for replay: read the CSV layouts of
:mod:`recommender.intensity.layouts` (the same ones, and the same default column, as
``--intensity-file``) and put each on a regular grid at its own resolution (5, 15, 30 or 60
minutes).

Times without an offset are UTC. A ``Zone Id``/``zone`` column with several zones makes one
trace per zone. Rows closer together than the trace's usual spacing (GB has 15-minute
stretches in a 30-minute series) are averaged into its periods; periods with no row are
filled by linear interpolation and counted; a gap longer than six hours is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recommender.errors import BadInputError
from recommender.intensity.layouts import (
    EXPECTED,
    FIRST_YEAR,
    LAST_YEAR,
    pick_columns,
    time_problem,
)

MAX_GAP_S = 6 * 3600  # longer stretches without data are refused, not invented


@dataclass(frozen=True)
class Trace:
    """One zone's intensity on a regular grid."""

    name: str
    layout: str
    column: str
    start: pd.Timestamp  # UTC start of the first period
    period_s: int
    values: np.ndarray  # gCO2e/kWh per period
    filled: int = 0  # periods with no row, interpolated
    merged: int = 0  # rows averaged into a coarser period

    @property
    def period_h(self) -> float:
        return self.period_s / 3600.0

    @property
    def end(self) -> pd.Timestamp:
        return self.start + pd.Timedelta(seconds=self.period_s * len(self.values))

    def index_of(self, when: pd.Timestamp) -> float:
        """Periods from the trace's start to ``when`` (fractional)."""
        return (when - self.start).total_seconds() / self.period_s


def _read(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise BadInputError(f"--trace {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(
            f"--trace {path} cannot be read ({type(exc).__name__})", "give a UTF-8 CSV file"
        ) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError):
        raise BadInputError(f"--trace {path} is not a CSV file with a header", EXPECTED) from None


def load_traces(path: Path, column: str | None = None) -> list[Trace]:
    """Every zone's trace in ``path`` (usually one)."""
    path = Path(path).expanduser()
    frame = _read(path)
    if frame.empty:
        raise BadInputError(f"--trace {path} has no data rows", EXPECTED)
    found = pick_columns(list(frame.columns), column, f"--trace {path}")
    time_col, value_col, layout = (
        frame.columns[found.time],
        frame.columns[found.value],
        found.name,
    )
    times = pd.to_datetime(frame[time_col].str.strip(), utc=True, format="ISO8601", errors="coerce")
    text = frame[value_col].str.strip()
    values = pd.to_numeric(text, errors="coerce")
    bad_time = times.isna()
    if bad_time.any():
        line = int(np.argmax(bad_time.to_numpy())) + 2
        raise BadInputError(
            f"--trace {path} line {line}: {time_col} {frame[time_col].iloc[line - 2]!r} is not "
            "a time",
            "times must be ISO 8601 (UTC unless an offset is given)",
        )
    bad_value = values.isna() & (text != "")
    negative = values < 0
    if bad_value.any() or negative.any():
        line = int(np.argmax((bad_value | negative).to_numpy())) + 2
        raise BadInputError(
            f"--trace {path} line {line}: {value_col} {text.iloc[line - 2]!r} is not a grid "
            "intensity in gCO2e/kWh",
            EXPECTED,
        )
    years = times.dt.year
    out_of_range = (years < FIRST_YEAR) | (years > LAST_YEAR)
    if out_of_range.any():
        line = int(np.argmax(out_of_range.to_numpy())) + 2
        problem = time_problem(int(years.iloc[line - 2]))
        raise BadInputError(f"--trace {path} line {line}: {problem}", EXPECTED)
    zone_col = frame.columns[found.zone] if found.zone is not None else None
    data = pd.DataFrame({"time": times, "value": values})
    zones = frame[zone_col].str.strip() if zone_col is not None else None
    keyed = pd.DataFrame({"zone": zones if zones is not None else "", "time": times})
    twice = keyed.duplicated(keep="first").to_numpy()
    if twice.any():
        line = int(np.argmax(twice)) + 2
        same = (keyed == keyed.iloc[line - 2]).all(axis=1).to_numpy()
        first = int(np.flatnonzero(same)[0]) + 2
        raise BadInputError(
            f"--trace {path} line {line}: {frame[time_col].iloc[line - 2].strip()} appears "
            f"twice (also line {first})",
            "one row per period (and zone): remove the duplicate",
        )
    if zones is None or zones.nunique() <= 1:
        return [_regular(data, path.name, layout, value_col, path)]
    return [
        _regular(data[(zones == zone).to_numpy()], f"{path.name} [{zone}]", layout, value_col, path)
        for zone in sorted(zones.unique())
    ]


def _regular(data: pd.DataFrame, name: str, layout: str, column: str, path: Path) -> Trace:
    data = data.dropna(subset=["value"]).sort_values("time", kind="mergesort")
    if len(data) < 2:
        raise BadInputError(f"--trace {path} has fewer than two intensity values", EXPECTED)
    epoch = pd.Timestamp(0, tz="UTC")
    seconds = ((data["time"] - epoch) // pd.Timedelta(seconds=1)).to_numpy(dtype=np.int64)
    gaps = np.diff(seconds)
    gaps = gaps[gaps > 0]
    if not len(gaps):
        raise BadInputError(f"--trace {path}: every row has the same time", EXPECTED)
    period = round(float(np.median(gaps)) / 60.0) * 60
    if period <= 0 or 86400 % period:
        raise BadInputError(
            f"--trace {path}: rows are {float(np.median(gaps)) / 60:g} minutes apart; replay needs "
            "a spacing that divides a day (5, 15, 30 or 60 minutes)",
            "resample the trace first",
        )
    first = seconds[0] - seconds[0] % period
    cell = (seconds - first) // period
    cells = int(cell[-1]) + 1
    total = np.bincount(cell, weights=data["value"].to_numpy(dtype=float), minlength=cells)
    count = np.bincount(cell, minlength=cells)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    missing = ~np.isfinite(values)
    longest = int(np.diff(np.flatnonzero(~missing)).max(initial=1)) - 1
    if longest * period > MAX_GAP_S:
        at = int(np.flatnonzero(np.diff(np.flatnonzero(~missing)) == longest + 1)[0])
        gap_from = pd.Timestamp(int(first + (np.flatnonzero(~missing)[at] + 1) * period), unit="s")
        raise BadInputError(
            f"--trace {path} has no data for {longest * period / 3600:g} h from "
            f"{gap_from:%Y-%m-%d %H:%M} UTC (gaps of up to {MAX_GAP_S // 3600} h are interpolated)",
            "split the trace at the gap, or fill it",
        )
    if missing.any():
        known = np.flatnonzero(~missing)
        values = np.interp(np.arange(cells), known, values[known])
    return Trace(
        name=name,
        layout=layout,
        column=column,
        start=pd.Timestamp(int(first), unit="s", tz="UTC"),
        period_s=period,
        values=values,
        filled=int(missing.sum()),
        merged=int((count > 1).sum()),
    )
