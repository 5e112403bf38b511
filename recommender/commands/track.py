"""``carbonplan track``: run a command, measure it, append a CodeCarbon-compatible row."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from recommender.errors import BadInputError


def track(
    command: Annotated[
        list[str] | None,
        typer.Argument(
            help="The command to run and measure, after '--' (e.g. -- python train.py).",
            show_default=False,
        ),
    ] = None,
    region: Annotated[
        str | None,
        typer.Option(
            "--region",
            help="PROVIDER:REGION the run is in [default: asked of the cloud's instance "
            "metadata service (AWS, GCP, Azure), else --country].",
            show_default=False,
        ),
    ] = None,
    country: Annotated[
        str | None,
        typer.Option(
            "--country",
            help="Two-letter country code when the region is unknown (off-cloud) [default: "
            "CARBONPLAN_COUNTRY]; its intensity is the mean of its shipped cloud regions, "
            "marked as such.",
            envvar="CARBONPLAN_COUNTRY",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            help="CSV to append the row to: CodeCarbon's columns, then carbonplan's.",
        ),
    ] = Path("emissions.csv"),
    interval: Annotated[
        float,
        typer.Option("--interval", help="Seconds between power samples (NVML, RAPL)."),
    ] = 1.0,
    project_name: Annotated[
        str, typer.Option("--project-name", help="The row's project_name (as CodeCarbon's).")
    ] = "carbonplan",
    progress_regex: Annotated[
        str | None,
        typer.Option(
            "--progress-regex",
            help="Count progress on the command's stdout: each matching line is a step, or "
            "the number the first group captures is the steps done (e.g. 'step (\\d+)'). "
            "The row's steps give a pilot's throughput to --calibrate.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run a command and measure its energy and CO2e (GPU by NVML, CPU by RAPL), appending
    one row per run to a CodeCarbon-compatible CSV; the command's exit status passes through."""
    from recommender.extras import require

    if interval <= 0 or interval > 3600:
        raise BadInputError(f"--interval must be in (0, 3600] seconds, got {interval:g}")
    pattern = None
    if progress_regex is not None:
        try:
            pattern = re.compile(progress_regex.encode())
        except re.error as exc:
            raise BadInputError(
                f"--progress-regex {progress_regex!r} is not a regular expression: {exc}"
            ) from None
    from recommender.track.runner import check_command, run

    argv = list(command or [])
    check_command(argv)
    require("track")
    from recommender.track.tracker import Tracker

    tracker = Tracker(
        output,
        region=region,
        country=country,
        project_name=project_name,
        interval_s=interval,
    )
    status = run(argv, tracker, pattern)
    if status != 0:
        raise typer.Exit(status)
