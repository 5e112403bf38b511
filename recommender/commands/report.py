"""``carbonplan report``: the cost/carbon trade-off as files people look at and share
(report.html, report.md, tradeoff.png/svg, regions.png, options.csv, plan.json, and
timing.png where time shifting applies).

It plans the job from the same flags as ``suggest`` (through ``plan_options``), or renders a
saved ``suggest --format json`` given with ``--from``. Module import stays light: pandas and
matplotlib are imported inside the command.
"""

from __future__ import annotations

import shlex
from dataclasses import MISSING, fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import click
import typer
from click.core import ParameterSource

from recommender.cliopts import (
    Format,
    FormatOpt,
    PlanArgs,
    console,
    emit,
    plan_options,
    plan_request,
    warn,
)
from recommender.errors import BadInputError
from recommender.extras import require

if TYPE_CHECKING:
    from recommender.api import ReportFiles

DEFAULT_OUT = Path("carbonplan-report")
_PLAN_FIELDS = {f.name for f in fields(PlanArgs)}
_GPU_HOURS_REQUIRED = next(f for f in fields(PlanArgs) if f.name == "gpu_hours").default is MISSING


def _command_line() -> str:
    """The command as typed, rebuilt from the options given on the command line."""
    ctx = click.get_current_context()
    words = ["carbonplan", ctx.info_name or "report"]
    for param in ctx.command.params:
        name = param.name or ""
        if ctx.get_parameter_source(name) is not ParameterSource.COMMANDLINE:
            continue
        flag = max(param.opts, key=len)
        value = ctx.params.get(name)
        if isinstance(param, click.Option) and param.is_flag:
            if value:
                words.append(flag)
            continue
        for item in value if isinstance(value, list | tuple) else [value]:
            if isinstance(item, float) and item.is_integer():
                item = int(item)  # 400, as typed, not 400.0
            words += [flag, str(getattr(item, "value", item))]
    return " ".join(shlex.quote(w) for w in words)


def _plan_flags_given() -> list[str]:
    ctx = click.get_current_context()
    given = []
    for param in ctx.command.params:
        if param.name in _PLAN_FIELDS and (
            ctx.get_parameter_source(param.name) is ParameterSource.COMMANDLINE
        ):
            given.append(max(param.opts, key=len))
    return given


@plan_options
def report(
    plan_args: PlanArgs,
    from_file: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="Render a saved 'carbonplan suggest --format json' instead of planning from "
            "the job flags.",
            dir_okay=False,
        ),
    ] = None,
    out: Annotated[
        Path,
        typer.Option("--out", help="Directory to write the report into (created if missing)."),
    ] = DEFAULT_OUT,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a report already in --out.")
    ] = False,
    top: Annotated[
        int, typer.Option("--top", help="Rows in the report's ranked-options table.")
    ] = 20,
    fmt: FormatOpt = Format.table,
) -> None:
    """Write a shareable cost-vs-carbon report: HTML, Markdown, PNG/SVG charts and CSV."""
    require("report")  # before any work: the charts need matplotlib
    from recommender import api
    from recommender.reports.report import check_target, read_plan

    if top < 1:
        raise BadInputError(f"--top must be >= 1, got {top}")
    command = _command_line()
    check_target(out, force)  # before the work, not after it
    if from_file is not None:
        given = _plan_flags_given()
        if given:
            raise BadInputError(
                f"--from renders a saved plan; it cannot be combined with {', '.join(given)}",
                "drop those flags, or drop --from to plan the job again",
            )
        document = read_plan(from_file)  # what launch --from checks, too
        origin = f"the saved plan {from_file}"
    else:
        if _GPU_HOURS_REQUIRED and plan_args.gpu_hours is None:
            raise BadInputError(
                "report needs the job: --gpu-hours H, or --from plan.json",
                "e.g. carbonplan report --gpu-hours 400 --baseline aws:us-east-1",
            )
        plan = api.plan_request(plan_request(plan_args), top=0, warn=warn)
        # with the intensity curve the recommended start was chosen on, and the campaign
        # breakdown of a search: saved in plan.json so that --from redraws them
        document = api.report_document(plan)
        origin = "the job flags, planned on the shipped data"
    written = api.report(document, out, top=top, force=force, command=command, origin=origin)
    _print_result(written, fmt)


def _print_result(written: ReportFiles, fmt: Format) -> None:
    out = written.out
    records: list[dict[str, Any]] = [
        {"file": name, "path": str(out / name), "bytes": size}
        for name, size in sorted(written.files.items())
    ]
    if fmt is not Format.table:
        document = {
            "out_dir": str(out),
            "files": records,
            "options": written.options,
            "recommended": written.recommended,
            "budget_ladder": written.budget_ladder,
        }
        if written.campaign_breakdown is not None:
            document["campaign_breakdown"] = written.campaign_breakdown
        emit(fmt, document, records)
        return
    from rich.table import Table

    table = Table(title=f"report written to {out}/", header_style="bold")
    table.add_column("file")
    table.add_column("bytes", justify="right")
    for record in records:
        table.add_row(record["file"], f"{record['bytes']:,}")
    screen = console()
    screen.print(table)
    screen.print(f"open {out / 'report.html'} in a browser; report.md is for a PR or wiki.")
