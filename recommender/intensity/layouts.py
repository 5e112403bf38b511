"""The intensity-trace CSV layouts carbonplan reads, for ``--intensity-file`` (suggest, report,
launch) and ``--trace`` (replay) alike: one list, one choice of column, one basis.

Header names are matched case-insensitively (a byte-order mark is fine). The default intensity
column is the **lifecycle** one wherever a file has both, because lifecycle is the basis of the
shipped figures and of the Electricity Maps API's default; ``--intensity-column NAME`` reads
another column (e.g. an Electricity Maps export's ``(direct)`` one) instead.

| layout | time column | intensity column (first found) |
| --- | --- | --- |
| carbonplan | ``datetime`` | ``gco2_per_kwh`` |
| Electricity Maps portal export | ``Datetime (UTC)`` | ``Carbon Intensity gCO₂eq/kWh (LCA)`` |
| Electricity Maps full export (CarbonScaler sample) | ``datetime`` | ``carbon_intensity_avg`` |
| hourly means derived from Let's Wait Awhile | ``datetime`` | ``carbon_intensity_gco2_per_kwh`` |
| Let's Wait Awhile (Wiesner et al. 2021) | ``Time`` | ``Carbon Intensity`` |
| WattTime MOER example (vessim) | ``oootime`` (sic) | the one other column |

An optional zone column (``Zone Id``, ``zone``, ``zone_name`` or ``region``) says which grid
each row is for. :mod:`recommender.intensity.tracefile` reads and checks the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from recommender.errors import BadInputError

TIME_COLUMNS = ("datetime", "time", "timestamp", "datetime (utc)", "oootime")
# (lower-case header, layout name): lifecycle columns before direct ones.
VALUE_COLUMNS = (
    ("gco2_per_kwh", "carbonplan"),
    ("carbon intensity gco₂eq/kwh (lca)", "electricitymaps"),
    ("carbon intensity gco2eq/kwh (lca)", "electricitymaps"),
    ("carbon_intensity_avg", "electricitymaps export"),
    ("carbon_intensity_gco2_per_kwh", "hourly means"),
    ("carbon intensity", "lets-wait-awhile"),
    ("carbon intensity gco₂eq/kwh (direct)", "electricitymaps"),
    ("carbon intensity gco2eq/kwh (direct)", "electricitymaps"),
)
ZONE_COLUMNS = ("zone id", "zone", "zone_name", "region")
EXPECTED = (
    "expected a time column (datetime, Datetime (UTC), Time or oootime) and an intensity "
    "column in gCO2e/kWh (gco2_per_kwh, 'Carbon Intensity gCO₂eq/kWh (LCA)' or '(direct)', "
    "carbon_intensity_avg, carbon_intensity_gco2_per_kwh, Carbon Intensity); or name the "
    "intensity column with --intensity-column"
)


@dataclass(frozen=True)
class Layout:
    """Where a trace's columns are (indexes into the header) and which layout it is."""

    time: int
    value: int
    zone: int | None
    name: str  # layout name, e.g. "electricitymaps"
    column: str  # the intensity column's header as written


def pick_columns(header: Sequence[str], column: str | None, what: str) -> Layout:
    """The trace's time, intensity and zone columns, or one clear error naming ``what``
    (e.g. ``--intensity-file trace.csv``) and the columns it has."""
    lowered = [h.strip().lower().lstrip("\ufeff") for h in header]
    time = next((lowered.index(c) for c in TIME_COLUMNS if c in lowered), None)
    value: int | None = None
    name = "custom"
    if column is not None:
        wanted = column.strip().lower()
        if wanted not in lowered:
            raise BadInputError(
                f"{what} has no column {column!r} (columns: {', '.join(header)})",
                "give --intensity-column one of those names",
            )
        value = lowered.index(wanted)
        name = next((kind for col, kind in VALUE_COLUMNS if col == wanted), "custom")
    else:
        value, name = next(
            ((lowered.index(c), kind) for c, kind in VALUE_COLUMNS if c in lowered), (None, name)
        )
        if value is None and time is not None and lowered[time] == "oootime":
            others = [i for i in range(len(lowered)) if i != time]
            if len(others) == 1:
                value, name = others[0], "watttime moer"
    if time is None or value is None:
        raise BadInputError(
            f"{what}: unknown trace format (columns: {', '.join(header)})", EXPECTED
        )
    if value == time:
        raise BadInputError(f"{what}: --intensity-column {column!r} is the time column", EXPECTED)
    zone = next(
        (lowered.index(c) for c in ZONE_COLUMNS if c in lowered and lowered.index(c) != value),
        None,
    )
    return Layout(time, value, zone, name, header[value].strip())


#: Years a trace may hold (a typo such as year 9999 fails with its line, not later).
FIRST_YEAR, LAST_YEAR = 1990, 2100
