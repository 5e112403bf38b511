"""``carbonplan replay --trace FILE``: what would choosing start times (and pausing) have saved
on a real grid-intensity trace, with a realistic forecast and with perfect foresight?"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from recommender.cliopts import Format, FormatOpt, console, emit, given_on_command_line, warn


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
    from recommender import api

    records = api.replay(
        trace,
        job_hours=job_hours,
        every=every,
        at=at,
        jobs=jobs,
        flex=flex,
        interruptible=interruptible,
        checkpoint_minutes=checkpoint_minutes,
        oracle=oracle,
        forecaster=forecaster.value,
        intensity_column=column,
        from_=since,
        until=until,
        given=frozenset(n for n in ("checkpoint_minutes", "at") if given_on_command_line(n)),
        warn=warn,
    ).records
    title = _title(job_hours, every, at, jobs, flex, interruptible, checkpoint_minutes)
    if fmt is Format.table:
        _render(records, title, forecaster.value, interruptible)
        return
    emit(fmt, records, records)


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
