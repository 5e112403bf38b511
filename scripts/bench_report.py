"""Time `carbonplan report --gpu-hours 400 --baseline aws:us-east-1 --out r/` (target: < 3 s).

    python scripts/bench_report.py [--runs 5]

Each run is a fresh interpreter writing a new report. The first run starts with empty
carbonplan and matplotlib caches (what a fresh install pays once: the catalog cache and
matplotlib's font list are built then); the others reuse them. Network access is made to fail
(proxies point at a closed local port), so the figures are offline figures. Prints each time,
and checks that every file of the report was written.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ARGS = ["report", "--gpu-hours", "400", "--baseline", "aws:us-east-1"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from recommender.reports.report import REPORT_FILES

    py = sys.executable
    script = Path(py).parent / "carbonplan"
    command = [str(script)] if script.exists() else [py, "-m", "recommender"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env |= {
            "CARBONPLAN_CACHE_DIR": str(root / "carbonplan-cache"),
            "MPLCONFIGDIR": str(root / "matplotlib-cache"),
            "HTTP_PROXY": "http://127.0.0.1:9",
            "HTTPS_PROXY": "http://127.0.0.1:9",
            "http_proxy": "http://127.0.0.1:9",
            "https_proxy": "http://127.0.0.1:9",
        }
        times = []
        for i in range(args.runs + 1):
            out = root / f"r{i}"
            start = time.perf_counter()
            subprocess.run(
                [*command, *ARGS, "--out", str(out)],
                stdout=subprocess.DEVNULL,
                check=True,
                env=env,
                cwd=root,
            )
            times.append(time.perf_counter() - start)
            missing = [name for name in REPORT_FILES if not (out / name).is_file()]
            if missing:
                print(f"run {i}: missing {', '.join(missing)}")
                return 1
    first, rest = times[0], times[1:]
    print(f"carbonplan {' '.join(ARGS)} --out r/")
    print(f"first run (empty caches, as after a fresh install): {first:.2f} s")
    if rest:
        print(
            f"later runs: median {statistics.median(rest):.2f} s "
            f"(min {min(rest):.2f}, max {max(rest):.2f}, n={len(rest)})"
        )
    print(f"all {len(REPORT_FILES)} files written each time; target < 3 s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
