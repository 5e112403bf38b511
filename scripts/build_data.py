"""Rebuild everything under data/ from the public reference files in ../shared/reference.

    python scripts/build_data.py [--reference DIR] [--out DIR]

Runs the three builders (offers, regions, GPUs) and writes data/meta.json: the schema version
the package expects and the list of upstream sources with their licences. The runtime only
reads data/; nothing here is imported by the package.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_VERSION = 2

SOURCES = [
    {
        "id": "skypilot-catalog",
        "what": "AWS and GCP GPU instance specs, on-demand and spot prices; Azure US spot prices",
        "upstream": "github.com/skypilot-org/skypilot-catalog catalogs/v8 (public list prices "
        "gathered by SkyPilot's fetchers)",
        "license": "no licence file upstream; prices are the clouds' public figures",
    },
    {
        "id": "karpenter-provider-azure",
        "what": "Azure Linux on-demand prices, 52 regions (Azure Retail Prices API, 2026-06-18)",
        "upstream": "github.com/Azure/karpenter-provider-azure pkg/providers/pricing",
        "license": "Apache-2.0",
    },
    {
        "id": "azure-pricing-radar",
        "what": "Azure EU on-demand cross-check and spot prices (2026-08-22)",
        "upstream": "github.com/andy-diericks/azure-pricing-radar",
        "license": "MIT",
    },
    {
        "id": "electricitymaps-annual",
        "what": "Default grid intensity: annual average per grid zone, lifecycle, "
        "consumption-based (Electricity Maps 2023), and WattTime annual marginal figures "
        "(--intensity-basis marginal)",
        "upstream": "Electricity Maps and WattTime as published in "
        "github.com/Green-Software-Foundation/real-time-cloud Cloud_Region_Metadata.csv",
        "license": "figures cited; the file itself is not redistributed",
    },
    {
        "id": "google-region-carbon-info",
        "what": "Google's own grid carbon intensity per GCP region (--intensity-basis provider)",
        "upstream": "github.com/GoogleCloudPlatform/region-carbon-info data/yearly",
        "license": "Apache-2.0",
    },
    {
        "id": "egrid-2023",
        "what": "US state grid intensity (eGRID2023 STC2ERTA, lbs/MWh -> g/kWh): fallback for "
        "balancing areas without a zone figure, and ranges",
        "upstream": "US EPA eGRID via github.com/mlco2/codecarbon 3.3.2",
        "license": "US government work; CodeCarbon MIT",
    },
    {
        "id": "owid-energy",
        "what": "Country grid intensity (fallback for countries without a zone figure, and "
        "ranges) and Canadian provincial generation mix",
        "upstream": "Our World in Data energy-data (Ember, Energy Institute) via CodeCarbon",
        "license": "CC BY 4.0",
    },
    {
        "id": "azure-size-specs",
        "what": "Azure GPU size facts (vCPUs, memory, GPU count or share) missing from the price "
        "files: MS Learn size pages; NCv6 RTX PRO 6000 GA sizes from Microsoft's Tech Community "
        "post 'Azure NCv6 Virtual Machines: Enhancements and GA Transition' (2026-03-18)",
        "upstream": "github.com/MicrosoftDocs/azure-compute-docs; techcommunity.microsoft.com",
        "license": "facts only",
    },
    {
        "id": "gsf-real-time-cloud",
        "what": "Cloud region -> Electricity Maps zone / WattTime region mapping, coordinates, "
        "AWS per-region PUE",
        "upstream": "github.com/Green-Software-Foundation/real-time-cloud",
        "license": "facts only (mappings); code MIT",
    },
    {
        "id": "gpu-specs-benchmarks",
        "what": "GPU specs (vendor datasheets) and relative training throughput "
        "(Lambda PyTorch benchmarks)",
        "upstream": "NVIDIA/AMD datasheets; github.com/lambdal/deeplearning-benchmark",
        "license": "figures cited; benchmark files not redistributed",
    },
    {
        "id": "ccf",
        "what": "Host power coefficients (W per vCPU, W per GB memory)",
        "upstream": "github.com/cloud-carbon-footprint/cloud-carbon-footprint",
        "license": "Apache-2.0",
    },
    {
        "id": "bloom-embodied",
        "what": "Embodied emissions per GPU-hour (BLOOM method)",
        "upstream": "Luccioni et al., Estimating the Carbon Footprint of BLOOM, JMLR 24(253) 2023",
        "license": "figures cited",
    },
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=ROOT.parent / "shared" / "reference")
    parser.add_argument("--out", type=Path, default=ROOT / "data")
    parser.add_argument(
        "--built",
        default=dt.date.today().isoformat(),
        help="date to record as the build date (YYYY-MM-DD)",
    )
    args = parser.parse_args()
    for script in ("build_gpus.py", "build_regions.py", "build_offers.py", "build_gcp_zones.py"):
        cmd = [
            sys.executable,
            str(ROOT / "scripts" / script),
            "--reference",
            str(args.reference),
            "--out",
            str(args.out),
        ]
        print("+", " ".join(cmd[1:]), flush=True)
        subprocess.run(cmd, check=True)
    meta = {"schema_version": SCHEMA_VERSION, "built": args.built, "sources": SOURCES}
    (args.out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out / 'meta.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
