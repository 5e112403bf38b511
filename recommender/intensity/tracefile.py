"""The one reader of hourly (or finer) grid-intensity traces: ``--intensity-file`` (suggest,
report, launch, intensity) and ``replay --trace`` read a file through :func:`read_trace_file`,
so the same file gives the same series, or the same error, everywhere.

The columns are found by :mod:`recommender.intensity.layouts`. The checks, each one
``error:`` line naming the file and the line (1-based, as an editor counts them) with a hint:

- the file exists, is UTF-8 CSV with a header and at least one data row; the time and
  intensity columns exist (else the columns it has are named);
- every time is ISO 8601 (UTC unless an offset is given) in 1990-2100; every intensity is a
  finite number in 0-3000 gCO2e/kWh. An empty intensity cell is a period without data (below);
- per zone (a ``zone``/``Zone Id`` column; none: one trace), times are strictly increasing:
  a time seen twice, or one before the row above it, is refused;
- the trace is regular. Its period ``P`` is the median spacing of its rows, which must be
  within ``P/60`` of a whole number of minutes dividing an hour (1, 5, 15, 30, 60, ...) or of
  hours dividing a day (2, 3, 4, 6, 8, 12, 24). **Tolerance:** every row must start on the
  trace's grid (every ``P`` from its usual minute, e.g. ``:00``), or, for a finer stretch, on a
  5-minute mark inside a period (GB's 15-minute spells in a 30-minute series), give or take
  ``P/60`` (a minute in an hourly trace, 5 s in a 5-minute one): finer rows are averaged into
  their period (``merged``). Two rows on the same mark are duplicates. Missing periods (no
  row, or an empty cell) are filled by linear interpolation (``filled``)
  up to :data:`MAX_GAP_S` (6 h); a longer gap is refused at the row after it.

Daylight saving: times with an offset (``2022-10-30T02:00:00+01:00``) are converted to UTC,
so a local-time file that writes its offsets reads as one regular series. Times without an
offset are UTC; a local-time file without offsets therefore has a missing hour in spring (a
one-period gap, interpolated) and a repeated hour in autumn (refused as a duplicate, with a
hint to write the offsets or UTC): carbonplan does not guess a time zone.

A zone with a single row holds for an hour. Checks run vectorised (pandas/numpy) over the
whole file; the line of a failure is worked out only once a check has failed.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from recommender.errors import BadInputError
from recommender.intensity.layouts import EXPECTED, FIRST_YEAR, LAST_YEAR, pick_columns

ALL_ZONES = "*"  # the key of a trace without a zone column (or rows with an empty zone)
MAX_GAP_S = 6 * 3600  # longer stretches without data are refused, not invented
MAX_GCO2_PER_KWH = 3000.0  # above any grid's lifecycle intensity (lignite ~1,200)
FINE_S = 300  # rows finer than the period must fall on 5-minute marks
SINGLE_ROW_PERIOD_S = 3600
#: Periods a trace may have: whole minutes that divide an hour, whole hours that divide a day.
_PERIODS = np.array(
    [m * 60 for m in range(1, 61) if 60 % m == 0] + [h * 3600 for h in (2, 3, 4, 6, 8, 12, 24)],
    dtype=np.int64,
)

TIME_HINT = "times must be ISO 8601, e.g. 2024-03-06T18:00:00Z (UTC unless an offset is given)"
VALUE_HINT = (
    "intensities are numbers in gCO2e/kWh between 0 and 3000; leave the cell empty for a "
    f"period without data (gaps of up to {MAX_GAP_S // 3600} h are interpolated)"
)
DUPLICATE_HINT = (
    "one row per period (and zone): remove the duplicate; a local-time file repeats an hour "
    "when clocks go back, so write times in UTC or with their offset (+01:00)"
)
ORDER_HINT = "sort the trace by time (within each zone)"
GRID_HINT = "one row per period on a regular grid: resample the trace, or correct the time"


@dataclass(frozen=True)
class Trace:
    """One zone's intensity on a regular grid (read-only ``values``)."""

    name: str  # the file's name, with [zone] when the file has several zones
    layout: str
    column: str
    start: pd.Timestamp  # UTC start of the first period
    period_s: int
    values: np.ndarray  # gCO2e/kWh per period
    filled: int = 0  # periods with no row, interpolated
    merged: int = 0  # periods that averaged several (finer) rows
    zone: str = ALL_ZONES  # lower-case zone key, ALL_ZONES without one

    @property
    def period_h(self) -> float:
        return self.period_s / 3600.0

    @property
    def end(self) -> pd.Timestamp:
        return self.start + pd.Timedelta(seconds=self.period_s * len(self.values))

    def index_of(self, when: pd.Timestamp) -> float:
        """Periods from the trace's start to ``when`` (fractional)."""
        return (when - self.start).total_seconds() / self.period_s

    def times(self) -> list[datetime]:
        """Each period's UTC start, as aware datetimes."""
        index = pd.date_range(self.start, periods=len(self.values), freq=f"{self.period_s}s")
        return list(index.to_pydatetime())


@dataclass(frozen=True)
class TraceFile:
    """Every zone's trace in one file."""

    path: Path
    layout: str
    column: str
    traces: dict[str, Trace]  # zone key (lower case; ALL_ZONES) -> trace, sorted by key


def read_trace_file(path: Path | str, column: str | None = None) -> TraceFile:
    """The validated traces of ``path`` (``column``: the intensity column, else the layout's
    default). Cached while the file is unchanged."""
    path = Path(path).expanduser()
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise BadInputError(f"trace {path} does not exist", "check the path") from None
    except OSError as exc:
        raise BadInputError(f"trace {path} cannot be read ({type(exc).__name__})") from None
    return _read_cached(path, stat.st_mtime_ns, stat.st_size, column)


@functools.lru_cache(maxsize=8)
def _read_cached(path: Path, mtime_ns: int, size: int, column: str | None) -> TraceFile:
    return _Reader(path, column).read()


class _Reader:
    """One file's read; ``fail`` turns a data row index into its line for the message."""

    def __init__(self, path: Path, column: str | None) -> None:
        self.path = path
        self.column = column
        self.text = ""

    def fail(self, row: int | None, message: str, hint: str) -> BadInputError:
        where = f"trace {self.path}" if row is None else f"trace {self.path} line {self.line(row)}"
        return BadInputError(f"{where}: {message}", hint)

    def line(self, row: int) -> int:
        """The 1-based line where data row ``row`` (0 = the row after the header) starts."""
        reader = csv.reader(io.StringIO(self.text))
        next(reader, None)
        start = reader.line_num + 1
        for i, _ in enumerate(reader):
            if i == row:
                return start
            start = reader.line_num + 1
        return start

    def read(self) -> TraceFile:
        path = self.path
        try:
            self.text = path.read_bytes().decode("utf-8-sig")
        except IsADirectoryError:
            raise BadInputError(f"trace {path} is a directory", "give a CSV file") from None
        except OSError as exc:
            raise BadInputError(f"trace {path} cannot be read ({type(exc).__name__})") from None
        except UnicodeDecodeError as exc:
            raise BadInputError(
                f"trace {path} is not UTF-8 text (byte {exc.start})", "save it as UTF-8 CSV"
            ) from None
        if not self.text.strip():
            raise BadInputError(f"trace {path} is empty", EXPECTED)
        try:
            frame = pd.read_csv(
                io.StringIO(self.text),
                dtype=str,
                keep_default_na=False,
                skip_blank_lines=False,  # data row i stays the i-th record after the header
            )
        except pd.errors.EmptyDataError:
            raise BadInputError(f"trace {path} is empty", EXPECTED) from None
        except pd.errors.ParserError as exc:
            found = re.search(r"line (\d+)", str(exc))
            where = f" line {found.group(1)}" if found else ""
            detail = str(exc).split("error: ")[-1].strip()
            raise BadInputError(
                f"trace {path}{where}: not a CSV row ({detail})",
                "every row has the header's columns, separated by commas",
            ) from None
        header = [str(c) for c in frame.columns]
        layout = pick_columns(header, self.column, f"trace {path}")

        def column(index: int) -> pd.Series:
            return frame.iloc[:, index].fillna("")

        time_text, value_text = column(layout.time), column(layout.value)
        times = pd.to_datetime(time_text, utc=True, format="ISO8601", errors="coerce")
        values = np.array(pd.to_numeric(value_text, errors="coerce"), dtype=float)
        # Cells that did not parse: blank, padded (older pandas), or wrong. Only these are
        # stripped and tried again, so a clean file pays for no string work.
        no_time, no_value = times.isna().to_numpy(), np.isnan(values)
        empty_time = np.zeros(len(frame), dtype=bool)
        empty_value = np.zeros(len(frame), dtype=bool)
        if no_time.any():
            stripped = time_text[no_time].str.strip()
            empty_time[no_time] = (stripped == "").to_numpy()
            times = times.fillna(
                pd.to_datetime(stripped, utc=True, format="ISO8601", errors="coerce")
            )
        if no_value.any():
            stripped = value_text[no_value].str.strip()
            empty_value[no_value] = (stripped == "").to_numpy()
            values[no_value] = pd.to_numeric(stripped, errors="coerce").to_numpy(dtype=float)
        # Blank lines (and rows of empty cells, as spreadsheets write them) are no rows.
        rows = np.flatnonzero(~(empty_time & empty_value))
        if not len(rows):
            raise BadInputError(f"trace {path} has no data rows", EXPECTED)
        if len(rows) < len(frame):
            time_text, times = time_text.iloc[rows], times.iloc[rows]
            value_text, values, empty_value = value_text.iloc[rows], values[rows], empty_value[rows]
        time_text = time_text.reset_index(drop=True)
        seconds = self._times(times, time_text, rows, header[layout.time])
        self._values(values, empty_value, value_text, rows, layout.column)
        if layout.zone is not None:
            # Zones are few: normalise the distinct spellings, not every row.
            raw_codes, spellings = pd.factorize(column(layout.zone).iloc[rows])
            spelled = [str(z).strip() for z in spellings]
            codes_of, uniques = pd.factorize(
                pd.Series([z.lower() or ALL_ZONES for z in spelled]), sort=True
            )
            codes = codes_of[raw_codes]
        else:
            raw_codes, spelled = np.zeros(len(rows), dtype=np.int64), [""]
            codes, uniques = raw_codes, np.array([ALL_ZONES])
        zones = [str(z) for z in uniques]
        self._order(codes, seconds, rows, time_text, zones)
        several = len(zones) > 1
        traces: dict[str, Trace] = {}
        for code, key in enumerate(zones):
            mine = np.flatnonzero(codes == code)  # in file order, hence in time order
            shown = spelled[raw_codes[mine[0]]] or "no zone"
            traces[key] = self._regular(
                seconds[mine],
                values[mine],
                rows[mine],
                time_text.iloc[mine].tolist(),
                name=f"{path.name} [{shown}]" if several else path.name,
                zone=key,
                zone_text=f" (zone {shown})" if several else "",
                layout=layout.name,
                column=layout.column,
            )
        return TraceFile(path, layout.name, layout.column, traces)

    def _times(self, times: pd.Series, text: pd.Series, rows: np.ndarray, name: str) -> np.ndarray:
        """Seconds since the epoch (UTC) of each row, or the first bad row's error."""
        bad = times.isna().to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise self.fail(rows[i], _time_problem(text.iloc[i].strip(), name), TIME_HINT)
        years = times.dt.year.to_numpy()
        outside = (years < FIRST_YEAR) | (years > LAST_YEAR)
        if outside.any():
            i = int(np.argmax(outside))
            raise self.fail(
                rows[i], f"year {years[i]} is outside {FIRST_YEAR}-{LAST_YEAR}", TIME_HINT
            )
        epoch = pd.Timestamp(0, tz="UTC")
        return ((times - epoch) // pd.Timedelta(seconds=1)).to_numpy(dtype=np.int64)

    def _values(
        self,
        values: np.ndarray,
        empty: np.ndarray,
        text: pd.Series,
        rows: np.ndarray,
        column: str,
    ) -> None:
        """Every intensity finite and plausible (NaN only for an empty cell), else the first
        bad one's error."""
        with np.errstate(invalid="ignore"):
            bad = ~empty & ~((values >= 0) & (values <= MAX_GCO2_PER_KWH))  # NaN compares False
        if bad.any():
            i = int(np.argmax(bad))
            raise self.fail(
                rows[i],
                f"{column}={text.iloc[i].strip()} is not a grid intensity (a finite number, "
                f"0-{MAX_GCO2_PER_KWH:g} gCO2e/kWh)",
                VALUE_HINT,
            )

    def _order(
        self,
        codes: np.ndarray,
        seconds: np.ndarray,
        rows: np.ndarray,
        text: pd.Series,
        zones: list[str],
    ) -> None:
        """Strictly increasing times within each zone, else the first offending row's error:
        a time seen before in its zone (anywhere above), else one earlier than the row above."""
        for_zone = ""
        # Duplicates: sort by (zone, time), stably, so equal neighbours are in file order.
        order = np.lexsort((seconds, codes))
        twice = np.flatnonzero((np.diff(codes[order]) == 0) & (np.diff(seconds[order]) == 0))
        if len(twice):
            later = order[twice + 1]
            k = int(np.argmin(later))
            i, first = int(later[k]), int(order[twice[k]])
            if zones[codes[i]] != ALL_ZONES:
                for_zone = f" for zone {zones[codes[i]]}"
            raise self.fail(
                rows[i],
                f"{text.iloc[i].strip()} appears twice (also line "
                f"{self.line(rows[first])}){for_zone}",
                DUPLICATE_HINT,
            )
        # Order: each zone's rows in file order, each after the one above it.
        order = np.argsort(codes, kind="stable")
        back = np.flatnonzero((np.diff(codes[order]) == 0) & (np.diff(seconds[order]) < 0))
        if len(back):
            later = order[back + 1]
            k = int(np.argmin(later))
            i, above = int(later[k]), int(order[back[k]])
            if zones[codes[i]] != ALL_ZONES:
                for_zone = f" for zone {zones[codes[i]]}"
            raise self.fail(
                rows[i],
                f"{text.iloc[i].strip()} comes before the row above it (line "
                f"{self.line(rows[above])}: {text.iloc[above].strip()}){for_zone}",
                ORDER_HINT,
            )

    def _regular(
        self,
        seconds: np.ndarray,
        values: np.ndarray,
        rows: np.ndarray,
        text: list[str],
        *,
        name: str,
        zone: str,
        zone_text: str,
        layout: str,
        column: str,
    ) -> Trace:
        """One zone's rows (strictly increasing times) on its regular grid."""
        known = ~np.isnan(values)
        if not known.any():
            raise self.fail(None, f"no intensity values{zone_text}", VALUE_HINT)
        steps = np.diff(seconds)
        if len(steps):
            median = float(np.median(steps))
            # The allowed period nearest the median spacing, if within the tolerance.
            period = int(_PERIODS[int(np.argmin(np.abs(_PERIODS - median)))])
            if abs(median - period) > max(1, period // 60):
                odd = np.flatnonzero((steps % 60 != 0) | (86400 % np.maximum(steps, 1) != 0))
                at = int(odd[0]) + 1 if len(odd) else 1
                raise self.fail(
                    rows[at],
                    f"rows{zone_text} are a median {median / 60:g} minutes apart, this one "
                    f"{steps[at - 1] / 60:g} minutes after the row above; a trace's period must "
                    "divide an hour (5, 15, 30 or 60 minutes, ...) or a day (2, 3, ..., 24 h)",
                    "resample the trace to a regular period",
                )
        else:
            period = SINGLE_ROW_PERIOD_S
        tolerance = max(1, period // 60)
        # The grid's phase: the most common offset in the period (":00" for most files),
        # counted to the tolerance so that jitter does not split it.
        rounded = (np.rint((seconds % period) / tolerance).astype(np.int64) * tolerance) % period
        offsets, counts = np.unique(rounded, return_counts=True)
        phase = int(offsets[int(np.argmax(counts))])
        fine = FINE_S if period > FINE_S and period % FINE_S == 0 else period
        into = (seconds - phase) % fine
        off = np.minimum(into, fine - into) > tolerance
        if off.any():
            i = int(np.argmax(off))
            finer = ", finer rows on 5-minute marks" if fine != period else ""
            raise self.fail(
                rows[i],
                f"{text[i].strip()} is off the trace's grid{zone_text} (a row every "
                f"{_minutes(period)} from :{phase % 3600 // 60:02d}{finer}; "
                f"±{tolerance} s allowed)",
                GRID_HINT,
            )
        marks = (seconds - phase + tolerance) // fine  # each row's mark on the fine grid
        twice = np.flatnonzero(np.diff(marks) == 0)
        if len(twice):
            i = int(twice[0]) + 1
            raise self.fail(
                rows[i],
                f"{text[i].strip()} is the same period as line {self.line(rows[i - 1])} "
                f"({text[i - 1].strip()}; times within ±{tolerance} s are one){zone_text}",
                DUPLICATE_HINT,
            )
        snapped = phase + marks * fine
        start = snapped[0] - (snapped[0] - phase) % period
        cell = ((snapped - start) // period)[known]
        count = np.bincount(cell)
        total = np.bincount(cell, weights=values[known])
        have = np.flatnonzero(count)
        jumps = np.diff(have) - 1  # periods without data between periods with data
        if len(jumps) and int(jumps.max()) * period > MAX_GAP_S:
            j = int(np.argmax(jumps))
            after = int(np.flatnonzero(known)[int(np.searchsorted(cell, have[j + 1]))])
            gap_from = pd.Timestamp(int(start + (have[j] + 1) * period), unit="s")
            raise self.fail(
                rows[after],
                f"no data for {int(jumps[j]) * period / 3600:g} h from "
                f"{gap_from:%Y-%m-%d %H:%M} UTC{zone_text} (gaps of up to "
                f"{MAX_GAP_S // 3600} h are interpolated)",
                "split the trace at the gap, or fill it",
            )
        first, last = int(have[0]), int(have[-1])
        means = total[have] / count[have]
        grid = np.arange(first, last + 1)
        filled = np.interp(grid, have, means)
        filled.flags.writeable = False
        return Trace(
            name=name,
            layout=layout,
            column=column,
            start=pd.Timestamp(int(start + first * period), unit="s", tz="UTC"),
            period_s=int(period),
            values=filled,
            filled=int(len(grid) - len(have)),
            merged=int((count[have] > 1).sum()),
            zone=zone,
        )


def _minutes(seconds: int) -> str:
    return f"{seconds // 60} min" if seconds < 7200 else f"{seconds / 3600:g} h"


def _time_problem(text: str, column: str) -> str:
    """Why a time cell did not parse: a year out of range (pandas before 3 cannot hold year
    9999 and reads it as missing) or not a time at all."""
    year: int | None
    try:
        year = datetime.fromisoformat(text.replace("Z", "+00:00")).year
    except ValueError:
        found = re.match(r"\s*(\d{4,})-", text)
        year = int(found.group(1)) if found else None
    if year is not None and not FIRST_YEAR <= year <= LAST_YEAR:
        return f"year {year} is outside {FIRST_YEAR}-{LAST_YEAR}"
    return f"{column} {text!r} is not a time"
