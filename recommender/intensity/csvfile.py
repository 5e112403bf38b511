"""A user's own intensity trace (``--intensity-file trace.csv``).

Columns (UTF-8, a header row; a byte-order mark is tolerated):

- ``datetime``: ISO 8601 start of each period; without an offset it is UTC.
- ``gco2_per_kwh``: grid intensity in gCO2e/kWh for that period (lifecycle, like the shipped
  figures; ``--intensity-column`` reads another column).
- ``zone`` (optional): which regions a row is for, as ``PROVIDER:REGION`` (``aws:eu-west-1``),
  an Electricity Maps zone (``IE``) or a WattTime region; without it, the trace is for every
  region.

Every layout of :mod:`recommender.intensity.layouts` is accepted as it is (the same ones
``replay --trace`` reads), e.g. an Electricity Maps export (``Datetime (UTC)``, ``Zone Id``,
``Carbon Intensity gCO₂eq/kWh (LCA)``). Periods at or before now are
observations; later ones are a forecast. The period is the median spacing of the rows.
"""

from __future__ import annotations

import csv
import functools
import itertools
import math
import statistics
from collections import defaultdict
from datetime import datetime
from pathlib import Path

from recommender.errors import BadInputError
from recommender.intensity.layouts import pick_columns, time_problem
from recommender.intensity.model import Point, SourceFault, Target, ZoneSeries, parse_time
from recommender.intensity.registry import FetchContext
from recommender.intensity.settings import IntensitySettings

ALL_ZONES = "*"


@functools.lru_cache(maxsize=4)
def read_trace(
    path: Path, mtime_ns: int, column: str | None = None
) -> dict[str, list[tuple[datetime, float]]]:
    """The trace's rows by lower-case zone (``*`` when it has no zone column); the intensity
    column is ``column`` or the layout's default (recommender.intensity.layouts)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise BadInputError(f"--intensity-file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(
            f"--intensity-file {path} cannot be read ({type(exc).__name__})",
            "give a UTF-8 CSV file",
        ) from None
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise BadInputError(f"--intensity-file {path} is empty", _HINT)
    layout = pick_columns(rows[0], column, f"--intensity-file {path}")
    t_col, v_col, z_col = layout.time, layout.value, layout.zone
    out: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    seen: dict[tuple[str, datetime], int] = {}  # (zone, time) -> line, to refuse duplicates
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        try:
            when = parse_time(row[t_col])
            value = float(row[v_col])
        except (IndexError, ValueError):
            raise BadInputError(
                f"--intensity-file {path} line {line}: cannot read {','.join(row)!r}", _HINT
            ) from None
        if not math.isfinite(value) or value < 0 or value > 3000:
            raise BadInputError(
                f"--intensity-file {path} line {line}: {layout.column}={row[v_col]} is not a "
                "plausible grid intensity (0-3000 gCO2e/kWh)",
                _HINT,
            )
        zone = row[z_col].strip().lower() if z_col is not None and z_col < len(row) else ""
        key = zone or ALL_ZONES
        problem = time_problem(when.year)
        if problem is not None:
            raise BadInputError(f"--intensity-file {path} line {line}: {problem}", _HINT)
        if (key, when) in seen:
            raise BadInputError(
                f"--intensity-file {path} line {line}: {row[t_col].strip()} appears twice "
                f"(also line {seen[(key, when)]})" + (f" for zone {zone}" if zone else ""),
                "one row per period (and zone): remove the duplicate",
            )
        seen[(key, when)] = line
        if out[key] and when < out[key][-1][0]:
            raise BadInputError(
                f"--intensity-file {path} line {line}: {row[t_col].strip()} comes before the "
                "row above it" + (f" for zone {zone}" if zone else ""),
                "sort the trace by time",
            )
        out[key].append((when, value))
    if not out:
        raise BadInputError(f"--intensity-file {path} has no data rows", _HINT)
    return {zone: sorted(points) for zone, points in out.items()}


_HINT = (
    "columns: datetime (ISO 8601, UTC unless an offset is given), gco2_per_kwh, and "
    "optionally zone (PROVIDER:REGION, an Electricity Maps zone or a WattTime region)"
)


class CsvSource:
    name = "csv"
    label = "intensity file"
    needs_network = False
    signal = "file"

    def __init__(self, settings: IntensitySettings) -> None:
        self.settings = settings
        self.path = settings.csv_file

    def credentials_problem(self) -> str | None:
        if self.path is None:
            return "the csv source needs --intensity-file FILE"
        return None

    def trace(self) -> dict[str, list[tuple[datetime, float]]]:
        if self.path is None:
            raise BadInputError("the csv source needs --intensity-file FILE", _HINT)
        path = Path(self.path).expanduser()
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            mtime = 0
        return read_trace(path, mtime, self.settings.csv_column)

    def coverage(self) -> str:
        """Which zones the trace has, for a warning when none matches a planned region."""
        zones = sorted(self.trace())
        shown = ", ".join(zones[:5]) + (f" and {len(zones) - 5} more" if len(zones) > 5 else "")
        return (
            f"{Path(str(self.path)).name} has zone(s) {shown}; its zone column must name "
            "PROVIDER:REGION, an Electricity Maps zone or a WattTime region"
        )

    def zone_for(self, target: Target) -> str | None:
        trace = self.trace()
        if ALL_ZONES in trace:
            return ALL_ZONES
        for key in (target.key, target.em_zone, target.watttime_region):
            if key and key.lower() in trace:
                return key.lower()
        return None

    def fetch(self, zone: str, ctx: FetchContext, *, history: bool = False) -> ZoneSeries:
        rows = self.trace().get(zone)
        if not rows:
            raise SourceFault("no data")
        gaps = [(b[0] - a[0]).total_seconds() for a, b in itertools.pairwise(rows)]
        period = int(statistics.median(gaps)) if gaps else 3600
        points = tuple(
            Point(when, value, "actual" if when <= ctx.now else "forecast") for when, value in rows
        )
        actual = [p.time for p in points if p.kind == "actual"]
        name = Path(str(self.path)).name
        return ZoneSeries(
            source=self.name,
            label=f"{self.label} {name}",
            zone=zone,
            period_s=max(period, 1),
            points=points,
            fetched_at=ctx.now,
            observed_at=max(actual) if actual else ctx.now,
            signal=self.signal,
            has_history=True,
        )
