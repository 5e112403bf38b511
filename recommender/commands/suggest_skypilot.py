"""``carbonplan suggest --format skypilot`` and ``--skypilot-task``: the shown options as a
SkyPilot task (:mod:`recommender.reports.skypilot`), and the stale-price warning of
``suggest``. Kept out of :mod:`recommender.cli` so that the CLI stays a thin layer."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from recommender.cliopts import (
    PlanArgs,
    SuggestFormat,
    given_on_command_line,
    plan_request,
    warn,
)
from recommender.errors import BadInputError


def warn_stale_prices(options: Any) -> None:
    """One warning when the shown options' prices are older than the limit (90 days by
    default, ``$CARBONPLAN_PRICES_MAX_AGE_DAYS``)."""
    from recommender.catalog.overlay import stale_prices

    message = stale_prices(options)
    if message:
        warn(message)


def suggest_skypilot(
    plan_args: PlanArgs,
    output: SuggestFormat,
    task_path: Path | None,
    top: int,
    all_sizes: bool,
) -> None:
    """Print the ranking as a SkyPilot task (merged into ``task_path`` when given)."""
    from recommender import api
    from recommender.reports.skypilot import load_task, skypilot_document

    if output is not SuggestFormat.skypilot and given_on_command_line("output"):
        raise BadInputError(
            "--skypilot-task writes a SkyPilot task; it cannot be combined with --format "
            f"{output.value}",
            "drop --format (or give --format skypilot)",
        )
    for flag, name in (("--plot", "plot"), ("--wide", "wide"), ("--markets", "markets")):
        if given_on_command_line(name):
            raise BadInputError(
                f"{flag} shapes the table; --format skypilot writes a SkyPilot task",
                f"drop {flag}",
            )
    task = load_task(task_path) if task_path is not None else {}  # before any planning
    plan = api.plan_request(plan_request(plan_args), top=top, all_sizes=all_sizes, warn=warn)
    options = plan.result.options
    warn_stale_prices(options)
    sys.stdout.write(skypilot_document(options, plan.result.settings.objective, task, warn))
