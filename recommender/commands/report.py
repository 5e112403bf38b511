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
    PlanRequest,
    build_campaign,
    build_request,
    console,
    emit,
    plan_options,
)
from recommender.errors import BadInputError
from recommender.extras import require

if TYPE_CHECKING:
    from recommender.planner import Job

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
    from recommender.reports.report import (
        build_report,
        check_target,
        read_plan,
        render_files,
        write_report,
    )

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
        from recommender.reports.report import timing_curve
        from recommender.reports.views import plan_document

        request = build_request(plan_args)
        result = request.run(top=None)
        document = plan_document(result, request.catalog, set(request.defaults_used))
        # the intensity curve the time shifter chose the recommended start on (it keeps what
        # it searched, so nothing is fetched twice); saved in plan.json so --from redraws it
        best = min(document["options"], key=lambda o: o["rank"])
        curve = timing_curve(request.intensity_fn, best)
        if curve is not None:
            document["timing_curve"] = curve
        breakdown = _campaign_breakdown(plan_args, request, best)
        if breakdown is not None:
            document["campaign_breakdown"] = breakdown
        origin = "the job flags, planned on the shipped data"
    built = build_report(document, top=top, origin=origin, command=command)
    files = render_files(built)
    write_report(files, out, force=force)
    _print_result(out, files, built, fmt)


def _campaign_breakdown(
    plan_args: PlanArgs, request: PlanRequest, best: dict[str, Any]
) -> dict[str, Any] | None:
    """One run vs the whole campaign (and fine-tune vs from scratch), each re-planned through
    the same request; None for a plain ``--gpu-hours`` job of one trial."""
    from recommender.reports.campaign import applies, breakdown
    from recommender.reports.records import option_records

    campaign = build_campaign(plan_args)
    if not applies(campaign):
        return None

    def best_for(job: Job) -> dict[str, Any]:
        return option_records(request.with_job(job).run(top=1).options)[0]

    return breakdown(campaign, request.job, request.catalog.gpus, best, best_for)


def _print_result(out: Path, files: dict[str, bytes], built: Any, fmt: Format) -> None:
    records: list[dict[str, Any]] = [
        {"file": name, "path": str(out / name), "bytes": len(content)}
        for name, content in sorted(files.items())
    ]
    if fmt is not Format.table:
        rec = built.recommended
        document = {
            "out_dir": str(out),
            "files": records,
            "options": len(built.options),
            "recommended": {k: rec.get(k) for k in ("rank", "provider", "region", "instance_type")}
            | {k: rec.get(k) for k in ("market", "kgco2e", "cost_usd")},
            "budget_ladder": built.ladder,
        }
        if built.document.get("campaign_breakdown") is not None:
            document["campaign_breakdown"] = built.document["campaign_breakdown"]
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
