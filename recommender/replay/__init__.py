"""Replay: how much would time shifting have saved on a real grid-intensity trace?

:func:`load_traces` reads a trace file; :func:`daily_jobs` / :func:`jobs_from_file` make the
job pattern; :func:`evaluate` replays it with a forecaster that sees only the past (or, as a
bound, perfect foresight). Pure numpy on top of :mod:`recommender.planner.timing`.
"""

from recommender.replay.evaluate import (
    FORECASTERS,
    Jobs,
    daily_jobs,
    evaluate,
    forecast_matrix,
    jobs_from_file,
)
from recommender.replay.traces import Trace, load_traces

__all__ = [
    "FORECASTERS",
    "Jobs",
    "Trace",
    "daily_jobs",
    "evaluate",
    "forecast_matrix",
    "jobs_from_file",
    "load_traces",
]
