"""Build ``data/gcp_zones.csv``: the GCP zones where each GPU machine type / accelerator is
offered, so that ``carbonplan launch`` can try zones in order (and a dry run can show them)
without an API call.

What: one row per (region, zone, instance_type) for machine types with built-in GPUs
(a2-*, a3-*, a4-*, g2-*), and one row per (region, zone, accelerator) for GPUs attached to N1
hosts (T4, V100, P100, P4). Source: SkyPilot's GCP catalog as copied to
``shared/reference/skypilot-catalog/gcp_vms_gpu.csv`` (see its SOURCES.md; one row per zone).

Deterministic; pandas and the standard library only.

Usage: ``python scripts/build_gcp_zones.py [--reference DIR] [--out DIR]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
SOURCE = "skypilot-catalog v8 gcp/vms.csv @006059e0 (one row per zone)"
AS_OF = "2025-11-01"  # approximate, as for the prices (data/OFFERS.md)


def build(reference: Path) -> pd.DataFrame:
    raw = pd.read_csv(reference / "skypilot-catalog" / "gcp_vms_gpu.csv", dtype=str)
    raw = raw.fillna("")
    machines = raw[raw["InstanceType"] != ""].assign(accelerator="")
    accelerators = raw[raw["InstanceType"] == ""].assign(accelerator=lambda f: f["AcceleratorName"])
    frame = pd.concat([machines, accelerators], ignore_index=True)
    out = pd.DataFrame(
        {
            "region": frame["Region"],
            "zone": frame["AvailabilityZone"],
            "instance_type": frame["InstanceType"],
            "accelerator": frame["accelerator"],
            "source": SOURCE,
            "as_of": AS_OF,
        }
    )
    out = out.drop_duplicates().sort_values(["region", "zone", "instance_type", "accelerator"])
    return out.reset_index(drop=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=ROOT.parent / "shared" / "reference")
    parser.add_argument("--out", type=Path, default=ROOT / "data")
    args = parser.parse_args()
    frame = build(args.reference)
    path = args.out / "gcp_zones.csv"
    frame.to_csv(path, index=False, lineterminator="\n")
    print(f"wrote {path}: {len(frame)} rows, {frame['zone'].nunique()} zones")
    return 0


if __name__ == "__main__":
    sys.exit(main())
