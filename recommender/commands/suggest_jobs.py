"""``carbonplan suggest --jobs FILE``: every job of a jobs file planned in one run (the engine
is :mod:`recommender.jobs`, as :func:`recommender.suggest_many` is), rendered as one table, one
JSON document (``{"jobs": [...], "totals": {...}}``) or CSV (one row per job x rank)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from recommender.cliopts import Format, PlanArgs, console, given_on_command_line, plan_request
from recommender.cliopts import warn as warn_line
from recommender.errors import BadInputError

if TYPE_CHECKING:
    from recommender.jobs import JobsPlan

DEFAULT_TOP = 3

# suggest's options that shape one plan's output and have no meaning for many
_ONE_PLAN_ONLY = {
    "skypilot_task": "--skypilot-task",
    "plot": "--plot",
    "explain": "--explain",
    "all_sizes": "--all-sizes",
    "markets": "--markets",
    "wide": "--wide",
}


def suggest_jobs(plan_args: PlanArgs, path: Path, output: str, top: int) -> None:
    """Read and check every row, plan every job, then print (nothing before it is done)."""
    from recommender import api
    from recommender.jobs import ProgressBar, read_jobs

    for name, flag in _ONE_PLAN_ONLY.items():
        if given_on_command_line(name):
            raise BadInputError(
                f"{flag} applies to one plan; it cannot be combined with --jobs",
                f"drop {flag}, or plan that job alone",
            )
    if output == "skypilot":
        raise BadInputError(
            "--format skypilot writes one job's task; it cannot be combined with --jobs",
            "use --format table, json or csv",
        )
    if not given_on_command_line("top"):
        top = DEFAULT_TOP
    if top < 1:
        raise BadInputError(f"--top must be >= 1 with --jobs, got {top}")
    rows = read_jobs(path, api.plan_fields())
    bar = ProgressBar()
    try:
        result = api.plan_jobs(rows, plan_request(plan_args), top=top, warn=warn_line, progress=bar)
    finally:
        bar.close()
    fmt = Format(output)
    if fmt is Format.table:
        render_jobs(result)
        return
    import sys

    from recommender.reports.records import to_json

    if fmt is Format.json:
        sys.stdout.write(to_json(result.to_dict()) + "\n")
    else:
        sys.stdout.write(records_csv(result.records()))


def records_csv(records: list[dict[str, Any]]) -> str:
    """CSV of records whose fields differ from job to job (a baseline or timing adds some):
    the union of the fields, in the order first seen; blank where a job has none."""
    import csv
    import io

    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(names), restval="", lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: "" if v is None else v for k, v in record.items()})
    return buffer.getvalue()


def render_jobs(result: JobsPlan) -> None:
    """One table of every job's top options, then the totals of the best choices."""
    from rich.table import Table

    from recommender.jobs import totals
    from recommender.reports.records import option_records
    from recommender.reports.views import fitted_table

    screen = console()
    columns = (
        ("job", "left"),
        ("#", "right"),
        ("where", "left"),
        ("instance", "left"),
        ("GPUs", "left"),
        ("market", "left"),
        ("GPU-hours", "right"),
        ("hours", "right"),
        ("kg CO2e", "right"),
        ("$", "right"),
    )
    rows: list[list[str]] = []
    last: list[bool] = []  # the last row of a job: a rule under it
    bests = []
    for job in result.jobs:
        records = option_records(job.plan.result.options)
        bests.append({"options": records})
        for i, option in enumerate(records):
            rows.append(
                [
                    job.name if i == 0 else "",
                    str(option["rank"]),
                    f"{option['provider']}:{option['region']}",
                    (f"{option['instances']} x " if option["instances"] > 1 else "")
                    + option["instance_type"],
                    f"{option['gpus_per_instance']:g}x{option['gpu']}",
                    option["market"],
                    f"{option['gpu_hours']:,.1f}",
                    f"{option['wall_hours']:,.1f}",
                    f"{option['kgco2e']:,.2f}",
                    f"{option['cost_usd']:,.2f}",
                ]
            )
            last.append(i == len(records) - 1)
    table, left_out = fitted_table(
        f"{len(result.jobs)} jobs, top {result.top} each",
        columns,
        rows,
        screen.width,
        drop=("GPU-hours", "hours", "GPUs", "instance"),
        shrink="job",
        sections=last,
    )
    screen.print(table)
    if left_out:
        screen.print(
            f"not shown at this width: {', '.join(left_out)} (--format csv or json has every field)"
        )
    sums = totals(bests)
    overall = sums["best_options"]
    screen.print(
        f"Best choice of every job ({overall['jobs']} jobs): {overall['kgco2e']:,.2f} kg CO2e, "
        f"${overall['cost_usd']:,.2f}, {overall['gpu_hours']:,.1f} GPU-hours, "
        f"{overall['energy_kwh']:,.1f} kWh"
    )
    by = Table(title="By provider and region (best choices)", title_justify="left")
    for column, justify in (
        ("where", "left"),
        ("jobs", "right"),
        ("GPU-hours", "right"),
        ("kg CO2e", "right"),
        ("$", "right"),
    ):
        by.add_column(column, justify=justify)  # type: ignore[arg-type]
    for group in ("by_provider", "by_region"):
        items = list(sums[group].items())
        for i, (key, bucket) in enumerate(items):
            by.add_row(
                key,
                str(bucket["jobs"]),
                f"{bucket['gpu_hours']:,.1f}",
                f"{bucket['kgco2e']:,.2f}",
                f"{bucket['cost_usd']:,.2f}",
                end_section=i == len(items) - 1,
            )
    screen.print(by)
