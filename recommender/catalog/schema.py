"""The columns each data file must have, with their kinds and allowed ranges.

Validation happens once, when a file is read; code after that trusts the frames.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA_VERSION = 2


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "str" | "float" | "int"
    required: bool = True  # may not be empty
    low: float | None = None  # inclusive bounds for numbers
    high: float | None = None


OFFERS = (
    Column("provider", "str"),
    Column("region", "str"),
    Column("instance_type", "str"),
    Column("gpu", "str"),
    Column("gpu_count", "float", low=0.01, high=64),
    Column("vcpus", "float", low=1, high=1024),
    Column("memory_gib", "float", low=1, high=32768),
    Column("usd_per_hour", "float", low=0.01, high=1000),
    Column("spot_usd_per_hour", "float", required=False, low=0.001, high=1000),
    Column("zones", "float", required=False, low=0, high=64),
    Column("price_as_of", "str"),
    Column("price_source", "str"),
    Column("spot_source", "str", required=False),
    Column("note", "str", required=False),
)

REGIONS = (
    Column("provider", "str"),
    Column("region", "str"),
    Column("location", "str"),
    Column("country", "str"),
    Column("country_code", "str"),
    Column("subdivision", "str", required=False),
    Column("lat", "float", low=-90, high=90),
    Column("lon", "float", low=-180, high=180),
    Column("em_zone", "str", required=False),
    Column("watttime_region", "str", required=False),
    Column("gco2_per_kwh", "float", low=0, high=1500),
    Column("gco2_per_kwh_low", "float", low=0, high=1500),
    Column("gco2_per_kwh_high", "float", low=0, high=1500),
    Column("intensity_source", "str"),
    Column("intensity_year", "int", low=2000, high=2100),
    Column("intensity_basis", "str"),
    Column("intensity_method", "str"),
    Column("pue", "float", low=1.0, high=3.0),
    Column("pue_source", "str"),
    Column("pue_year", "str"),
)

GPUS = (
    Column("gpu", "str"),
    Column("aliases", "str", required=False),
    Column("vendor", "str"),
    Column("tdp_w", "float", low=10, high=2000),
    Column("memory_gb", "float", low=1, high=1024),
    Column("bf16_tflops", "float", required=False, low=0.1, high=20000),
    Column("fp32_tflops", "float", required=False, low=0.1, high=2000),
    Column("mem_bw_gbs", "float", required=False, low=10, high=50000),
    Column("rel_throughput", "float", low=0.001, high=100),
    # The factor's plausible range from the spread of its evidence (data/GPUS.md, "Ranges").
    Column("rel_throughput_low", "float", low=0.001, high=100),
    Column("rel_throughput_high", "float", low=0.001, high=100),
    Column("throughput_basis", "str"),
    Column("throughput_source", "str"),
    Column("spec_source", "str"),
)

# The other intensity bases of each region (--intensity-basis), long form.
REGION_INTENSITY = (
    Column("provider", "str"),
    Column("region", "str"),
    Column("intensity_basis", "str"),
    Column("gco2_per_kwh", "float", low=0, high=1500),
    Column("gco2_per_kwh_low", "float", low=0, high=1500),
    Column("gco2_per_kwh_high", "float", low=0, high=1500),
    Column("intensity_source", "str"),
    Column("intensity_year", "int", low=2000, high=2100),
    Column("intensity_method", "str"),
)
# Columns that --intensity-basis replaces in the regions frame.
INTENSITY_COLUMNS = tuple(c.name for c in REGION_INTENSITY[2:])

#: grid: the default, one methodology for every region (the zone's annual average, lifecycle,
#: consumption-based); provider: the cloud's own published region figure; marginal: WattTime's
#: annual marginal figure.
INTENSITY_BASES = ("grid", "provider", "marginal")
#: How a figure was made; "zone" is the default methodology, the rest mark exceptions.
INTENSITY_METHODS = (
    "zone",
    "parent-zone",
    "bidding-zone",
    "state",
    "province",
    "country",
    "provider-region",
    "marginal",
    "same-as-grid",
)
THROUGHPUT_BASES = ("measured", "estimated")
