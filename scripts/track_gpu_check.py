"""A real GPU measurement (not in the test run): `carbonplan track` around a short matrix
multiply must record non-zero GPU energy on a machine with an NVIDIA GPU.

    python scripts/track_gpu_check.py [--seconds 20] [--output /tmp/gpu_check.csv]

Needs nvidia-ml-py (the [track] extra) and torch or cupy for the workload. Prints the row's
GPU figures and the NVML power read directly, and exits 1 if the GPU energy is zero.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
from pathlib import Path

WORKLOAD = """
import sys, time
seconds = float(sys.argv[1])
try:
    import torch
    a = torch.randn(8192, 8192, device="cuda")
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        b = a @ a
        torch.cuda.synchronize()
except ImportError:
    import cupy
    a = cupy.random.randn(8192, 8192, dtype=cupy.float32)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        b = a @ a
        cupy.cuda.Device().synchronize()
print("steps", 1, flush=True)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    output = args.output or Path(tempfile.mkdtemp()) / "gpu_check.csv"
    command = [
        sys.executable, "-m", "recommender", "track", "--country", "US", "--interval", "0.5",
        "--output", str(output), "--", sys.executable, "-c", WORKLOAD, str(args.seconds),
    ]  # fmt: skip
    result = subprocess.run(command)
    if result.returncode != 0:
        print(f"track exited {result.returncode}", file=sys.stderr)
        return 1
    with output.open(newline="") as handle:
        row = list(csv.DictReader(handle))[-1]
    for key in ("duration", "gpu_count", "gpu_model", "gpu_energy", "gpu_power",
                "gpu_energy_source", "gpu_utilization_percent", "cpu_power_source"):  # fmt: skip
        print(f"{key}: {row[key]}")
    gpu_kwh = float(row["gpu_energy"] or 0)
    count = int(float(row["gpu_count"] or 0))
    if gpu_kwh <= 0 or count == 0:
        print("FAIL: no GPU energy measured", file=sys.stderr)
        return 1
    per_gpu_w = gpu_kwh * 3.6e6 / float(row["duration"]) / count
    print(f"OK: {gpu_kwh:.6f} kWh on {count} GPU(s), {per_gpu_w:.0f} W per GPU on average")
    return 0


if __name__ == "__main__":
    sys.exit(main())
