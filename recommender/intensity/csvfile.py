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
observations; later ones are a forecast. The file is read and checked by
:mod:`recommender.intensity.tracefile`, the reader ``replay --trace`` uses too: the series here
is that regular grid (the period is the rows' usual spacing; finer rows averaged, short gaps
interpolated), so a file gives the same numbers, or the same error, in every command.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from recommender.errors import BadInputError
from recommender.intensity.model import Point, SourceFault, Target, ZoneSeries
from recommender.intensity.registry import FetchContext
from recommender.intensity.settings import IntensitySettings
from recommender.intensity.tracefile import ALL_ZONES, Trace, read_trace_file

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

    def trace(self) -> dict[str, Trace]:
        """The file's traces by lower-case zone (``*`` without a zone column), read and
        checked once while the file is unchanged."""
        if self.path is None:
            raise BadInputError("the csv source needs --intensity-file FILE", _HINT)
        return read_trace_file(Path(self.path), self.settings.csv_column).traces

    def coverage(self) -> str:
        """Which zones the trace has, for a warning when none matches a planned region."""
        zones = sorted(self.trace())
        shown = ", ".join(zones[:5]) + (f" and {len(zones) - 5} more" if len(zones) > 5 else "")
        return (
            f"{Path(str(self.path)).name} has zone(s) {shown}; its zone column must name "
            "PROVIDER:REGION, an Electricity Maps zone or a WattTime region"
        )

    def unused_zones(self, used: Iterable[str]) -> list[str]:
        """The trace's zones that no planned region matched (``used``: the zones that did)."""
        return sorted(set(self.trace()) - set(used) - {ALL_ZONES})

    def zone_for(self, target: Target) -> str | None:
        trace = self.trace()
        for key in (target.key, target.em_zone, target.watttime_region):
            if key and key.lower() in trace:
                return key.lower()
        return ALL_ZONES if ALL_ZONES in trace else None  # rows without a zone: every region

    def fetch(self, zone: str, ctx: FetchContext, *, history: bool = False) -> ZoneSeries:
        trace = self.trace().get(zone)
        if trace is None:
            raise SourceFault("no data")
        now = ctx.now
        points = tuple(
            Point(when, value, "actual" if when <= now else "forecast")
            for when, value in zip(trace.times(), trace.values.tolist(), strict=True)
        )
        actual = [p.time for p in points if p.kind == "actual"]
        name = Path(str(self.path)).name
        return ZoneSeries(
            source=self.name,
            label=f"{self.label} {name}",
            zone=zone,
            period_s=trace.period_s,
            points=points,
            fetched_at=now,
            observed_at=max(actual) if actual else now,
            signal=self.signal,
            has_history=True,
        )
