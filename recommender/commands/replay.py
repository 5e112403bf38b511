"""``carbonplan replay --trace FILE``: what would choosing start times (and pausing) have saved
on a real grid-intensity trace, with a realistic forecast and with perfect foresight?"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from recommender.cliopts import Format, FormatOpt, console, emit, given_on_command_line, warn
from recommender.errors import BadInputError

if TYPE_CHECKING:
    import pandas as pd


class Forecaster(StrEnum):
    yesterday = "yesterday"
    week = "week"
    week_now = "week-now"


def replay(
    trace: Annotated[
        list[Path],
        typer.Option(
            "--trace",
            help="Intensity trace CSV (repeatable): Let's Wait Awhile, Electricity Maps portal "
            "exports, WattTime MOER, or datetime,gco2_per_kwh; 5- to 60-minute rows.",
        ),
    ],
    job_hours: Annotated[
        float | None,
        typer.Option("--job-hours", help="Length of each job in hours (with --every)."),
    ] = None,
    every: Annotated[
        str | None,
        typer.Option(
            "--every",
            help="Submit a job this often, e.g. 24h, 12h, 7d [default: 24h unless --jobs].",
            show_default=False,
        ),
    ] = None,
    at: Annotated[
        str, typer.Option("--at", help="Time of day (UTC, HH:MM) of the first submission each day.")
    ] = "00:00",
    jobs: Annotated[
        Path | None,
        typer.Option(
            "--jobs",
            help="CSV of jobs instead of --every: submit (ISO 8601), job_hours, optional "
            "deadline (ISO 8601; default submit + job_hours + --flex).",
        ),
    ] = None,
    flex: Annotated[
        float,
        typer.Option(
            "--flex",
            help="Hours a job may finish later than if run at submit (its allowed delay).",
        ),
    ] = 0.0,
    interruptible: Annotated[
        bool,
        typer.Option(
            "--interruptible",
            help="Also replay the jobs pausing and resuming at the trace's period boundaries.",
        ),
    ] = False,
    checkpoint_minutes: Annotated[
        float,
        typer.Option(
            "--checkpoint-minutes",
            help="Restart overhead per pause, minutes of extra run time (with --interruptible).",
        ),
    ] = 5.0,
    oracle: Annotated[
        bool,
        typer.Option(
            "--oracle",
            help="Headline figures with perfect foresight instead of the realistic forecast "
            "(both are always reported).",
        ),
    ] = False,
    forecaster: Annotated[
        Forecaster,
        typer.Option(
            "--forecaster",
            help="Realistic forecast from the past only: yesterday (same time on the last full "
            "day), week (mean of that time over the last 7 days) or week-now (that, plus the "
            "current deviation fading with a 12 h half-life).",
        ),
    ] = Forecaster.week_now,
    column: Annotated[
        str | None,
        typer.Option(
            "--intensity-column",
            "--column",
            help="Intensity column to read [default: by layout, lifecycle where a file has "
            "both, as --intensity-file reads it; name an Electricity Maps export's (direct) "
            "column to use that].",
            show_default=False,
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--from", help="Only jobs submitted at or after this date (ISO 8601, UTC)."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", help="Only jobs submitted before this date (ISO 8601, UTC)."),
    ] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Replay a job pattern on grid-intensity traces: savings of time shifting and pausing."""

    from recommender.replay import daily_jobs, evaluate, jobs_from_file, load_traces
    from recommender.replay.evaluate import parse_clock, parse_duration

    if flex < 0 or flex != flex or flex > 1e5:
        raise BadInputError(f"--flex must be between 0 and 1e5 hours, got {flex:g}")
    if not 0 <= checkpoint_minutes <= 1440:
        raise BadInputError(
            f"--checkpoint-minutes must be between 0 and 1440, got {checkpoint_minutes:g}"
        )
    if given_on_command_line("checkpoint_minutes") and not interruptible:
        raise BadInputError(
            "--checkpoint-minutes is the restart overhead of --interruptible jobs",
            "add --interruptible, or drop --checkpoint-minutes",
        )
    if jobs is not None and (every is not None or given_on_command_line("at")):
        raise BadInputError("--jobs and --every/--at both give the job pattern", "give one")
    if jobs is not None and job_hours is not None:
        raise BadInputError(
            "--job-hours is for --every; a --jobs file has a job_hours column", "drop one"
        )
    if jobs is None and job_hours is None:
        raise BadInputError(
            "Missing option '--job-hours' (or --jobs FILE): how long is each job?",
            "e.g. --job-hours 24 --every 24h --at 01:00 --flex 24",
        )
    if job_hours is not None and not 0 < job_hours <= 1e5:
        raise BadInputError(f"--job-hours must be > 0 and at most 1e5, got {job_hours:g}")
    first = _when("--from", since)
    last = _when("--until", until)
    every_h = parse_duration("--every", every or "24h")
    at_h = parse_clock(at)
    file_jobs = jobs_from_file(jobs, flex) if jobs is not None else None

    records: list[dict[str, Any]] = []
    for path in trace:
        for one in load_traces(path, column):
            if file_jobs is not None:
                pattern = _between(file_jobs, first, last)
            else:
                assert job_hours is not None
                pattern = daily_jobs(
                    one,
                    job_hours=job_hours,
                    flex_hours=flex,
                    every_hours=every_h,
                    at_hours=at_h,
                    first=first,
                    until=last,
                )
            record = evaluate(
                one,
                pattern,
                interruptible=interruptible,
                checkpoint_minutes=checkpoint_minutes,
                forecaster=forecaster.value,
                oracle=oracle,
                on_skip=warn if file_jobs is not None else None,
            )
            if not record["jobs"]:
                span = f"{one.start:%Y-%m-%d} to {one.end:%Y-%m-%d}"
                warn(f"{one.name}: no job fits in the trace ({span})")
            records.append(record)
    title = _title(job_hours, every, at, jobs, flex, interruptible, checkpoint_minutes)
    if fmt is Format.table:
        _render(records, title, forecaster.value, interruptible)
        return
    emit(fmt, records, records)


def _when(flag: str, text: str | None) -> pd.Timestamp | None:
    import pandas as pd

    if text is None:
        return None
    try:
        value = pd.Timestamp(text.strip())
    except ValueError:
        raise BadInputError(f"{flag} {text!r} is not a date", "e.g. 2020-01-01") from None
    return value.tz_localize("UTC") if value.tzinfo is None else value.tz_convert("UTC")


def _between(jobs: Any, first: pd.Timestamp | None, last: pd.Timestamp | None) -> Any:
    """The jobs submitted in [first, last)."""
    import numpy as np

    from recommender.replay import Jobs

    keep = np.ones(len(jobs), dtype=bool)
    if first is not None:
        keep &= np.asarray(jobs.submit >= first)
    if last is not None:
        keep &= np.asarray(jobs.submit < last)
    return Jobs(jobs.submit[keep], jobs.hours[keep], jobs.deadline[keep], jobs.pattern)


def _title(
    job_hours: float | None,
    every: str | None,
    at: str,
    jobs: Path | None,
    flex: float,
    interruptible: bool,
    checkpoint_minutes: float,
) -> str:
    if jobs is not None:
        text = f"jobs from {jobs.name}"
    else:
        text = f"{job_hours:g} h jobs every {every or '24h'} from {at} UTC"
    text += f", up to {flex:g} h of delay allowed"
    if interruptible:
        text += f"; pausing costs {checkpoint_minutes:g} min per restart"
    return text


def _pct(value: Any) -> str:
    return "-" if value is None else f"{value:.1f}%"


def _num(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _render(
    records: list[dict[str, Any]], title: str, forecaster: str, interruptible: bool
) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, header_style="bold", pad_edge=False)
    columns = [
        ("trace", "left"),
        ("period", "right"),
        ("jobs", "right"),
        ("run at submit gCO2e/kWh", "right"),
        ("shifted: forecast", "right"),
        ("shifted: oracle", "right"),
    ]
    if interruptible:
        columns += [("+ pausing: forecast", "right"), ("+ pausing: oracle", "right")]
    columns += [("mean delay h: forecast / oracle", "right")]
    for name, justify in columns:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in records:
        cells = [
            r["trace"],
            f"{r['period_minutes']} min",
            str(r["jobs"]),
            _num(r["baseline_gco2_per_kwh"]),
            _pct(r["forecast_shifted_saving_pct"]),
            _pct(r["oracle_shifted_saving_pct"]),
        ]
        if interruptible:
            cells += [
                _pct(r["forecast_interruptible_saving_pct"]),
                _pct(r["oracle_interruptible_saving_pct"]),
            ]
        cells.append(
            f"{_num(r['forecast_mean_delay_hours'])} / {_num(r['oracle_mean_delay_hours'])}"
        )
        table.add_row(*cells)
    out = console()
    out.print(table)
    out.print(
        Text(
            "saving = 1 - emissions / emissions of running at submit, over all jobs. forecast: "
            f"start times chosen on the '{forecaster}' forecaster (past data only), charged at "
            "the real intensities; oracle: perfect foresight (an upper bound).",
        ),
        style="dim",
    )
