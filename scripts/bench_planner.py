"""How fast the planner ranks, and how much memory it takes, on many options (issue 17).

Synthetic catalogs replicate the shipped one: the regions are copied K times under new names
(``eu-north-1~7``) with their offers, so every option is a distinct (provider, region, instance
type, market) with the shipped prices, GPUs and intensities. Figures are printed against a
baseline run in the same process: a numpy argsort of as many random floats, and (for the
first size) the frame path, which ranks every option as a row of one wide frame as the planner
did before issue 17 (it is still what an intensity hook gets).

    .venv/bin/python scripts/bench_planner.py              # 1M options, then 10M in a child
    .venv/bin/python scripts/bench_planner.py --options 2000000 --no-big

Each figure is the median of --repeat runs of ``recommender.planner.plan(..., top=20)``; the
first run of a catalog also builds its candidate table (reused by later plans of the same
catalog, as ``suggest --jobs`` does), so it is shown apart. Peak RSS of the 10M run is the
child process's whole peak (synthetic catalog included), from ``getrusage``; the peak RSS of
the first size includes the frame path's.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def synthetic(options: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The shipped catalog with its regions (and their offers) copied until there are about
    ``options`` (offer, market) options."""
    from recommender.catalog import load_catalog

    catalog = load_catalog()
    offers, regions = catalog.offers, catalog.regions
    per_copy = len(offers) + int(offers["spot_usd_per_hour"].notna().sum())
    copies = max(1, round(options / per_copy))
    # the region names of every copy, made once; rows refer to them (not one string a row)
    region_codes, region_names = pd.factorize(regions["region"])
    renamed = np.array(
        [name + (f"~{i}" if i else "") for i in range(copies) for name in region_names],
        dtype=object,
    )
    offer_region = pd.Index(region_names).get_indexer(offers["region"])
    big = offers.iloc[np.tile(np.arange(len(offers)), copies)].reset_index(drop=True)
    copy = np.repeat(np.arange(copies), len(offers))
    big["region"] = renamed[copy * len(region_names) + np.tile(offer_region, copies)]
    del copy
    reg = regions.iloc[np.tile(np.arange(len(regions)), copies)].reset_index(drop=True)
    reg_copy = np.repeat(np.arange(copies), len(regions))
    reg["region"] = renamed[reg_copy * len(region_names) + np.tile(region_codes, copies)]
    return big, reg, catalog.gpus


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(options: int, repeat: int, frame_path: bool = False) -> dict[str, float]:
    from recommender.planner import Job, plan

    offers, regions, gpus = synthetic(options)
    before = rss_mb()
    job = Job(gpu_hours=400.0)
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = plan(offers, regions, gpus, job, top=20)
        times.append(time.perf_counter() - start)
    assert result is not None
    values = np.random.default_rng(0).random(result.candidates)
    sorts = []
    for _ in range(max(3, repeat)):
        start = time.perf_counter()
        np.argsort(values)
        sorts.append(time.perf_counter() - start)
    figures: dict[str, float] = {}
    if frame_path:  # every option as one wide frame: how the planner ranked before issue 17
        start = time.perf_counter()
        plan(offers, regions, gpus, job, top=20, intensity_fn=lambda frame: frame[[]])
        figures["frame_s"] = time.perf_counter() - start
    return figures | {
        "options": result.candidates,
        "first_s": times[0],
        "median_s": statistics.median(times[1:] or times),
        "argsort_s": statistics.median(sorts),
        "rss_catalog_mb": before,
        "rss_peak_mb": rss_mb(),
        "best": f"{result.options.iloc[0]['region']} {result.options.iloc[0]['instance_type']}",
    }


def show(figures: dict[str, float]) -> None:
    n = int(figures["options"])
    print(f"{n:,} options, plan(top=20):")
    print(f"  first plan of the catalog (builds its candidate table): {figures['first_s']:.3f} s")
    print(
        f"  median plan: {figures['median_s']:.3f} s "
        f"({n / figures['median_s'] / 1e6:.2f} M options/s)"
    )
    print(
        f"  numpy argsort of {n:,} floats: {figures['argsort_s']:.3f} s; "
        f"plan / argsort = {figures['median_s'] / figures['argsort_s']:.1f}x"
    )
    if "frame_s" in figures:
        print(
            f"  the frame path (every option a frame row, as before issue 17): "
            f"{figures['frame_s']:.3f} s; frame / arrays = "
            f"{figures['frame_s'] / figures['median_s']:.1f}x"
        )
    print(
        f"  peak RSS {figures['rss_peak_mb']:,.0f} MB "
        f"(synthetic catalog alone: {figures['rss_catalog_mb']:,.0f} MB); best: {figures['best']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--options", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--big", type=int, default=10_000_000, help="options in the child run")
    parser.add_argument("--no-big", action="store_true", help="skip the child run")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.json:
        print(json.dumps(measure(args.options, args.repeat)))
        return
    big = None
    if not args.no_big:
        # first, while this process is small: a child's peak RSS starts from its parent's
        child = subprocess.run(
            [sys.executable, __file__, "--options", str(args.big), "--repeat", "2", "--json"],
            capture_output=True,
            text=True,
            check=False,
        )
        if child.returncode != 0:
            print(f"the {args.big:,}-option run failed:\n{child.stderr[-2000:]}")
            sys.exit(1)
        big = json.loads(child.stdout.strip().splitlines()[-1])
    show(measure(args.options, args.repeat, frame_path=True))
    if big is not None:
        show(big)


if __name__ == "__main__":
    main()
