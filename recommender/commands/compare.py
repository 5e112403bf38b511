"""``carbonplan compare PLAN.json RUN.csv``: what was planned against what was measured."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from recommender.cliopts import Format, FormatOpt, console, emit


def compare(
    plan: Annotated[
        Path, typer.Argument(help="A saved plan: carbonplan suggest --format json > plan.json.")
    ],
    run: Annotated[
        Path,
        typer.Argument(help="The run's emissions.csv (carbonplan track or CodeCarbon)."),
    ],
    rank: Annotated[
        int | None,
        typer.Option(
            "--rank",
            help="The plan option to compare with [default: the best-ranked one in the run's "
            "region, else rank 1].",
            show_default=False,
        ),
    ] = None,
    run_id: Annotated[
        str | None,
        typer.Option(
            "--run-id", help="The CSV row to compare [default: the last one].", show_default=False
        ),
    ] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Planned vs measured energy, kg CO2e and cost, and the error of each input (power,
    hours, intensity)."""
    from recommender.track.compare import compare as run_compare

    document = run_compare(plan, run, rank, run_id)
    if fmt is not Format.table:
        emit(fmt, document, document["figures"])
        return
    from rich.table import Table

    p, r = document["plan"], document["run"]
    out = console()
    out.print(
        f"plan {p['file']} rank {p['rank']} ({p['chosen']}): {p['instances']} x "
        f"{p['instance_type']} {p['market']} in {p['provider']}:{p['region']}"
    )
    out.print(f"run {r['file']} line {r['line']} (run {r['run_id'] or '?'})")
    table = Table(box=None)
    for name in ("figure", "planned", "measured", "error"):
        table.add_column(name, justify="left" if name == "figure" else "right")
    for f in document["figures"]:
        measured = "-" if f["measured"] is None else f"{f['measured']:,.4g}"
        error = "-" if f["error"] is None else f"{f['error']:+.1%}"
        table.add_row(f"{f['name']} ({f['unit']})", f"{f['planned']:,.4g}", measured, error)
    out.print(table)
    for note in document["notes"]:
        out.print(f"note: {note}")
