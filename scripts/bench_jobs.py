"""How long ``carbonplan suggest --jobs FILE`` takes for many jobs, against one cold
``carbonplan suggest`` measured in the same run (issue 17: 1,000 jobs in under 40x one).

    .venv/bin/python scripts/bench_jobs.py                 # 1,000 jobs, JSON and table
    .venv/bin/python scripts/bench_jobs.py --jobs 200 --repeat 1

The jobs file is generated (seeded): GPU-hours from 5 to 5,000 or a model size, some with
GPUs, markets, providers, deadlines, budgets, searches and objectives of their own, so that
the jobs do not all share one plan. Every figure is the median of --repeat runs of a fresh
process (cold: interpreter, imports, catalog), output to a pipe.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CARBONPLAN = str(Path(sys.executable).with_name("carbonplan"))
COLUMNS = [
    "name",
    "gpu_hours",
    "params",
    "tokens",
    "gpu",
    "market",
    "provider",
    "deadline",
    "max_cost",
    "trials",
    "objective",
]


def jobs_file(path: Path, count: int, seed: int = 17) -> None:
    """``count`` varied jobs, each one feasible on the shipped catalog."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for i in range(count):
            row = dict.fromkeys(COLUMNS, "")
            row["name"] = f"job-{i:04d}"
            if rng.random() < 0.15:
                row["params"] = rng.choice(["125M", "350M", "1.3B"])
                row["tokens"] = rng.choice(["2B", "10B", "20B"])
            else:
                row["gpu_hours"] = f"{rng.uniform(5, 5000):.1f}"
            if rng.random() < 0.3:
                row["gpu"] = rng.choice(["A100;H100", "H100", "L4;A10G", "H200", "A100"])
            if rng.random() < 0.4:
                row["market"] = rng.choice(["spot", "on-demand"])
            if not row["gpu"] and rng.random() < 0.3:
                row["provider"] = rng.choice(["aws", "gcp", "azure", "aws;gcp"])
            light = row["gpu_hours"] and float(row["gpu_hours"]) < 1000 and not row["gpu"]
            if light and rng.random() < 0.3:
                row["deadline"] = str(rng.choice([72, 168, 336]))
            if rng.random() < 0.1:
                row["max_cost"] = "1000000"
            if not row["deadline"] and rng.random() < 0.1:
                row["trials"] = str(rng.choice([4, 8, 16]))
            row["objective"] = rng.choice(["carbon"] * 6 + ["cost", "time", "balanced"])
            writer.writerow(row)


def timed(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, check=False)
    took = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr.decode()[-2000:]}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ)
        # the shipped data and defaults only: no user config, overlay or stale-price check
        env |= {
            "CARBONPLAN_CONFIG": str(Path(tmp) / "none.toml"),
            "CARBONPLAN_OVERLAY_DIR": str(Path(tmp) / "no-overlay"),
            "CARBONPLAN_PRICES_MAX_AGE_DAYS": "0",
        }
        path = Path(tmp) / "jobs.csv"
        jobs_file(path, args.jobs)
        single = [CARBONPLAN, "suggest", "--gpu-hours", "400", "--format", "json"]
        timed(single, env)  # warms the on-disk catalog cache and the OS page cache
        one = statistics.median(timed(single, env) for _ in range(max(3, args.repeat)))
        figures = {}
        for fmt in ("json", "table"):
            command = [CARBONPLAN, "suggest", "--jobs", str(path), "--format", fmt]
            figures[fmt] = statistics.median(timed(command, env) for _ in range(args.repeat))
    print(f"one cold `carbonplan suggest --gpu-hours 400 --format json`: {one:.3f} s")
    for fmt, took in figures.items():
        print(
            f"`carbonplan suggest --jobs` with {args.jobs:,} jobs, --format {fmt}: {took:.2f} s "
            f"= {took / one:.1f}x one cold suggest ({took / args.jobs * 1000:.1f} ms a job)"
        )


if __name__ == "__main__":
    main()
