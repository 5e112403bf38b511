"""Grid-intensity traces for replay, read by :mod:`recommender.intensity.tracefile` (the one
reader ``--intensity-file`` uses too: the same layouts, default column, checks and regular
grid), one trace per zone.

Each trace is on a regular grid at its own resolution (5, 15, 30 or 60 minutes): rows finer
than the trace's usual spacing (GB has 15-minute stretches in a 30-minute series) are averaged
into its periods; periods with no row are filled by linear interpolation and counted; a gap
longer than six hours, duplicate or out-of-order times, rows off the grid, bad values and years
outside 1990-2100 are one error with the line.
"""

from __future__ import annotations

from pathlib import Path

from recommender.errors import BadInputError
from recommender.intensity.layouts import EXPECTED
from recommender.intensity.tracefile import MAX_GAP_S, Trace, read_trace_file

__all__ = ["MAX_GAP_S", "Trace", "load_traces"]


def load_traces(path: Path, column: str | None = None) -> list[Trace]:
    """Every zone's trace in ``path`` (usually one), in zone order."""
    found = read_trace_file(path, column)
    for trace in found.traces.values():
        if len(trace.values) < 2:
            raise BadInputError(
                f"trace {found.path}: {trace.name} has fewer than two periods to replay", EXPECTED
            )
    return list(found.traces.values())
