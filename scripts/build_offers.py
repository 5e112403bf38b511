"""Build the GPU offer table (``data/offers.csv``) from the pinned public reference data.

What: one row per (provider, region, instance_type) for every GPU instance type that has an
on-demand price in the reference catalogs of AWS, GCP and Azure, with a canonical GPU name, GPU
count, host vCPUs/memory, on-demand and spot $/h and where each figure comes from. Every source
row that does not become an offer is written to ``data/offers_excluded.csv`` with a reason, and
``data/OFFERS.md`` documents the rules, counts, exclusions and price anomalies.

Why: the recommender ranks offers by carbon, cost and time, so it needs one clean, comparable,
documented price table. The raw catalogs disagree in schema (GCP prices the host VM and the GPUs
separately, AWS lists one row per AZ ID, Azure has fractional GPUs) and carry known defects (spot
placeholders equal to on-demand, capacity-reservation-only rows, a wrong GPU count, GCP prices that
do not follow the region's price level). Those are normalised, guarded and documented here, once.

Inputs (see ``<reference>/SOURCES.md``): ``skypilot-catalog/`` (AWS, GCP, Azure-US v8 catalogs,
GPU-relevant filtered copies) and ``azure-prices/azure_gpu_vm_prices_by_region.csv``.
Pure pandas, deterministic output; it does not import the ``recommender`` package.

Usage: ``python scripts/build_offers.py [--reference DIR] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent

OFFER_COLUMNS = [
    "provider",
    "region",
    "instance_type",
    "gpu",
    "gpu_count",
    "vcpus",
    "memory_gib",
    "usd_per_hour",
    "spot_usd_per_hour",
    "zones",
    "price_as_of",
    "price_source",
    "spot_source",
    "note",
]
EXCLUDED_COLUMNS = ["provider", "region", "instance_type", "gpu_name_in_source", "reason"]

# --- source pins (SOURCES.md) -------------------------------------------------------------------
AWS_SRC = "skypilot-catalog v8 aws/vms.csv @00148f2a"
GCP_SRC = "skypilot-catalog v8 gcp/vms.csv @006059e0"
SKY_AZURE_SRC = "skypilot-catalog v8 azure/vms.csv (coopslarhette fork) @20291d7e"
KARPENTER_SRC = "karpenter-provider-azure zz_generated.pricing.go @2b431da1 (generated 2026-06-18)"
RADAR_SRC = "azure-pricing-radar data/latest @cf741f25 (2026-08-22)"

# SkyPilot catalog commits are undated. The AWS file lists p6-b300.48xlarge (GA late 2025), so
# its prices cannot be older than about Nov 2025; we record that lower bound. The GCP file is
# the same v8 snapshot set and is dated the same way. SkyPilot's Azure rows match the
# 2026-06-18 karpenter prices in 173 of 190 comparable rows, so they get that date.
SKYPILOT_AS_OF = "2025-11-01"
SKYPILOT_DATE_NOTE = "date approximate: commit undated, p6-b300 listed so >= late 2025"
GCP_DATE_NOTE = "date approximate: commit undated, dated like the AWS v8 file (>= late 2025)"
SKY_AZURE_AS_OF = "2026-06-18"
SKY_AZURE_DATE_NOTE = "date approximate: undated, matches 2026-06-18 karpenter prices"

CANONICAL_GPUS = frozenset(
    {
        "K80",
        "P4",
        "P100",
        "V100",
        "V100-32GB",
        "T4",
        "A10G",
        "A10",
        "L4",
        "L40S",
        "A100",
        "A100-80GB",
        "A100-80GB-PCIE",
        "H100",
        "H100-NVL",
        "H200",
        "B200",
        "B300",
        "GB200",
        "MI300X",
        "RTX-PRO-6000",
    }
)

# GPUs that are left out on purpose: graphics/visualisation/media parts, FPGAs.
NOT_TRAINING_GPU = {
    "Radeon Pro V520": "AMD Radeon Pro V520 is a graphics/VDI GPU",
    "Radeon PRO V620": "AMD Radeon PRO V620 is a graphics/VDI GPU",
    "Radeon PRO V710": "AMD Radeon PRO V710 is a graphics/VDI GPU",
    "Radeon MI25": "AMD Radeon Instinct MI25 (NVv4) is sold as a partitioned VDI GPU",
    "M60": "NVIDIA Tesla M60 is a visualisation (GRID) GPU",
    "AMD Alveo MA35D (media accelerator)": "AMD Alveo MA35D is a video media accelerator",
    "Xilinx U250 FPGA": "Xilinx Alveo U250 is an FPGA",
}

PRICE_DECIMALS = 6
# AWS spot prices carry 4 decimals, on-demand 5: 23.6225 vs 23.62246 is the same price.
SPOT_EQUAL_TOLERANCE = 1e-4
MEMORY_DECIMALS = 2
# GCP: a region's accelerator/host price ratio below this share of the machine type's typical
# ratio (75th percentile over regions) means the GPU price does not follow the region's price level.
GCP_RATIO_FLOOR = 0.6
# AWS/Azure: note prices this far from the instance type's median over regions.
REL_LOW, REL_HIGH = 0.6, 1.6


# --- small helpers ------------------------------------------------------------------------------
def fmt_num(value: object, decimals: int) -> str:
    """Format a number without float noise; integers lose their '.0'; missing -> ''."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    rounded = round(float(value), decimals)  # type: ignore[arg-type]
    if rounded == int(rounded):
        return str(int(rounded))
    return repr(rounded)


def fraction_text(count: float) -> str:
    """0.125 -> '1/8'; used in notes about fractional GPUs."""
    return str(Fraction(count).limit_denominator(16))


def join_notes(parts: Iterable[str]) -> str:
    """Join non-empty note fragments with '; '."""
    return "; ".join(p for p in parts if p)


def groups(frame: pd.DataFrame, keys: list[str]) -> Iterator[tuple[list[str], pd.DataFrame]]:
    """groupby over `keys` in sorted order, with the key values as strings."""
    for key, grp in frame.groupby(keys, sort=True):
        yield [str(k) for k in key], grp


def excluded(provider: str, region: str, instance_type: str, gpu: str, reason: str) -> dict:
    """One row of the exclusion table."""
    return {
        "provider": provider,
        "region": region,
        "instance_type": instance_type,
        "gpu_name_in_source": gpu,
        "reason": reason,
    }


def check_spot(spot: float | None, price: float) -> tuple[float | None, str]:
    """Guard a spot price against on-demand; return (usable spot or None, note)."""
    if spot is None or pd.isna(spot):
        return None, ""
    if spot <= 0:
        return None, "spot price <= 0 in source: dropped"
    if abs(spot - price) <= SPOT_EQUAL_TOLERANCE:
        return None, "spot equals on-demand in source (placeholder): no spot price"
    if spot > price:
        return None, f"spot {fmt_num(spot, 6)} above on-demand in source: dropped"
    return float(spot), ""


def relative_price_notes(offers: pd.DataFrame) -> pd.Series:
    """Note offers whose price is far from the median of the same instance type over regions."""
    price = offers["usd_per_hour"].astype(float)
    rel = price / offers.groupby("instance_type")["usd_per_hour"].transform("median")
    notes = [
        f"price {r:.2f}x the median of this size over regions"
        if r < REL_LOW or r > REL_HIGH
        else ""
        for r in rel
    ]
    return pd.Series(notes, index=offers.index)


# --- AWS ----------------------------------------------------------------------------------------
AWS_GPU = {
    "V100": "V100",
    "V100-32GB": "V100-32GB",
    "A100": "A100",
    "A100-80GB": "A100-80GB",
    "H100": "H100",
    "H200": "H200",
    "B200": "B200",
    "B300": "B300",
    "T4": "T4",
    "T4g": "T4",
    "A10G": "A10G",
    "L4": "L4",
    "L40S": "L40S",
    "RTX PRO Server 6000": "RTX-PRO-6000",
}


def is_local_zone(az_id: str) -> bool:
    """AWS Local Zone AZ IDs carry a location part: usw2-lax1-az1, use1-atl2-az1."""
    return az_id.count("-") > 1


def build_aws(ref: Path) -> tuple[list[dict], list[dict]]:
    """AWS: aggregate the per-AZ-ID rows of both AWS files to one row per region."""
    cat = ref / "skypilot-catalog"
    rows = pd.concat(
        [
            pd.read_csv(cat / "aws_vms_gpu_p_family.csv"),
            pd.read_csv(cat / "aws_vms_gpu_g_family.csv"),
        ],
        ignore_index=True,
    )
    offers: list[dict] = []
    skipped: list[dict] = []
    for (region, itype), grp in groups(rows, ["Region", "InstanceType"]):
        src_gpu = str(grp["AcceleratorName"].iloc[0])
        if src_gpu in NOT_TRAINING_GPU:
            skipped.append(
                excluded(
                    "aws",
                    region,
                    itype,
                    src_gpu,
                    f"not a training GPU: {NOT_TRAINING_GPU[src_gpu]}",
                )
            )
            continue
        if src_gpu not in AWS_GPU:
            skipped.append(excluded("aws", region, itype, src_gpu, "no canonical GPU name"))
            continue
        prices = grp["Price"].dropna()
        if prices.empty:
            skipped.append(
                excluded(
                    "aws",
                    region,
                    itype,
                    src_gpu,
                    "no on-demand price: empty Price = capacity-reservation (Capacity Blocks) only"
                    + (
                        "; the catalog's spot prices for it are ignored"
                        if grp["SpotPrice"].notna().any()
                        else ""
                    ),
                )
            )
            continue
        if (prices <= 0).any():
            skipped.append(excluded("aws", region, itype, src_gpu, "zero price: Price <= 0"))
            continue
        offers.append(aws_offer(region, itype, grp, AWS_GPU[src_gpu]))
    return offers, skipped


def aws_offer(region: str, itype: str, grp: pd.DataFrame, gpu: str) -> dict:
    """One AWS offer from the AZ rows of one (region, instance type)."""
    notes: list[str] = []
    price = float(grp["Price"].min())
    if grp["Price"].nunique() > 1:
        notes.append("on-demand differs across AZs: min taken")
    local = grp["AvailabilityZone"].map(is_local_zone)
    regular = grp[~local]
    if local.any():
        lzs = ", ".join(sorted(grp.loc[local, "AvailabilityZone"]))
        notes.append(f"also in Local Zone {lzs} (not counted in zones or spot)")
    spots: list[float] = []
    spot_notes: set[str] = set()
    for s in regular["SpotPrice"]:
        value, why = check_spot(s, price)
        if value is not None:
            spots.append(value)
        elif why:
            spot_notes.add(why)
    spot = min(spots) if spots else None
    if spot is None:
        notes.extend(sorted(spot_notes))
    count = float(grp["AcceleratorCount"].iloc[0])
    if count < 1:
        notes.append(f"fractional GPU: {fraction_text(count)} of an {gpu}")
    if itype.startswith("g5g"):
        notes.append("arm64 (Graviton2) host; GPU is the T4G variant of the T4")
    first = grp.iloc[0]
    return {
        "provider": "aws",
        "region": region,
        "instance_type": itype,
        "gpu": gpu,
        "gpu_count": count,
        "vcpus": first["vCPUs"],
        "memory_gib": first["MemoryGiB"],
        "usd_per_hour": price,
        "spot_usd_per_hour": spot,
        "zones": len(regular),
        "price_as_of": SKYPILOT_AS_OF,
        "price_source": f"{AWS_SRC}; {SKYPILOT_DATE_NOTE}",
        "spot_source": f"{AWS_SRC} (min over the region's AZs)" if spot is not None else "",
        "note": join_notes(notes),
    }


# --- GCP ----------------------------------------------------------------------------------------
GCP_GPU = {
    "A100": "A100",
    "A100-80GB": "A100-80GB",
    "H100": "H100",
    "H100-MEGA": "H100",
    "H200": "H200",
    "B200": "B200",
    "L4": "L4",
    "T4": "T4",
    "V100": "V100",
    "P100": "P100",
    "P4": "P4",
}
G2_L4_COUNT = {4: 1, 8: 1, 16: 1, 32: 1, 24: 2, 48: 4, 96: 8}

# SkyPilot's N1 host rule (SOURCES.md): minimum host vCPUs per GPU count; 4 GiB per vCPU.
N1_MIN_CPUS = {
    "T4": {1: 4, 2: 8, 4: 48},
    "V100": {1: 8, 2: 16, 4: 32, 8: 64},
    "P100": {1: 8, 2: 16, 4: 32, 8: 64},
    "K80": {1: 4, 2: 8, 4: 16, 8: 32, 16: 64},
}
N1_DEFAULT_MIN_CPUS = {1: 8, 2: 16, 4: 32, 8: 64, 16: 128}
N1_GIB_PER_CPU = 4.0


def gcp_host_accelerator(machine_type: str) -> tuple[str, int] | None:
    """Accelerator name and count attached to a GCP accelerator-optimised machine type."""
    patterns: list[tuple[str, str, int | None]] = [
        (r"a2-highgpu-(\d+)g", "A100", None),
        (r"a2-megagpu-16g", "A100", 16),
        (r"a2-ultragpu-(\d+)g", "A100-80GB", None),
        (r"a3-highgpu-(\d+)g", "H100", None),
        (r"a3-edgegpu-8g(-nolssd)?", "H100", 8),
        (r"a3-megagpu-8g", "H100-MEGA", 8),
        (r"a3-ultragpu-8g(-nolssd)?", "H200", 8),
        (r"a4-highgpu-8g", "B200", 8),
    ]
    for pattern, acc, fixed in patterns:
        m = re.fullmatch(pattern, machine_type)
        if m:
            return acc, fixed if fixed is not None else int(m.group(1))
    m = re.fullmatch(r"g2-standard-(\d+)", machine_type)
    if m and int(m.group(1)) in G2_L4_COUNT:
        return "L4", G2_L4_COUNT[int(m.group(1))]
    return None


def n1_default_host(hosts: pd.DataFrame, acc: str, count: int) -> pd.Series | None:
    """SkyPilot's default N1 host in one zone: cheapest with enough vCPUs and memory."""
    min_cpus = N1_MIN_CPUS.get(acc, N1_DEFAULT_MIN_CPUS).get(count)
    if min_cpus is None:
        return None
    ok = hosts[(hosts["vCPUs"] >= min_cpus) & (hosts["MemoryGiB"] >= N1_GIB_PER_CPU * min_cpus)]
    if ok.empty:
        return None
    return ok.sort_values(["Price", "InstanceType"], kind="mergesort").iloc[0]


def gcp_zone_pairs(ref: Path) -> tuple[pd.DataFrame, list[dict]]:
    """Pair host VM rows with accelerator rows zone by zone (accelerator-optimised and N1)."""
    cat = ref / "skypilot-catalog"
    vms = pd.read_csv(cat / "gcp_vms_gpu.csv")
    n1 = pd.read_csv(cat / "gcp_vms_n1_hosts.csv")
    accs = vms[vms["InstanceType"].isna()].copy()
    accs["AcceleratorCount"] = accs["AcceleratorCount"].astype(int)
    hosts = vms[vms["InstanceType"].notna()].copy()
    skipped: list[dict] = []
    mapped = hosts["InstanceType"].map(gcp_host_accelerator)
    for itype in sorted(hosts.loc[mapped.isna(), "InstanceType"].unique()):
        for region in sorted(hosts.loc[hosts["InstanceType"] == itype, "Region"].unique()):
            skipped.append(
                excluded(
                    "gcp",
                    region,
                    itype,
                    "",
                    "no canonical GPU name: machine type not in the GPU map",
                )
            )
    hosts = hosts[mapped.notna()].copy()
    hosts["acc"] = mapped[mapped.notna()].map(lambda t: t[0])
    hosts["count"] = mapped[mapped.notna()].map(lambda t: t[1])
    hosts["n1"] = False
    key = ["acc", "count", "Region", "AvailabilityZone"]
    acc_rows = accs.rename(columns={"AcceleratorName": "acc", "AcceleratorCount": "count"})
    n1_accs = acc_rows[
        ~acc_rows.set_index(["acc", "count"]).index.isin(hosts.set_index(["acc", "count"]).index)
    ]
    n1_hosts = n1_default_hosts(n1_accs, n1)
    pairs = pd.concat([hosts, n1_hosts], ignore_index=True).merge(
        acc_rows[[*key, "Price", "SpotPrice"]],
        on=key,
        how="outer",
        suffixes=("", "_acc"),
        indicator=True,
    )
    return pairs, skipped


def n1_default_hosts(n1_accs: pd.DataFrame, n1: pd.DataFrame) -> pd.DataFrame:
    """For each N1-attached accelerator row, the default host row of its zone."""
    out = []
    for (acc, count_text, zone), _ in groups(n1_accs, ["acc", "count", "AvailabilityZone"]):
        count = int(float(count_text))
        host = n1_default_host(n1[n1["AvailabilityZone"] == zone], acc, count)
        if host is None:
            continue
        row = host.copy()
        row["InstanceType"] = f"{host['InstanceType']}+{acc}x{count}"
        row["acc"], row["count"], row["n1"] = acc, count, True
        out.append(row)
    return pd.DataFrame(out)


def build_gcp(ref: Path) -> tuple[list[dict], list[dict]]:
    """GCP: total = host VM row + accelerator row in the same zone, aggregated per region."""
    pairs, skipped = gcp_zone_pairs(ref)
    lone_accs = pairs[pairs["_merge"] == "right_only"]
    for (acc, count, region), _ in groups(lone_accs, ["acc", "count", "Region"]):
        host = gcp_expected_host(acc, int(float(count)))
        skipped.append(
            excluded(
                "gcp",
                region,
                host,
                f"{acc}:{count}",
                "incomplete GCP price: accelerator row has no host VM row in the same zone",
            )
        )
    lone_hosts = pairs[pairs["_merge"] == "left_only"]
    for (itype, acc, count, region), _ in groups(
        lone_hosts, ["InstanceType", "acc", "count", "Region"]
    ):
        skipped.append(
            excluded(
                "gcp",
                region,
                itype,
                f"{acc}:{count}",
                "incomplete GCP price: host VM row has no accelerator row in the same zone",
            )
        )
    both = pairs[pairs["_merge"] == "both"]
    offers: list[dict] = []
    for (region, itype), grp in groups(both, ["Region", "InstanceType"]):
        offer, reason = gcp_offer(region, itype, grp)
        if offer is None:
            skipped.append(
                excluded(
                    "gcp", region, itype, f"{grp['acc'].iloc[0]}:{grp['count'].iloc[0]}", reason
                )
            )
        else:
            offers.append(offer)
    return flag_gcp_anomalies(offers, skipped)


def gcp_expected_host(acc: str, count: int) -> str:
    """Name of the machine type an accelerator row would pair with (for exclusion rows)."""
    names = {("A100", 16): "a2-megagpu-16g", ("H100-MEGA", 8): "a3-megagpu-8g"}
    if (acc, count) in names:
        return names[(acc, count)]
    prefix = {
        "A100": "a2-highgpu",
        "A100-80GB": "a2-ultragpu",
        "H100": "a3-highgpu",
        "H200": "a3-ultragpu",
        "B200": "a4-highgpu",
    }.get(acc)
    return f"{prefix}-{count}g" if prefix else f"(accelerator row {acc}x{count})"


def gcp_offer(region: str, itype: str, grp: pd.DataFrame) -> tuple[dict | None, str]:
    """One GCP offer from the paired zone rows of one (region, machine type)."""
    total = grp["Price"] + grp["Price_acc"]
    if total.isna().any() or (total <= 0).any():
        return None, "zero price: host + accelerator on-demand total missing or <= 0"
    notes: list[str] = []
    price = float(total.min())
    if total.round(PRICE_DECIMALS).nunique() > 1:
        notes.append("on-demand differs across zones: min taken")
    spots: list[float] = []
    spot_notes: set[str] = set()
    for s, p in zip(grp["SpotPrice"] + grp["SpotPrice_acc"], total, strict=True):
        value, why = check_spot(s, p)
        if value is not None:
            spots.append(value)
        elif why:
            spot_notes.add(why)
    spot = min(spots) if spots else None
    if spot is None:
        notes.extend(sorted(spot_notes))
    acc = str(grp["acc"].iloc[0])
    first = grp.iloc[0]
    if acc == "H100-MEGA":
        notes.append("catalog GPU name H100-MEGA: H100 SXM with more network bandwidth")
    if first["n1"] is True:
        notes.append("N1 host chosen by SkyPilot's default rule; price = host + GPU rows")
    if itype == "a4-highgpu-8g":
        notes.append("host row is 0.0 in source; the B200 row carries the whole price")
    return {
        "provider": "gcp",
        "region": region,
        "instance_type": itype,
        "gpu": GCP_GPU[acc],
        "gpu_count": float(first["count"]),
        "vcpus": first["vCPUs"],
        "memory_gib": first["MemoryGiB"],
        "usd_per_hour": price,
        "spot_usd_per_hour": spot,
        "zones": len(grp),
        "price_as_of": SKYPILOT_AS_OF,
        "price_source": f"{GCP_SRC} host+GPU rows; {GCP_DATE_NOTE}",
        "spot_source": f"{GCP_SRC} host+GPU rows (min over zones)" if spot is not None else "",
        "note": join_notes(notes),
        "_ratio": float((grp["Price_acc"] / grp["Price"]).min())
        if (grp["Price"] > 0).all()
        else None,
        "_acc_price": float(grp["Price_acc"].min()),
    }, ""


def flag_gcp_anomalies(offers: list[dict], skipped: list[dict]) -> tuple[list[dict], list[dict]]:
    """Drop GCP offers whose GPU price does not follow the region's price level.

    On GCP the accelerator and the host VM are priced per region with the same regional level,
    so accelerator/host is nearly constant for a machine type. A ratio far below the machine
    type's usual ratio marks a GPU price that is flat across regions and too low to be the list
    on-demand price (these rows also show spot >= on-demand, or spot/on-demand far above the
    other regions). Those rows are excluded; types whose host is priced 0.0 cannot be checked
    and are noted instead.
    """
    frame = pd.DataFrame(offers)
    ratio = frame["_ratio"].astype(float)
    typical = ratio.groupby(frame["instance_type"]).transform(lambda s: s.quantile(0.75))
    kept: list[dict] = []
    for i, offer in enumerate(offers):
        r, ref = ratio.iloc[i], typical.iloc[i]
        if pd.notna(r) and r < GCP_RATIO_FLOOR * ref:
            skipped.append(
                excluded(
                    "gcp",
                    offer["region"],
                    offer["instance_type"],
                    offer["gpu"],
                    f"price anomaly: GPU row {fmt_num(offer['_acc_price'], 6)} $/h is "
                    f"{r:.2f}x the host price vs {ref:.2f}x typical for this machine type, "
                    f"so not the regional list on-demand price (instance on-demand "
                    f"{fmt_num(offer['usd_per_hour'], 6)}"
                    + (
                        f", spot {fmt_num(offer['spot_usd_per_hour'], 6)}"
                        if offer["spot_usd_per_hour"] is not None
                        else ""
                    )
                    + "; see OFFERS.md)",
                )
            )
            continue
        if pd.isna(r):
            offer["note"] = join_notes(
                [
                    offer["note"],
                    "unverified price level: GCP B200 is 64.44 or 90.216 $/h "
                    "with no regional pattern",
                ]
            )
        kept.append({k: v for k, v in offer.items() if not k.startswith("_")})
    return kept, skipped


# --- Azure --------------------------------------------------------------------------------------
AZURE_GPU_BY_MODEL = {
    ("A100-80GB", "A100 80GB PCIe"): "A100-80GB-PCIE",
    ("A100-80GB", "A100 80GB SXM"): "A100-80GB",
    ("A100", "A100 40GB SXM"): "A100",
    ("H100", "H100 NVL 94GB (PCIe)"): "H100-NVL",
    ("H100", "H100 SXM"): "H100",
    ("V100", "V100 16GB (NCv3)"): "V100",
    ("V100-32GB", "V100 SXM2 32GB"): "V100-32GB",
}
AZURE_GPU = {
    "H200": "H200",
    "GB200": "GB200",
    "MI300X": "MI300X",
    "T4": "T4",
    "A10": "A10",
    "K80": "K80",
    "RTX PRO 6000 BSE": "RTX-PRO-6000",
}
# Known defects in the SkyPilot Azure catalog: instance type -> correct GPU count.
AZURE_GPU_COUNT_FIXES = {"Standard_ND96isr_H100_v5": 8}

# Size facts the 52-region price file leaves blank (its MS Learn page version listed only the
# preview NC128/256/320 sizes), transcribed by hand from Microsoft's own size tables. The blog
# names the sizes `Standard_NC<n>[l]ds_xl_RTXPro6000_v6`; the price list's armSkuName for the
# same size is `Standard_NC<n>[l]ds_xl_RTXPRO6000BSE_v6`. Its memory column is headed "GB"
# (kept as GiB, as for the preview sizes). GPU share: 1/4 of a 96 GB GPU = 24 GB ("GPU Mem").
NCV6_GA_SRC = (
    "Microsoft Tech Community blog 'Azure NCv6 Virtual Machines: Enhancements and GA "
    "Transition' (2026-03-18, techcommunity.microsoft.com .../4503578, linked from MS Learn's "
    "NCv6 overview page), size tables"
)
# armSkuName -> (GPUs per VM, vCPUs, memory GB, source)
AZURE_SIZE_FACTS: dict[str, tuple[str, int, float, str]] = {
    # General Purpose
    "Standard_NC36ds_xl_RTXPRO6000BSE_v6": ("1/4", 36, 132, NCV6_GA_SRC),
    "Standard_NC72ds_xl_RTXPRO6000BSE_v6": ("1/2", 72, 264, NCV6_GA_SRC),
    "Standard_NC132ds_xl_RTXPRO6000BSE_v6": ("1", 132, 516, NCV6_GA_SRC),
    "Standard_NC144ds_xl_RTXPRO6000BSE_v6": ("1", 144, 516, NCV6_GA_SRC),
    "Standard_NC264ds_xl_RTXPRO6000BSE_v6": ("2", 264, 1032, NCV6_GA_SRC),
    "Standard_NC288ds_xl_RTXPRO6000BSE_v6": ("2", 288, 1032, NCV6_GA_SRC),
    "Standard_NC324ds_xl_RTXPRO6000BSE_v6": ("2", 324, 1284, NCV6_GA_SRC),
    # Compute Optimized
    "Standard_NC24lds_xl_RTXPRO6000BSE_v6": ("1/4", 24, 72, NCV6_GA_SRC),
    "Standard_NC36lds_xl_RTXPRO6000BSE_v6": ("1/4", 36, 72, NCV6_GA_SRC),
    "Standard_NC72lds_xl_RTXPRO6000BSE_v6": ("1/2", 72, 132, NCV6_GA_SRC),
    "Standard_NC132lds_xl_RTXPRO6000BSE_v6": ("1", 132, 264, NCV6_GA_SRC),
    "Standard_NC144lds_xl_RTXPRO6000BSE_v6": ("1", 144, 264, NCV6_GA_SRC),
    "Standard_NC264lds_xl_RTXPRO6000BSE_v6": ("2", 264, 516, NCV6_GA_SRC),
    "Standard_NC288lds_xl_RTXPRO6000BSE_v6": ("2", 288, 516, NCV6_GA_SRC),
    "Standard_NC324lds_xl_RTXPRO6000BSE_v6": ("2", 324, 648, NCV6_GA_SRC),
}

# Priced sizes whose GPU count stays unknown after reading Microsoft's size pages: why.
_NCV6_NOT_IN_GA = (
    "GPU count unknown: not in the NCv6 GA size table (Microsoft Tech Community, 2026-03-18); "
    "MS Learn's preview NC_RTXPRO6000BSE_v6 pages list {what} with no accelerator count, so the "
    "GPU share is not extrapolated from the vCPUs or from a sibling's price"
)
_NCA10V4_UNKNOWN = (
    "GPU count unknown: Microsoft Learn has no size page for NCads A10 v4 and the figures found "
    "elsewhere disagree (1/1/2 A10 per NC8/16/32ads in some tables, 1/1/1 or a partitioned A10 in "
    "others), so no count is filled in"
)
AZURE_COUNT_UNKNOWN = {
    "Standard_NC8lds_xl_RTXPRO6000BSE_v6": _NCV6_NOT_IN_GA.format(what="no 8-vCPU size at all"),
    "Standard_NC16lds_xl_RTXPRO6000BSE_v6": _NCV6_NOT_IN_GA.format(what="it (16 vCPUs, 64 GB)"),
    "Standard_NC32ds_xl_RTXPRO6000BSE_v6": _NCV6_NOT_IN_GA.format(what="it (32 vCPUs, 128 GB)"),
    "Standard_NC32lds_xl_RTXPRO6000BSE_v6": _NCV6_NOT_IN_GA.format(what="it (32 vCPUs)"),
    "Standard_NC64ds_xl_RTXPRO6000BSE_v6": _NCV6_NOT_IN_GA.format(what="it (64 vCPUs, 256 GB)"),
    "Standard_NC64lds_xl_RTXPRO6000BSE_v6": _NCV6_NOT_IN_GA.format(what="it (64 vCPUs)"),
    "Standard_NC8ads_A10_v4": _NCA10V4_UNKNOWN,
    "Standard_NC16ads_A10_v4": _NCA10V4_UNKNOWN,
    "Standard_NC32ads_A10_v4": _NCA10V4_UNKNOWN,
}


def with_size_facts(row: pd.Series) -> pd.Series:
    """Fill blank GPU count / vCPUs / memory of a price-file row from AZURE_SIZE_FACTS.

    A value the price file already has must agree with the table (else the build fails, so a
    disagreement is looked at, not silently overwritten). `spec_source` names the table's source.
    """
    facts = AZURE_SIZE_FACTS.get(row["instance_type"])
    if facts is None:
        return row
    count, vcpus, memory, source = facts
    row = row.copy()
    filled, checked = [], []
    for col, value, parse in (
        ("gpu_count", count, parse_count),
        ("vcpus", str(vcpus), float),
        ("memory_gib", fmt_num(memory, MEMORY_DECIMALS), float),
    ):
        if row[col] == "":
            row[col] = value
            filled.append(col)
        else:
            assert parse(row[col]) == parse(value), (row["instance_type"], col, row[col], value)
            checked.append(col)
    if filled:
        agree = f"; {', '.join(checked)} agree" if checked else ""
        row["spec_source"] = f"size facts ({', '.join(filled)} filled{agree}) from {source}"
    return row


def parse_count(text: str) -> float | None:
    """'8' -> 8.0, '1/6' -> 0.1666..., '' -> None."""
    text = text.strip()
    return float(Fraction(text)) if text else None


def azure_canonical_gpu(gpu: str, model: str) -> str | None:
    """Canonical GPU name for an Azure row, or None when there is none."""
    return AZURE_GPU_BY_MODEL.get((gpu, model)) or AZURE_GPU.get(gpu)


def azure_skip_reason(row: pd.Series) -> str:
    """Why an Azure row is not an offer ('' when it is one)."""
    gpu = row["gpu"]
    if gpu in NOT_TRAINING_GPU:
        return f"not a training GPU: {NOT_TRAINING_GPU[gpu]}"
    if azure_canonical_gpu(gpu, row["gpu_model"]) is None:
        return "no canonical GPU name"
    if row["instance_type"].endswith("_Promo") and gpu == "K80":
        return (
            "retired size: NC-series (K80) Promo size; Azure retired the NC series in 2023, "
            "the meter is still priced but the size is very likely not deployable"
        )
    if parse_count(row["gpu_count"]) is None:
        return AZURE_COUNT_UNKNOWN.get(
            row["instance_type"], "GPU count unknown: not given by the sources read for this size"
        )
    if row["usd_per_hour"] == "":
        return (
            "no on-demand price: karpenter value is the Windows meter, no Linux price found"
            if "Windows meter" in row["note"]
            else "no on-demand price"
        )
    if float(row["usd_per_hour"]) <= 0:
        return "zero price: on-demand <= 0"
    return ""


def azure_sources(row: pd.Series) -> tuple[str, str, str]:
    """(price_as_of, price_source, spot_source-if-any) for an Azure row."""
    od = row["ondemand_source"]
    if od.startswith("karpenter"):
        as_of, src = row["as_of"][:10], KARPENTER_SRC
    elif od == "azure-pricing-radar":
        as_of, src = row["as_of"][:10], RADAR_SRC
    else:
        as_of, src = SKY_AZURE_AS_OF, f"{SKY_AZURE_SRC}; {SKY_AZURE_DATE_NOTE}"
    spot_src = {
        "azure-pricing-radar": RADAR_SRC,
        "skypilot-catalog v8 (coopslarhette fork)": f"{SKY_AZURE_SRC}; date unknown",
    }
    return as_of, src, spot_src.get(row["spot_source"], "")


def azure_offer(row: pd.Series) -> dict:
    """One Azure offer from a row of azure_gpu_vm_prices_by_region.csv."""
    notes: list[str] = []
    gpu = azure_canonical_gpu(row["gpu"], row["gpu_model"])
    count = parse_count(row["gpu_count"])
    fixed = AZURE_GPU_COUNT_FIXES.get(row["instance_type"])
    if fixed is not None and count != fixed:
        notes.append(f"GPU count fixed {fmt_num(count, 6)} -> {fixed} (known catalog defect)")
        count = float(fixed)
    assert count is not None and gpu is not None
    if count < 1:
        notes.append(f"fractional GPU: {fraction_text(count)} of an {gpu}")
    price = float(row["usd_per_hour"])
    raw_spot = float(row["spot_usd_per_hour"]) if row["spot_usd_per_hour"] else None
    spot, why = check_spot(raw_spot, price)
    notes.append(why)
    as_of, price_src, spot_src = azure_sources(row)
    if "inferred from" in row["spec_source"]:
        notes.append("vCPU/memory/GPU specs copied from a sibling size (not verified)")
    if row["spec_source"].startswith("size facts"):
        notes.append(row["spec_source"])
    radar = row["radar_linux_ondemand_usd_per_hour"]
    if radar and abs(float(radar) - price) > SPOT_EQUAL_TOLERANCE:
        notes.append(f"radar Linux on-demand on 2026-08-20 was {radar} (price changed?)")
    if "Windows meter" in row["note"]:
        notes.append(
            "karpenter's value is a Windows price; Linux price taken from "
            + ("radar" if row["ondemand_source"] == "azure-pricing-radar" else "SkyPilot")
        )
    if row["instance_type"].startswith("Standard_NCC"):
        notes.append("confidential-computing VM")
    return {
        "provider": "azure",
        "region": row["region"],
        "instance_type": row["instance_type"],
        "gpu": gpu,
        "gpu_count": count,
        "vcpus": float(row["vcpus"]) if row["vcpus"] else None,
        "memory_gib": float(row["memory_gib"]) if row["memory_gib"] else None,
        "usd_per_hour": price,
        "spot_usd_per_hour": spot,
        "zones": None,
        "price_as_of": as_of,
        "price_source": price_src,
        "spot_source": spot_src if spot is not None else "",
        "note": join_notes(notes),
    }


def build_azure(ref: Path) -> tuple[list[dict], list[dict]]:
    """Azure: the 52-region price file is the source; SkyPilot's US file is its predecessor."""
    prices = pd.read_csv(
        ref / "azure-prices" / "azure_gpu_vm_prices_by_region.csv", dtype=str, keep_default_na=False
    )
    offers: list[dict] = []
    skipped: list[dict] = []
    for _, source_row in prices.iterrows():
        row = with_size_facts(source_row)
        reason = azure_skip_reason(row)
        if reason:
            skipped.append(
                excluded("azure", row["region"], row["instance_type"], row["gpu"], reason)
            )
        else:
            offers.append(azure_offer(row))
    skipped.extend(azure_skypilot_only(ref, prices))
    return offers, skipped


def azure_skypilot_only(ref: Path, prices: pd.DataFrame) -> list[dict]:
    """SkyPilot Azure rows that the 52-region file does not have (retired or unpriced sizes)."""
    sky = pd.read_csv(ref / "skypilot-catalog" / "azure_vms_gpu.csv")
    known = set(zip(prices["region"], prices["instance_type"], strict=True))
    out = []
    for row in sky.to_dict("records"):
        if (row["Region"], row["InstanceType"]) in known:
            continue
        gpu = "" if pd.isna(row["AcceleratorName"]) else str(row["AcceleratorName"])
        if pd.isna(row["Price"]):
            reason = "no on-demand price: empty Price in the SkyPilot Azure catalog"
        else:
            reason = (
                "retired size: SkyPilot Azure row with no meter in the 2026-06-18 Azure "
                "price list (size retired or no Linux meter)"
            )
        out.append(excluded("azure", str(row["Region"]), str(row["InstanceType"]), gpu, reason))
    return out


# --- output -------------------------------------------------------------------------------------
def finalise_offers(offers: list[dict]) -> pd.DataFrame:
    """Validate, add cross-region notes, sort and format the offer table as strings."""
    frame = pd.DataFrame(offers, columns=OFFER_COLUMNS)
    assert frame["gpu"].isin(CANONICAL_GPUS).all(), set(frame["gpu"]) - CANONICAL_GPUS
    assert (frame["usd_per_hour"] > 0).all()
    assert not frame.duplicated(["provider", "region", "instance_type"]).any()
    for provider in ("aws", "azure"):
        mask = frame["provider"] == provider
        rel = relative_price_notes(frame[mask])
        frame.loc[mask, "note"] = [
            join_notes([n, r]) for n, r in zip(frame.loc[mask, "note"], rel, strict=True)
        ]
    frame = frame.sort_values(["provider", "region", "instance_type"], kind="mergesort")
    for col in ("usd_per_hour", "spot_usd_per_hour", "gpu_count", "vcpus"):
        frame[col] = frame[col].map(lambda v: fmt_num(v, PRICE_DECIMALS))
    frame["memory_gib"] = frame["memory_gib"].map(lambda v: fmt_num(v, MEMORY_DECIMALS))
    frame["zones"] = frame["zones"].map(lambda v: fmt_num(v, 0))
    return frame.fillna("").astype(str).reset_index(drop=True)


def finalise_excluded(rows: list[dict]) -> pd.DataFrame:
    """Sort and de-duplicate the exclusion table."""
    frame = pd.DataFrame(rows, columns=EXCLUDED_COLUMNS).fillna("").astype(str)
    frame = frame.drop_duplicates().sort_values(EXCLUDED_COLUMNS, kind="mergesort")
    return frame.reset_index(drop=True)


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """UTF-8 without BOM, '\\n' line endings, no index."""
    path.write_text(frame.to_csv(index=False, lineterminator="\n"), encoding="utf-8")


def md_table(frame: pd.DataFrame) -> str:
    """A small GitHub markdown table."""
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join(lines)


def summary_tables(offers: pd.DataFrame, skipped: pd.DataFrame) -> dict[str, str]:
    """Counts per provider, GPUs per provider, exclusions by reason, anomaly lists."""
    per = (
        offers.groupby("provider")
        .agg(
            offers=("instance_type", "size"),
            regions=("region", "nunique"),
            instance_types=("instance_type", "nunique"),
            gpus=("gpu", "nunique"),
            with_spot=("spot_usd_per_hour", lambda s: int((s != "").sum())),
        )
        .reset_index()
    )
    regions = offers.groupby("provider")["region"].apply(lambda s: ", ".join(sorted(set(s))))
    gpus = offers.groupby("provider")["gpu"].apply(lambda s: ", ".join(sorted(set(s))))
    category = skipped["reason"].str.split(":").str[0]
    by_reason = (
        skipped.assign(reason=category)
        .groupby(["provider", "reason"])
        .size()
        .reset_index(name="rows")
    )
    anomalies = skipped[category == "price anomaly"]
    anom = (
        anomalies.groupby(["instance_type"])["region"]
        .apply(lambda s: ", ".join(sorted(s)))
        .reset_index()
    )
    noted = offers[offers["note"].str.contains("median of this size")]
    return {
        "per_provider": md_table(per),
        "regions": "\n".join(f"- **{p}**: {r}" for p, r in regions.items()),
        "gpus": "\n".join(f"- **{p}**: {g}" for p, g in gpus.items()),
        "all_gpus": ", ".join(sorted(set(offers["gpu"]))),
        "by_reason": md_table(by_reason),
        "anomalies": md_table(anom.rename(columns={"region": "excluded regions"})),
        "noted": md_table(noted[["provider", "region", "instance_type", "usd_per_hour", "note"]]),
    }


def write_doc(offers: pd.DataFrame, skipped: pd.DataFrame, path: Path) -> None:
    """Write data/OFFERS.md."""
    t = summary_tables(offers, skipped)
    path.write_text(
        DOC_TEMPLATE.format(
            n_offers=len(offers),
            n_skipped=len(skipped),
            n_count_unknown=int(skipped["reason"].str.startswith("GPU count unknown").sum()),
            **t,
        ),
        encoding="utf-8",
    )


DOC_TEMPLATE = """\
# GPU offers (`offers.csv`)

Generated by `scripts/build_offers.py` from `shared/reference/` (see its `SOURCES.md`). Do not
edit by hand: rerun the script. {n_offers} offers; {n_skipped} source rows (aggregated to
region level) are listed in `offers_excluded.csv` with a reason.

## Columns

| column | meaning |
|---|---|
| provider | `aws`, `gcp`, `azure` |
| region | the cloud's region id (`us-east-1`, `us-central1`, `eastus`) |
| instance_type | AWS/Azure size; GCP machine type, or `<n1 host>+<GPU>x<count>` (N1 GPUs) |
| gpu | canonical GPU name (see list below) |
| gpu_count | GPUs per instance; fractional for partitioned GPUs (0.125 = 1/8, 0.166667 = 1/6) |
| vcpus | host vCPUs |
| memory_gib | host memory, GiB (2 decimals; AWS as EC2 reports it) |
| usd_per_hour | on-demand Linux price of the whole instance, USD per hour (6 decimals) |
| spot_usd_per_hour | lowest spot price in the region, USD per hour; empty = no usable spot offer |
| zones | AWS: regular AZ IDs; GCP: zones with host and GPU rows; Azure: empty (no zone data) |
| price_as_of | ISO date of the on-demand price (see dates below) |
| price_source, spot_source | upstream file and commit (8 chars) of each price |
| note | row caveats: fractional GPU, dropped spot placeholders, anomalies, fixes |

Canonical GPU names: K80, P4, P100, V100 (16 GB), V100-32GB, T4 (incl. AWS T4G), A10G, A10,
L4, L40S, A100 (40 GB SXM), A100-80GB (SXM), A100-80GB-PCIE, H100 (SXM; incl. GCP H100-MEGA),
H100-NVL (94 GB PCIe, Azure NC/NCC H100 v5), H200, B200, B300, GB200, MI300X, RTX-PRO-6000.

## Rules as implemented

- **AWS** (`aws_vms_gpu_p_family.csv` + `aws_vms_gpu_g_family.csv`, one row per AZ ID): one offer
  per (region, instance type). On-demand is the same in every AZ of a region (checked; if not,
  the min would be taken and noted). Spot = min over the region's regular AZ IDs; Local Zone AZ
  IDs (`usw2-lax1-az1/az2`, `use1-atl2-az1`, recognised by the extra location part) are left out
  of spot and of `zones` and named in `note` (no type exists only in a Local Zone). Empty Price
  (p5e.48xlarge) = capacity-reservation only -> excluded, even where the catalog has a spot price.
  T4g (g5g, arm64) -> T4. g6f/gr6f fractional L4 kept with a note.
- **GCP** (`gcp_vms_gpu.csv`): total = host VM row + accelerator row in the same zone, on-demand
  and spot alike. Machine type -> accelerator: a2-highgpu-Ng A100xN, a2-megagpu-16g A100x16,
  a2-ultragpu-Ng A100-80GBxN, a3-highgpu-Ng H100xN, a3-edgegpu-8g(-nolssd) H100x8,
  a3-megagpu-8g H100-MEGAx8 (-> H100), a3-ultragpu-8g(-nolssd) H200x8, a4-highgpu-8g B200x8,
  g2-standard-4/8/16/32 L4x1, -24 L4x2, -48 L4x4, -96 L4x8 (g2-standard-12 is not in the copy).
  Zones of a region share the same host and GPU prices in this catalog (checked); the region
  value is the min over zones (a difference would be noted). a4-highgpu-8g host rows are 0.0 and
  the B200 row carries the price; the total is checked to be > 0.
- **GCP N1 GPUs** (T4, V100, P100, P4): host from `gcp_vms_n1_hosts.csv` by SkyPilot's default
  rule: minimum vCPUs per GPU count (T4 1/2/4 -> 4/8/48; V100 and P100 1/2/4/8 -> 8/16/32/64;
  others incl. P4 1/2/4 -> 8/16/32), memory >= 4 GiB per vCPU, cheapest on-demand host in the zone
  (ties by name). Result: T4x1 n1-highmem-4, T4x2 n1-highmem-8, T4x4 n1-standard-64,
  V100/P100/P4 x1/x2/x4 n1-highmem-8/16/32, V100x8 n1-highmem-64. instance_type is
  `<host>+<GPU>x<count>`; vcpus/memory are the host's. Other n1 sizes are a lookup table, not
  offers, and are not listed as exclusions.
- **Azure** (`azure-prices/azure_gpu_vm_prices_by_region.csv`, 52 regions): on-demand is
  karpenter's Linux retail price (2026-06-18); the NCC40ads_H100_v5 Windows-meter bug is handled
  upstream (radar Linux price in westeurope, SkyPilot in eastus2, no price in centralus and
  southcentralus -> excluded). Spot: radar (4 EU regions, 2026-08-22) or SkyPilot (9 US regions,
  undated). `skypilot-catalog/azure_vms_gpu.csv` (US only) is the predecessor: its rows present
  in the 52-region file are represented there; the 20 rows that are not (retired K80/M60 sizes,
  rows with no price) are listed as exclusions. Known defect Standard_ND96isr_H100_v5 count
  12 -> 8 is fixed by a table in the script (the 52-region file already says 8). NC A100 v4 ->
  A100-80GB-PCIE; NC/NCC H100 v5 -> H100-NVL; fractional A10 (NVads A10 v5: 1/6, 1/3, 1/2) kept.
  **Size facts the price file leaves blank** come from the `AZURE_SIZE_FACTS` table in the
  script: the 15 NCv6 (RTX PRO 6000 BSE) GA sizes NC36/72/132/144/264/288/324ds_xl and
  NC24/36/72/132/144/264/288/324lds_xl, with GPU share (1/4, 1/2, 1 or 2 of a 96 GB GPU), vCPUs
  and memory from Microsoft's NCv6 GA size tables (Tech Community blog, 2026-03-18, linked from
  MS Learn's NCv6 overview; named `..._RTXPro6000_v6` there). A value the price file already
  has must agree (vCPUs do). Each such row names that source in `note`.
- **Spot guards (all clouds)**: spot equal to on-demand = placeholder -> empty + note; spot
  above on-demand or <= 0 -> empty + note. For AWS/GCP the guard runs per AZ/zone before the
  min, and the note is written only when no usable spot is left.
- **Prices** are rounded to 6 decimals, memory to 2; rows sorted by provider, region,
  instance_type.

## Dates

- Azure on-demand: 2026-06-18 (karpenter `InitialPriceUpdate`); the westeurope NCC row 2026-08-22
  (radar). Radar spot is from 2026-08-22 (named in spot_source).
- SkyPilot catalogs have no commit dates. AWS/GCP rows use **2025-11-01 as an approximate lower
  bound**: the AWS file lists p6-b300.48xlarge (GA late 2025); the GCP file is the same v8
  snapshot set and is dated alike (its own clue, B200/a4, only proves 2025). The SkyPilot Azure
  row (NCC eastus2) gets 2026-06-18, because SkyPilot's Azure on-demand prices equal the
  2026-06-18 karpenter prices in 173 of 190 comparable rows. All are marked "date approximate".

## Counts

{per_provider}

Regions:

{regions}

GPUs per provider:

{gpus}

Distinct GPUs: {all_gpus}.

Issue 11 (fractional GPUs and missing rows): filling the published NCv6 counts took
`offers.csv` from 1876 to {n_offers} offers and `offers_excluded.csv` from 757 to {n_skipped}
rows ("GPU count unknown": 256 -> {n_count_unknown}).

## Exclusions (`offers_excluded.csv`) by reason

{by_reason}

- *not a training GPU*: AMD Radeon Pro V520/V620/V710, Radeon Instinct MI25, NVIDIA M60
  (graphics/VDI), AMD Alveo MA35D (media), Xilinx U250 (FPGA).
- *retired size*: Azure NC*_Promo (K80, NC series retired 2023) and SkyPilot-only Azure rows
  absent from the 2026 price list.
- *GPU count unknown*: the NCv6 sizes NC8lds, NC16lds, NC32(l)ds and NC64(l)ds_xl (priced, but
  in no Microsoft size table with a GPU count: the preview MS Learn pages list some of them
  without one, the GA table not at all) and NCads A10 v4 (NC8/16/32ads: no MS Learn size page;
  other tables disagree on 1/1/2 vs 1/1/1 vs a partitioned A10). Not extrapolated.
- *no on-demand price*: AWS p5e.48xlarge (capacity reservation only), Azure NCC40ads_H100_v5 in
  centralus/southcentralus, SkyPilot Azure rows with empty Price.
- *incomplete GCP price*: a host row without an accelerator row in the same zone or vice versa.
- *price anomaly*: see below.

## Price anomalies

GCP (SOURCES.md warns about H100:8 at 33.6 vs 78-102 $/h and A100:1 at 1.71 vs 2.93 $/h). On GCP
the GPU and the host VM follow the same regional price level, so GPU/host is nearly constant per
machine type (a3-highgpu: 8.28, g2: 3.82, a2-highgpu: 3.97). In some regions the GPU row is
instead one flat value everywhere (H100 4.2008 $/GPU-h, H100-MEGA 35.39149/8, H200 36.60258/8,
A100 1.70586 or 1.61365, A100-80GB ~1.85-2.08) at 0.33-0.5 of the host-scaled level. The same rows
look wrong in two more ways: the accelerator row's own spot price is above its on-demand price
(H200 in asia-south1, europe-west1, europe-west4, us-south1; A100-80GB in europe-west4 and
us-central1), and the instance's spot/on-demand ratio is 0.40-0.92 against 0.13-0.49 in the
kept regions of the same families; an A100-80GB would cost less than an A100-40GB in the same
region. They are judged not to be regional list on-demand prices and are **excluded** (rule:
GPU/host ratio < 0.6 x the 75th percentile of that machine type's ratios over regions):

{anomalies}

Kept with a note: GCP B200 (a4-highgpu-8g) is 64.44 $/h in 6 regions (asia-northeast1,
asia-southeast1, europe-north1, us-east4, us-west2, us-west3) and 90.216 $/h in 4 (europe-west4,
us-central1, us-east1, us-south1), with no regional pattern; its host row is 0.0, so the ratio
test cannot run, and which level is the list price could not be settled from this data.
GCP H200 keeps only us-central1, us-east4 and us-west1 (74.49 $/h GPU row).

AWS and Azure prices more than 1.6x or less than 0.6x the median of the same size over regions
are noted (AWS: none):

{noted}

## Provenance and licensing

The SkyPilot files are GPU-relevant filtered copies of `skypilot-org/skypilot-catalog` v8 (and
the coopslarhette fork for Azure); that repo has no LICENSE, so treat the figures as reference
data, not redistributable content. Azure prices come from karpenter-provider-azure (Apache-2.0)
and azure-pricing-radar (MIT); all are the clouds' public list prices.
"""


def main(argv: list[str] | None = None) -> None:
    """Build data/offers.csv, data/offers_excluded.csv and data/OFFERS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=REPO.parent / "shared" / "reference")
    parser.add_argument("--out", type=Path, default=REPO / "data")
    args = parser.parse_args(argv)
    offers: list[dict] = []
    skipped: list[dict] = []
    for build in (build_aws, build_gcp, build_azure):
        o, s = build(args.reference)
        offers += o
        skipped += s
    offer_frame = finalise_offers(offers)
    skipped_frame = finalise_excluded(skipped)
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(offer_frame, args.out / "offers.csv")
    write_csv(skipped_frame, args.out / "offers_excluded.csv")
    write_doc(offer_frame, skipped_frame, args.out / "OFFERS.md")
    print(f"{len(offer_frame)} offers, {len(skipped_frame)} exclusions -> {args.out}")


if __name__ == "__main__":
    main()
