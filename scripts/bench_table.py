"""Render-time benchmark of the ``suggest`` table (issue 12).

    python scripts/bench_table.py [--runs 30] [--top 20]

Plans ``--gpu-hours 400`` once, then times :func:`recommender.reports.views.render_plan` into
an in-memory console at 80, 100, 120 and 200 columns (the plan itself is not timed: this is
what laying out and drawing the table costs). Prints the median per width. Run it before and
after a change to the table and compare the medians (``--markets split`` renders the same
20 rows as a table with one row per market did).
"""

from __future__ import annotations

import argparse
import inspect
import io
import statistics
import time
from dataclasses import replace


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--markets", choices=["combined", "split"], default="combined")
    args = parser.parse_args()

    from rich.console import Console

    from recommender.catalog import load_catalog
    from recommender.planner import Job, plan
    from recommender.reports import views

    catalog = load_catalog()
    result = plan(catalog.offers, catalog.regions, catalog.gpus, Job(400), top=None)
    params = inspect.signature(views.render_plan).parameters
    kwargs: dict[str, object] = {}
    if "top" in params:  # the table picks its rows (markets combined) from every option
        kwargs.update(top=args.top, markets=args.markets)
    else:
        result = replace(result, options=result.options.head(args.top))
    for width in (80, 100, 120, 200):
        times = []
        for _ in range(args.runs):
            buffer = io.StringIO()
            console = Console(file=buffer, width=width, color_system=None, soft_wrap=False)
            start = time.perf_counter()
            views.render_plan(result, catalog, console, False, **kwargs)  # type: ignore[arg-type]
            times.append(time.perf_counter() - start)
        print(
            f"markets {args.markets if 'top' in params else 'split'}, top {args.top}, "
            f"{width} columns: median "
            f"{statistics.median(times) * 1000:.1f} ms (min {min(times) * 1000:.1f}, "
            f"n={args.runs})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
