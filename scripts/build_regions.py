"""Build ``data/regions.csv`` and ``data/REGIONS.md``: one row per cloud region with a GPU offer.

What: for every AWS, GCP and Azure region that appears in the GPU price catalogs under
``shared/reference`` this script records where the region is (city, country, ISO codes,
coordinates), which grid zone it draws from (Electricity Maps zone id, WattTime region), an
annual location-based grid carbon intensity (gCO2e/kWh) with its provenance, a cross-check
figure, and the data-centre PUE.

Why: the planner ranks offers by operational carbon = energy x PUE x grid intensity, so each
region needs one defensible intensity and PUE with an explicit source, and the live grid APIs
need the zone ids. The intensity is chosen by a fixed tier rule (provider-region >
subnational > country, never a world average) so the numbers are comparable and auditable.

The script is deterministic and uses only pandas and the standard library. City, country and
coordinate facts that the reference files lack (or get wrong) come from the ``_REGIONS`` table
below, which was written by hand from the providers' public region/geography pages.

Usage: ``python scripts/build_regions.py [--reference DIR] [--out DIR]``
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DEFAULT_REFERENCE = REPO.parent / "shared" / "reference"
DEFAULT_OUT = REPO / "data"

COLUMNS = [
    "provider",
    "region",
    "location",
    "country",
    "country_code",
    "subdivision",
    "lat",
    "lon",
    "em_zone",
    "watttime_region",
    "gco2_per_kwh",
    "gco2_per_kwh_low",
    "gco2_per_kwh_high",
    "intensity_source",
    "intensity_year",
    "intensity_basis",
    "intensity_method",
    "pue",
    "pue_source",
    "pue_year",
]
# data/region_intensity.csv: the other bases (--intensity-basis provider|marginal), long form.
BASIS_COLUMNS = [
    "provider",
    "region",
    "intensity_basis",
    "gco2_per_kwh",
    "gco2_per_kwh_low",
    "gco2_per_kwh_high",
    "intensity_source",
    "intensity_year",
    "intensity_method",
]

LBS_PER_MWH_TO_G_PER_KWH = 0.45359237
# A sourced coordinate further than this from the hand-written city point is treated as a defect.
MAX_COORD_DISAGREEMENT_KM = 150.0
# Provider fleet PUE (pue/cloud_provider_pue.csv): provider -> (pue, year, source label).
FLEET_PUE: dict[str, tuple[float, int, str]] = {
    "aws": (1.15, 2024, "AWS fleet average 2024 (AWS Sustainable Infrastructure page)"),
    "gcp": (1.10, 2023, "Google fleet average ~1.10 (Google via DCD Dec 2024; CNBC: 1.10 Q2 2021)"),
    "azure": (1.18, 2024, "Microsoft global fleet average 1.18 (Microsoft via DCD Dec 2024)"),
}
PROVIDER_NAMES = {
    "aws": "Amazon Web Services",
    "gcp": "Google Cloud",
    "azure": "Microsoft Azure",
}

# ISO 3166-1 alpha-2 -> (English name, alpha-3 used as the OWID key).
COUNTRIES: dict[str, tuple[str, str]] = {
    "AE": ("United Arab Emirates", "ARE"),
    "AU": ("Australia", "AUS"),
    "BE": ("Belgium", "BEL"),
    "BH": ("Bahrain", "BHR"),
    "BR": ("Brazil", "BRA"),
    "CA": ("Canada", "CAN"),
    "CH": ("Switzerland", "CHE"),
    "CL": ("Chile", "CHL"),
    "DE": ("Germany", "DEU"),
    "ES": ("Spain", "ESP"),
    "FI": ("Finland", "FIN"),
    "FR": ("France", "FRA"),
    "GB": ("United Kingdom", "GBR"),
    "HK": ("Hong Kong", "HKG"),
    "ID": ("Indonesia", "IDN"),
    "IE": ("Ireland", "IRL"),
    "IL": ("Israel", "ISR"),
    "IN": ("India", "IND"),
    "IT": ("Italy", "ITA"),
    "JP": ("Japan", "JPN"),
    "KR": ("South Korea", "KOR"),
    "MX": ("Mexico", "MEX"),
    "MY": ("Malaysia", "MYS"),
    "NL": ("Netherlands", "NLD"),
    "NO": ("Norway", "NOR"),
    "PL": ("Poland", "POL"),
    "QA": ("Qatar", "QAT"),
    "SA": ("Saudi Arabia", "SAU"),
    "SE": ("Sweden", "SWE"),
    "SG": ("Singapore", "SGP"),
    "TW": ("Taiwan", "TWN"),
    "US": ("United States", "USA"),
    "ZA": ("South Africa", "ZAF"),
}
US_STATES = {
    "US-AZ": "arizona",
    "US-CA": "california",
    "US-IA": "iowa",
    "US-IL": "illinois",
    "US-NV": "nevada",
    "US-OH": "ohio",
    "US-OR": "oregon",
    "US-SC": "south carolina",
    "US-TX": "texas",
    "US-UT": "utah",
    "US-VA": "virginia",
    "US-WA": "washington",
    "US-WY": "wyoming",
}
CA_PROVINCES = {"CA-QC": "quebec", "CA-ON": "ontario"}
# Nordic bidding zone (codecarbon/nordic_emissions.json key) per region, by site location.
NORDIC_ZONE = {
    ("aws", "eu-north-1"): "SE3",  # Stockholm
    ("azure", "swedencentral"): "SE3",  # Gävle / Sandviken
    ("azure", "norwayeast"): "NO1",  # Oslo
    ("azure", "norwaywest"): "NO2",  # Stavanger
}
# canada_energy_mix key -> carbon_intensity_per_source key (every generation source weighted).
CANADA_SOURCE_FACTOR = {
    "coal": "coal",
    "petroleum": "petroleum",
    "naturalGas": "natural_gas",
    "nuclear": "nuclear",
    "hydro": "hydroelectricity",
    "wind": "wind",
    "solar": "solar",
    "biomass": "biomass",
    "tidal": "hydroelectricity",  # no tidal factor upstream; hydro (26) is the closest
    "other": "fossil",  # unspecified; EPA average fossil (635) as a conservative choice
}

# Hand-written facts: provider|region|location|country_code|subdivision|lat|lon|em|wt.
# lat/lon are the city the provider names for the region (used as the fallback coordinate and
# to sanity-check the sourced ones). em/wt are only used when Cloud_Region_Metadata has no
# mapping for the region (or its mapping is rejected, see _MAPPING_OVERRIDES); they were picked
# by location.
_REGIONS = """
aws|af-south-1|Cape Town|ZA||-33.92|18.42||
aws|ap-east-1|Hong Kong|HK||22.32|114.17||
aws|ap-northeast-1|Tokyo|JP|JP-13|35.68|139.69||
aws|ap-northeast-2|Seoul|KR||37.57|126.98||
aws|ap-northeast-3|Osaka|JP|JP-27|34.69|135.50||
aws|ap-south-1|Mumbai|IN|IN-MH|19.08|72.88||
aws|ap-southeast-1|Singapore|SG||1.35|103.82||
aws|ap-southeast-2|Sydney|AU|AU-NSW|-33.87|151.21||
aws|ap-southeast-3|Jakarta|ID||-6.21|106.85||
aws|ca-central-1|Montreal|CA|CA-QC|45.50|-73.57||
aws|eu-central-1|Frankfurt|DE||50.11|8.68||
aws|eu-north-1|Stockholm|SE||59.33|18.07||
aws|eu-south-1|Milan|IT||45.46|9.19||
aws|eu-south-2|Aragon|ES||41.65|-0.88||
aws|eu-west-1|Dublin|IE||53.35|-6.26||
aws|eu-west-2|London|GB||51.51|-0.13||
aws|eu-west-3|Paris|FR||48.86|2.35||
aws|me-central-1|United Arab Emirates|AE||25.20|55.27||
aws|me-south-1|Bahrain|BH||26.22|50.54||
aws|us-east-1|Northern Virginia|US|US-VA|39.04|-77.49||
aws|us-east-2|Ohio|US|US-OH|39.96|-83.00||
aws|us-west-1|Northern California|US|US-CA|37.35|-121.96||
aws|us-west-2|Oregon|US|US-OR|45.84|-119.70||
gcp|asia-east1|Changhua County|TW||24.05|120.52||
gcp|asia-east2|Hong Kong|HK||22.32|114.17||
gcp|asia-northeast1|Tokyo|JP|JP-13|35.68|139.69||
gcp|asia-northeast3|Seoul|KR||37.57|126.98||
gcp|asia-south1|Mumbai|IN|IN-MH|19.08|72.88||
gcp|asia-south2|Delhi|IN|IN-DL|28.70|77.10||
gcp|asia-southeast1|Singapore|SG||1.35|103.82||
gcp|asia-southeast2|Jakarta|ID||-6.21|106.85||
gcp|australia-southeast1|Sydney|AU|AU-NSW|-33.87|151.21||
gcp|europe-central2|Warsaw|PL||52.23|21.01||
gcp|europe-north1|Hamina|FI||60.57|27.19||
gcp|europe-west1|St. Ghislain|BE||50.47|3.82||
gcp|europe-west2|London|GB||51.51|-0.13||
gcp|europe-west3|Frankfurt|DE||50.11|8.68||
gcp|europe-west4|Eemshaven|NL||53.44|6.83||
gcp|europe-west6|Zurich|CH||47.38|8.54||
gcp|europe-west8|Milan|IT||45.46|9.19||
gcp|europe-west9|Paris|FR||48.86|2.35||
gcp|me-central2|Dammam|SA||26.42|50.09||
gcp|me-west1|Tel Aviv|IL||32.08|34.78||
gcp|northamerica-northeast1|Montreal|CA|CA-QC|45.50|-73.57||
gcp|northamerica-northeast2|Toronto|CA|CA-ON|43.65|-79.38||
gcp|southamerica-east1|Sao Paulo|BR|BR-SP|-23.55|-46.63||
gcp|us-central1|Council Bluffs|US|US-IA|41.26|-95.86||
gcp|us-east1|Moncks Corner|US|US-SC|33.20|-80.01||
gcp|us-east4|Ashburn|US|US-VA|39.04|-77.49||
gcp|us-east5|Columbus|US|US-OH|39.96|-83.00||
gcp|us-south1|Dallas|US|US-TX|32.78|-96.80||
gcp|us-west1|The Dalles|US|US-OR|45.60|-121.18||
gcp|us-west2|Los Angeles|US|US-CA|34.05|-118.24||
gcp|us-west3|Salt Lake City|US|US-UT|40.76|-111.89||
gcp|us-west4|Las Vegas|US|US-NV|36.17|-115.14||
azure|australiacentral|Canberra|AU|AU-ACT|-35.31|149.12|AU-NSW|NEM_NSW
azure|australiacentral2|Canberra|AU|AU-ACT|-35.31|149.12|AU-NSW|NEM_NSW
azure|australiaeast|Sydney|AU|AU-NSW|-33.87|151.21||
azure|australiasoutheast|Melbourne|AU|AU-VIC|-37.81|144.96||
azure|brazilsouth|Sao Paulo|BR|BR-SP|-23.55|-46.63||
azure|canadacentral|Toronto|CA|CA-ON|43.65|-79.38|CA-ON|IESO_NORTH
azure|canadaeast|Quebec City|CA|CA-QC|46.81|-71.21|CA-QC|HQ
azure|centralindia|Pune|IN|IN-MH|18.52|73.86|IN-WE|IND
azure|centralus|Iowa|US|US-IA|41.59|-93.62||
azure|chilecentral|Santiago|CL||-33.45|-70.67|CL-SEN|CHL
azure|eastasia|Hong Kong|HK||22.32|114.17|HK|HKG
azure|eastus|Virginia|US|US-VA|37.37|-79.82||
azure|eastus2|Virginia|US|US-VA|36.67|-78.39||
azure|francecentral|Paris|FR||48.86|2.35|FR|FR
azure|francesouth|Marseille|FR||43.30|5.37|FR|FR
azure|germanynorth|Berlin|DE||52.52|13.40|DE|DE
azure|germanywestcentral|Frankfurt|DE||50.11|8.68|DE|DE
azure|indonesiacentral|Jakarta|ID||-6.21|106.85|ID|IDN
azure|israelcentral|Israel|IL||32.08|34.78|IL|ISR
azure|italynorth|Milan|IT||45.46|9.19||
azure|japaneast|Tokyo|JP|JP-13|35.68|139.69|JP-TK|JP_TK
azure|japanwest|Osaka|JP|JP-27|34.69|135.50|JP-KN|JP_KN
azure|jioindiacentral|Nagpur|IN|IN-MH|21.15|79.09|IN-WE|IND
azure|jioindiawest|Jamnagar|IN|IN-GJ|22.47|70.06|IN-WE|IND
azure|koreacentral|Seoul|KR||37.57|126.98|KR|KOR
azure|koreasouth|Busan|KR||35.18|129.08|KR|KOR
azure|malaysiawest|Kuala Lumpur|MY||3.14|101.69|MY-WM|
azure|mexicocentral|Queretaro|MX||20.59|-100.39||
azure|northcentralus|Chicago|US|US-IL|41.88|-87.63||
azure|northeurope|Dublin|IE||53.35|-6.26||
azure|norwayeast|Oslo|NO||59.91|10.75|NO-NO1|
azure|norwaywest|Stavanger|NO||58.97|5.73|NO-NO2|
azure|polandcentral|Warsaw|PL||52.23|21.01||
azure|qatarcentral|Doha|QA||25.29|51.53|QA|QAT
azure|southafricanorth|Johannesburg|ZA||-26.20|28.05|ZA|ZAF
azure|southafricawest|Cape Town|ZA||-33.92|18.42|ZA|ZAF
azure|southcentralus|San Antonio|US|US-TX|29.42|-98.49||
azure|southeastasia|Singapore|SG||1.35|103.82||
azure|southindia|Chennai|IN|IN-TN|13.08|80.27|IN-SO|IND
azure|spaincentral|Madrid|ES||40.42|-3.70||
azure|swedencentral|Gavle|SE||60.67|17.14||
azure|switzerlandnorth|Zurich|CH||47.38|8.54|CH|CH
azure|switzerlandwest|Geneva|CH||46.20|6.14|CH|CH
azure|uaecentral|Abu Dhabi|AE||24.47|54.37|AE|ARE
azure|uaenorth|Dubai|AE||25.20|55.27|AE|ARE
azure|uksouth|London|GB||51.51|-0.13|GB|UK
azure|ukwest|Cardiff|GB||51.48|-3.18|GB|UK
azure|westcentralus|Wyoming|US|US-WY|41.14|-104.82|US-NW-WACM|WACM
azure|westeurope|Amsterdam|NL||52.37|4.90||
azure|westus|California|US|US-CA|37.37|-121.92|US-CAL-CISO|CAISO_NORTH
azure|westus2|Washington|US|US-WA|47.23|-119.85|US-NW-BPAT|BPA
azure|westus3|Phoenix|US|US-AZ|33.45|-112.07|US-SW-AZPS|AZPS
"""
# Cloud_Region_Metadata rows that are rejected, with the reason (listed in REGIONS.md).
_METADATA_REJECT = {
    ("azure", "westus"): "its only row is labelled 'Washington: West US' with Quincy, WA "
    "coordinates and the BPA zone, but Azure West US is in California; the row describes a "
    "Washington site (West US 2), so none of its fields are used for westus",
}
# Zone corrections applied on top of Cloud_Region_Metadata:
# key -> (em zone, WattTime region or None to keep the metadata's, reason).
_ZONE_REFINE: dict[tuple[str, str], tuple[str, str | None, str]] = {
    ("aws", "eu-north-1"): (
        "SE-SE3",
        None,
        "metadata gives the country aggregate SE; "
        "Stockholm is in bidding zone SE3, the zone the intensity tier uses",
    ),
    ("azure", "swedencentral"): (
        "SE-SE3",
        None,
        "metadata gives the country aggregate SE; Gävle and Sandviken are in bidding zone SE3",
    ),
    ("azure", "westcentralus"): (
        "US-NW-WACM",
        None,
        "only the estimate file has a zone "
        "(US-NW-PACE), which contradicts the main file's WattTime "
        "region WACM; Cheyenne, WY is in the WACM balancing area",
    ),
    ("azure", "northcentralus"): (
        "US-MIDA-PJM",
        "PJM_CHICAGO",
        "metadata maps Chicago to MISO "
        "(US-MIDW-MISO / MISO_SPRINGFIELD), but the Chicago area "
        "(ComEd) is in PJM; the WattTime id PJM_CHICAGO is from "
        "knowledge and does not appear in the reference files",
    ),
}
# Location text for the rows whose hand-written location isn't ASCII-safe above.
_LOCATION_UNICODE = {
    "Sao Paulo": "São Paulo",
    "Gavle": "Gävle",
    "Queretaro": "Querétaro",
}


@dataclass
class RegionFacts:
    provider: str
    region: str
    location: str
    country_code: str
    subdivision: str
    lat: float
    lon: float
    em_fallback: str
    wt_fallback: str


def parse_region_table() -> dict[tuple[str, str], RegionFacts]:
    facts: dict[tuple[str, str], RegionFacts] = {}
    for line in _REGIONS.strip().splitlines():
        prov, reg, loc, cc, sub, lat, lon, em, wt = line.split("|")
        key = (prov, reg)
        if key in facts:
            raise SystemExit(f"duplicate hand-table row {key}")
        if cc not in COUNTRIES:
            raise SystemExit(f"{key}: unknown country code {cc}")
        facts[key] = RegionFacts(
            prov, reg, _LOCATION_UNICODE.get(loc, loc), cc, sub, float(lat), float(lon), em, wt
        )
    return facts


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


# ---------------------------------------------------------------- region set from the catalogs
def catalog_regions(ref: Path) -> list[tuple[str, str]]:
    sky = ref / "skypilot-catalog"
    aws = set(pd.read_csv(sky / "aws_vms_gpu_p_family.csv")["Region"])
    aws |= set(pd.read_csv(sky / "aws_vms_gpu_g_family.csv")["Region"])
    gcp_gpu = pd.read_csv(sky / "gcp_vms_gpu.csv")
    gcp = set(gcp_gpu["Region"])
    n1_accels = {"T4", "V100", "P100", "P4"}
    n1_gpu_regions = set(gcp_gpu.loc[gcp_gpu["AcceleratorName"].isin(n1_accels), "Region"])
    n1_hosts = set(pd.read_csv(sky / "gcp_vms_n1_hosts.csv")["Region"])
    gcp |= n1_hosts & n1_gpu_regions
    azure = set(pd.read_csv(ref / "azure-prices" / "azure_gpu_vm_prices_by_region.csv")["region"])
    out = [("aws", r) for r in aws] + [("gcp", r) for r in gcp] + [("azure", r) for r in azure]
    return sorted(out)


# ------------------------------------------------------------------ Cloud_Region_Metadata facts
def load_metadata(ref: Path, facts: dict[tuple[str, str], RegionFacts]) -> pd.DataFrame:
    """Latest-year metadata row per (provider, region); the estimate file is the second choice.

    Azure northeurope has two rows per year (Ireland and Finland); the one whose location
    matches the region's country is kept.
    """
    inv = {v: k for k, v in PROVIDER_NAMES.items()}
    frames = []
    for name, rank in (("Cloud_Region_Metadata.csv", 0), ("Cloud_Region_Metadata_estimate.csv", 1)):
        df = pd.read_csv(ref / "cloud-region-metadata" / name, encoding="utf-8-sig")
        df["provider"] = df["cloud-provider"].map(inv)
        df["file_rank"] = rank
        frames.append(df[df["provider"].notna()])
    meta = pd.concat(frames, ignore_index=True)
    meta = meta.rename(columns={"cloud-region": "region"})
    keep = []
    for idx, row in meta.iterrows():
        f = facts.get((row["provider"], row["region"]))
        if f is None:
            continue
        if (row["provider"], row["region"]) == ("azure", "northeurope") and str(
            row["cfe-region"]
        ) != COUNTRIES[f.country_code][0]:
            continue
        keep.append(idx)
    return meta.loc[keep]


def latest_value(
    meta: pd.DataFrame,
    key: tuple[str, str],
    col: str,
) -> tuple[object | None, int | None]:
    """Latest non-empty value of col for key: main file first, then the estimate file."""
    sub = meta[(meta["provider"] == key[0]) & (meta["region"] == key[1])]
    sub = sub[sub[col].notna() & (sub[col].astype(str).str.strip() != "")]
    if sub.empty:
        return None, None
    sub = sub.sort_values(["file_rank", "year"], ascending=[True, False])
    row = sub.iloc[0]
    return row[col], int(row["year"])


# -------------------------------------------------------------------------- intensity sources
def load_gcp_yearly(ref: Path) -> dict[int, dict[str, float]]:
    out: dict[int, dict[str, float]] = {}
    for path in sorted((ref / "gcp-region-carbon").glob("20*.csv")):
        df = pd.read_csv(path, encoding="utf-8-sig")
        col = next(c for c in df.columns if "grid carbon intensity" in c.lower())
        out[int(path.stem)] = dict(
            zip(df["Google Cloud Region"], df[col].astype(float), strict=True)
        )
    return out


def canada_intensity(mix: dict[str, float], factors: dict[str, float]) -> float:
    """Generation-weighted intensity over every source: sum(share_i * factor_i) / sum(share_i)."""
    shares = {k: float(v) for k, v in mix.items() if k != "total"}
    unknown = set(shares) - set(CANADA_SOURCE_FACTOR)
    if unknown:
        raise SystemExit(f"canada_energy_mix has unmapped sources: {sorted(unknown)}")
    total = sum(shares.values())
    return sum(s * float(factors[CANADA_SOURCE_FACTOR[k]]) for k, s in shares.items()) / total


@dataclass
class Intensity:
    value: float
    source: str
    year: int
    method: str
    low: float | None = None
    high: float | None = None


# How far back the year-to-year spread (the low/high range) looks, in years before the figure's.
SPREAD_YEARS = 2
# A fallback figure (another methodology than the default) gets at least this relative range.
FALLBACK_SPREAD = 0.20
EM_COLUMN = "grid-carbon-intensity-average-consumption-annual"
MARGINAL_COLUMN = "grid-carbon-intensity-marginal-consumption-annual"


def yearly_by_key(ref: Path, key_col: str, value_col: str) -> dict[str, dict[int, float]]:
    """{key: {year: value}} from GSF Cloud_Region_Metadata.csv, one figure per key and year.

    Two defects are guarded against (shared/reference/SOURCES.md, DESIGN.md "Data"):
    - the 2024 Google Cloud rows hold Google's own region figure in the Electricity Maps
      column, so they are never read as a zone figure;
    - the 2024 AWS rows repeat the 2023 figures unchanged (Electricity Maps' annual figures lag
      a year): a 2024 value equal to the 2023 one is a carry-over, not a 2024 figure. (Some
      zones, e.g. HK, ID and BH, have one unchanged estimate every year; those stay as
      published.)
    Two different values for one key and year stop the build.
    """
    df = pd.read_csv(
        ref / "cloud-region-metadata" / "Cloud_Region_Metadata.csv", encoding="utf-8-sig"
    )
    df = df[df[key_col].notna() & df[value_col].notna()]
    if value_col == EM_COLUMN:
        df = df[~((df["cloud-provider"] == PROVIDER_NAMES["gcp"]) & (df["year"] >= 2024))]
    out: dict[str, dict[int, float]] = {}
    for (key, year), values in df.groupby([key_col, "year"])[value_col]:
        distinct = sorted({round(float(v), 2) for v in values})
        if len(distinct) != 1:
            raise SystemExit(f"{value_col}: {key} {year} has several values {distinct}")
        out.setdefault(str(key), {})[int(str(year))] = distinct[0]
    for years in out.values():
        if 2024 in years and years.get(2023) == years[2024]:
            del years[2024]
    return out


def latest_with_spread(years: dict[int, float]) -> tuple[float, int, float, float]:
    """(latest value, its year, low, high) with low/high over the last SPREAD_YEARS + 1 years."""
    year = max(years)
    recent = [v for y, v in years.items() if y >= year - SPREAD_YEARS]
    return years[year], year, min(recent), max(recent)


class IntensityResolver:
    """One methodology for every region (DESIGN.md "Data"): the annual average, location-based,
    consumption-based, lifecycle intensity of the region's grid zone (Electricity Maps), the same
    figure for every region on one zone. Zones without such a figure take the closest
    equivalent, marked in ``intensity_method``."""

    def __init__(self, ref: Path) -> None:
        cc = ref / "codecarbon"
        self.gcp = load_gcp_yearly(ref)
        self.zones = yearly_by_key(ref, "em-zone-id", EM_COLUMN)
        self.marginal = yearly_by_key(ref, "wt-region-id", MARGINAL_COLUMN)
        self.usa = json.loads((cc / "usa_emissions_2023.json").read_text(encoding="utf-8-sig"))
        self.canada = json.loads(
            (cc / "canada_energy_mix_2023.json").read_text(encoding="utf-8-sig")
        )
        self.factors = json.loads(
            (cc / "carbon_intensity_per_source.json").read_text(encoding="utf-8-sig")
        )
        self.nordic = json.loads((cc / "nordic_emissions.json").read_text(encoding="utf-8-sig"))[
            "data"
        ]
        self.owid = json.loads((cc / "global_energy_mix.json").read_text(encoding="utf-8-sig"))
        egrid = self.usa["_source"]
        if int(egrid["year"]) != 2023 or egrid["field"] != "STC2ERTA":
            raise SystemExit(f"unexpected eGRID vintage: {egrid}")

    def zone_figure(self, zone: str, method: str) -> Intensity | None:
        years = self.zones.get(zone)
        if not years:
            return None
        value, year, low, high = latest_with_spread(years)
        return Intensity(
            value,
            f"Electricity Maps {year} annual average, zone {zone} (lifecycle, consumption-based) "
            "via GSF Cloud_Region_Metadata",
            year,
            method,
            low,
            high,
        )

    def grid(self, f: RegionFacts, em_zone: str) -> Intensity:
        """The default (``grid``) figure: the zone's, else its parent zone's, else the closest
        equivalent for the place, with a range over every figure there is for it."""
        exact = self.zone_figure(em_zone, "zone")
        if exact is not None:
            return exact
        parent = self.zone_figure(em_zone.split("-")[0], "parent-zone")
        if parent is not None and parent.year >= 2023:
            parent.source = parent.source.replace("zone ", f"zone {em_zone} not published; ", 1)
            return self._widened(parent, self.fallbacks(f))
        candidates = self.fallbacks(f)
        if not candidates:
            raise SystemExit(
                f"{f.provider}:{f.region}: no intensity for zone {em_zone} nor any fallback; "
                "refusing to fall back to a world average"
            )
        return self._widened(candidates[0], candidates[1:])

    @staticmethod
    def _widened(chosen: Intensity, others: list[Intensity]) -> Intensity:
        """A fallback's range: every other figure for the place, and at least +-FALLBACK_SPREAD
        (its methodology differs from the default's)."""
        values = [chosen.value, *(o.value for o in others)]
        chosen.low = min(*values, chosen.value * (1 - FALLBACK_SPREAD))
        chosen.high = max(*values, chosen.value * (1 + FALLBACK_SPREAD))
        return chosen

    def fallbacks(self, f: RegionFacts) -> list[Intensity]:
        """Figures of other methodologies for the region's place, closest first."""
        out: list[Intensity] = []
        key = (f.provider, f.region)
        if key in NORDIC_ZONE:
            zone = NORDIC_ZONE[key]
            rec = self.nordic[zone]
            out.append(
                Intensity(
                    float(rec["emission_factor"]),
                    f"ENTSO-E {rec['year']} generation, bidding zone {zone} x CodeCarbon "
                    "per-source factors (production-based) via CodeCarbon 3.3.2",
                    int(rec["year"]),
                    "bidding-zone",
                )
            )
        if f.subdivision in US_STATES:
            state = US_STATES[f.subdivision]
            lbs = float(self.usa[state]["emissions"])
            out.append(
                Intensity(
                    lbs * LBS_PER_MWH_TO_G_PER_KWH,
                    f"EPA eGRID2023 state output rate STC2ERTA ({state.title()}; direct, "
                    "production-based) via CodeCarbon 3.3.2",
                    2023,
                    "state",
                )
            )
        if f.subdivision in CA_PROVINCES:
            prov = CA_PROVINCES[f.subdivision]
            out.append(
                Intensity(
                    canada_intensity(self.canada[prov], self.factors),
                    f"CodeCarbon 3.3.2 canada_energy_mix 2023 ({prov.title()}) x per-source "
                    "factors",
                    2023,
                    "province",
                )
            )
        rec = self.owid.get(COUNTRIES[f.country_code][1])
        if rec is not None and rec.get("carbon_intensity") not in (None, ""):
            year = int(rec["year"])
            out.append(
                Intensity(
                    float(rec["carbon_intensity"]),
                    f"Our World in Data (Ember, Energy Institute) {year} country average "
                    "(lifecycle, production-based) via CodeCarbon",
                    year,
                    "country",
                )
            )
        return out

    def provider(self, f: RegionFacts, grid: Intensity) -> Intensity:
        """The ``provider`` basis: the cloud's own published region figure (Google's file for
        GCP); elsewhere none is published, so the grid figure, marked ``same-as-grid``."""
        if f.provider == "gcp":
            years = {y: v[f.region] for y, v in self.gcp.items() if f.region in v}
            if years:
                value, year, low, high = latest_with_spread(years)
                return Intensity(
                    value,
                    f"Google Cloud region-carbon-info {year} (Google's location-based figure, "
                    "Apache-2.0)",
                    year,
                    "provider-region",
                    low,
                    high,
                )
        return replace(grid, method="same-as-grid")

    def marginal_figure(self, wt_region: str, grid: Intensity) -> Intensity:
        """The ``marginal`` basis: WattTime's annual marginal figure for the region's WattTime
        region; where none is shipped, the grid figure, marked ``same-as-grid``."""
        years = self.marginal.get(wt_region) if wt_region else None
        if years:
            value, year, low, high = latest_with_spread(years)
            return Intensity(
                value,
                f"WattTime {year} annual marginal (MOER), region {wt_region} via GSF "
                "Cloud_Region_Metadata",
                year,
                "marginal",
                low,
                high,
            )
        return replace(grid, method="same-as-grid")


# ------------------------------------------------------------------------------- coordinates
def coordinate_sources(ref: Path) -> dict[str, dict[str, tuple[float, float]]]:
    picker = json.loads(
        (ref / "gcp-region-carbon" / "region-picker" / "regions.json").read_text(
            encoding="utf-8-sig"
        )
    )
    azure = json.loads(
        (ref / "carbon-aware-sdk" / "azure-regions-location-source.json").read_text(
            encoding="utf-8-sig"
        )
    )
    return {
        "region-picker": {
            k: (float(v["latitude"]), float(v["longitude"])) for k, v in picker.items()
        },
        "carbon-aware-sdk": {
            k: (float(v["Latitude"]), float(v["Longitude"])) for k, v in azure.items()
        },
    }


def parse_geolocation(text: object) -> tuple[float, float] | None:
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None
    parts = str(text).replace(" ", "").split(",")
    if len(parts) != 2:
        return None
    return float(parts[0]), float(parts[1])


# ---------------------------------------------------------------------------------------- PUE
def regional_pue(
    meta: pd.DataFrame,
    ccf_pue: dict[str, float],
    key: tuple[str, str],
) -> tuple[float, str, int] | None:
    provider, region = key
    if key in _METADATA_REJECT:
        return None
    sub = meta[
        (meta["provider"] == provider)
        & (meta["region"] == region)
        & (meta["file_rank"] == 0)
        & meta["power-usage-effectiveness"].notna()
    ]
    if provider == "azure":
        # Azure 2022 rows carry 1.12 (Microsoft's design PUE) even for regions that had not
        # opened yet; only the 2023 rows look like operating figures.
        sub = sub[sub["year"] >= 2023]
    if not sub.empty:
        row = sub.sort_values("year", ascending=False).iloc[0]
        who = {"aws": "AWS", "gcp": "Google", "azure": "Microsoft"}[provider]
        return (
            float(row["power-usage-effectiveness"]),
            f"{who} per-region PUE {int(row['year'])} via GSF Cloud_Region_Metadata",
            int(row["year"]),
        )
    if provider == "gcp" and region in ccf_pue:
        return (
            ccf_pue[region],
            "Google trailing-12-month PUE via Cloud Carbon Footprint (2024-03 snapshot)",
            2023,
        )
    return None


# ------------------------------------------------------------------------------------- build
@dataclass
class BuildNotes:
    coord_fixes: list[str]
    zone_by_location: list[str]
    wt_empty: list[str]
    zone_refined: list[str]
    metadata_rejected: list[str]
    bases: pd.DataFrame = field(default_factory=pd.DataFrame)


def build(ref: Path) -> tuple[pd.DataFrame, BuildNotes]:
    facts = parse_region_table()
    regions = catalog_regions(ref)
    missing = [k for k in regions if k not in facts]
    if missing:
        raise SystemExit(f"regions missing from the hand table: {missing}")
    meta = load_metadata(ref, facts)
    coords = coordinate_sources(ref)
    ccf = pd.read_csv(ref / "ccf" / "ccf_gcp_region_pue.csv")
    ccf_pue = dict(zip(ccf["region"], ccf["pue_trailing_twelve_month"].astype(float), strict=True))
    fleet = pd.read_csv(ref / "pue" / "cloud_provider_pue.csv")
    for prov, (val, _, _) in FLEET_PUE.items():
        vals = pd.to_numeric(
            fleet.loc[(fleet["provider"] == prov) & (fleet["scope"] == "global fleet"), "pue"]
            .astype(str)
            .str.lstrip("~"),
            errors="coerce",
        )
        if not (vals.round(2) == round(val, 2)).any():
            raise SystemExit(f"fleet PUE {prov}={val} not found in cloud_provider_pue.csv")
    resolver = IntensityResolver(ref)
    notes = BuildNotes([], [], [], [], [])
    notes.metadata_rejected = [f"{p} {r}: {why}" for (p, r), why in _METADATA_REJECT.items()]

    rows = []
    basis_rows: list[dict[str, object]] = []
    for key in regions:
        f = facts[key]
        provider, region = key
        usable_meta = meta if key not in _METADATA_REJECT else meta.iloc[0:0]
        # coordinates: preferred source, checked against the hand-written city point
        src_coord: tuple[float, float] | None = None
        src_name = ""
        candidates: list[tuple[str, tuple[float, float] | None]] = []
        if provider == "gcp":
            candidates.append(("region-picker regions.json", coords["region-picker"].get(region)))
        if provider == "azure":
            candidates.append(
                ("carbon-aware-sdk azure-regions.json", coords["carbon-aware-sdk"].get(region))
            )
        geo, _ = latest_value(usable_meta, key, "geolocation")
        candidates.append(("Cloud_Region_Metadata geolocation", parse_geolocation(geo)))
        for name, c in candidates:
            if c is None:
                continue
            dist = haversine_km(c[0], c[1], f.lat, f.lon)
            if dist <= MAX_COORD_DISAGREEMENT_KM:
                src_coord, src_name = c, name
                break
            notes.coord_fixes.append(
                f"{provider} {region}: {name} gives {c[0]:.4f},{c[1]:.4f}, "
                f"{dist:.0f} km from {f.location}; not used"
            )
        if src_coord is None:
            src_coord = (f.lat, f.lon)
            src_name = "hand table"
        # grid zone mappings
        em, _ = latest_value(usable_meta, key, "em-zone-id")
        wt, _ = latest_value(usable_meta, key, "wt-region-id")
        if em is None:
            if not f.em_fallback:
                raise SystemExit(f"{key}: no em zone in metadata and none in the hand table")
            em = f.em_fallback
            notes.zone_by_location.append(
                f"{provider} {region} ({f.location}): em_zone `{em}`"
                + (f", watttime `{f.wt_fallback}`" if f.wt_fallback else "")
            )
        if key in _ZONE_REFINE:
            new_em, new_wt, why = _ZONE_REFINE[key]
            change = f"em `{em}` -> `{new_em}`"
            if new_wt is not None:
                change += f", watttime `{wt}` -> `{new_wt}`"
                wt = new_wt
            notes.zone_refined.append(f"{provider} {region}: {change} ({why})")
            em = new_em
        if wt is None:
            wt = f.wt_fallback
            if not wt:
                notes.wt_empty.append(f"{provider} {region} ({f.location}, em_zone {em})")
        intensity = resolver.grid(f, str(em))
        for basis, alt in (
            ("provider", resolver.provider(f, intensity)),
            ("marginal", resolver.marginal_figure(str(wt or ""), intensity)),
        ):
            basis_rows.append(
                {
                    "provider": provider,
                    "region": region,
                    "intensity_basis": basis,
                    **_figure_columns(alt),
                }
            )
        pue = regional_pue(meta, ccf_pue, key)
        if pue is None:
            val, year, label = FLEET_PUE[provider]
            pue = (val, f"{label} (fleet figure; no per-region value)", year)
        rows.append(
            {
                "provider": provider,
                "region": region,
                "location": f.location,
                "country": COUNTRIES[f.country_code][0],
                "country_code": f.country_code,
                "subdivision": f.subdivision,
                "lat": round(src_coord[0], 4),
                "lon": round(src_coord[1], 4),
                "em_zone": str(em),
                "watttime_region": str(wt or ""),
                "intensity_basis": "grid",
                **_figure_columns(intensity),
                "pue": round(pue[0], 2),
                "pue_source": pue[1],
                "pue_year": pue[2],
                "_coord_source": src_name,
            }
        )
    df = pd.DataFrame(rows).sort_values(["provider", "region"], kind="stable")
    df = df.reset_index(drop=True)
    bases = pd.DataFrame(basis_rows).sort_values(
        ["provider", "region", "intensity_basis"], kind="stable"
    )
    check(df)
    check_bases(df, bases.reset_index(drop=True))
    notes.bases = bases.reset_index(drop=True)
    return df, notes


def _figure_columns(x: Intensity) -> dict[str, object]:
    low = x.value if x.low is None else x.low
    high = x.value if x.high is None else x.high
    return {
        "gco2_per_kwh": round(x.value, 2),
        "gco2_per_kwh_low": round(min(low, x.value), 2),
        "gco2_per_kwh_high": round(max(high, x.value), 2),
        "intensity_source": x.source,
        "intensity_year": x.year,
        "intensity_method": x.method,
    }


def check_bases(df: pd.DataFrame, bases: pd.DataFrame) -> None:
    """Every region has one row per other basis; same-as-grid rows equal the grid figure."""
    counts = bases.groupby(["provider", "region"]).size()
    if len(counts) != len(df) or not (counts == 2).all():
        raise SystemExit("region_intensity.csv: every region needs a provider and a marginal row")
    same = bases[bases["intensity_method"] == "same-as-grid"].merge(
        df[["provider", "region", "gco2_per_kwh"]], on=["provider", "region"], suffixes=("", "_g")
    )
    if not (same["gco2_per_kwh"] == same["gco2_per_kwh_g"]).all():
        raise SystemExit("region_intensity.csv: a same-as-grid row differs from the grid figure")


def check(df: pd.DataFrame) -> None:
    if df.duplicated(["provider", "region"]).any():
        raise SystemExit("duplicate (provider, region)")
    if not df["gco2_per_kwh"].between(0.5, 1200).all():
        raise SystemExit("gco2_per_kwh out of range")
    if not df["pue"].between(1.0, 2.0).all():
        raise SystemExit("pue out of range")
    if not (df["lat"].between(-90, 90).all() and df["lon"].between(-180, 180).all()):
        raise SystemExit("coordinates out of range")
    zoned = df[df["intensity_method"] == "zone"]
    spread = zoned.groupby("em_zone")["gco2_per_kwh"].agg(["min", "max"])
    if (spread["max"] != spread["min"]).any():
        raise SystemExit(
            f"regions on one zone got different figures: {spread[spread['max'] != spread['min']]}"
        )
    ix = df.set_index(["provider", "region"])["gco2_per_kwh"]
    mtl, bom = ix[("aws", "ca-central-1")], ix[("aws", "ap-south-1")]
    if bom < 10 * mtl:
        raise SystemExit(f"ca-central-1 {mtl} vs ap-south-1 {bom}: expected >= 10x apart")


# ------------------------------------------------------------------------------------- report
def md_table(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(" --- " for _ in cols) + "|"]
    for _, r in df.iterrows():
        cells = ["" if pd.isna(r[c]) else str(r[c]) for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def bullet(items: list[str]) -> str:
    return "\n".join(f"- {x}" for x in items) if items else "- (none)"


def write_report(df: pd.DataFrame, notes: BuildNotes, ref: Path, path: Path) -> None:
    counts = df.groupby("provider").size().to_dict()
    methods = df.groupby("intensity_method").size().to_dict()
    ix = df.set_index(["provider", "region"])
    mtl = ix.loc[("aws", "ca-central-1")]
    bom = ix.loc[("aws", "ap-south-1")]
    ratio = bom["gco2_per_kwh"] / mtl["gco2_per_kwh"]
    cols = ["provider", "region", "location", "em_zone", "gco2_per_kwh", "intensity_year"]
    fallback = df[df["intensity_method"] != "zone"][[*cols, "intensity_method"]]
    old = df[df["intensity_year"] < 2023][cols]
    bases = notes.bases
    bmethods = bases.groupby(["intensity_basis", "intensity_method"]).size().to_dict()
    gcp = bases[(bases["intensity_basis"] == "provider") & (bases["provider"] == "gcp")]
    gcp = gcp.merge(
        df[["provider", "region", "location", "gco2_per_kwh"]],
        on=["provider", "region"],
        suffixes=("_google", "_grid"),
    )
    gcp["ratio"] = (gcp["gco2_per_kwh_google"] / gcp["gco2_per_kwh_grid"]).round(2)
    gcp_cols = ["region", "location", "gco2_per_kwh_grid", "gco2_per_kwh_google", "ratio"]
    coord_src = df.groupby("_coord_source").size().to_dict()
    coord_used = ", ".join(f"{k} {v}" for k, v in sorted(coord_src.items()))
    pue_src = (
        df["pue_source"]
        .str.contains("fleet figure")
        .map({True: "fleet", False: "per-region"})
        .value_counts()
        .to_dict()
    )

    text = f"""# regions.csv

Built by `scripts/build_regions.py` from `shared/reference/` (do not edit by hand; rerun the
script). One row per cloud region that has a GPU offer in the reference price catalogs:
{len(df)} rows ({", ".join(f"{k} {v}" for k, v in sorted(counts.items()))}).

## Region set

- **aws**: distinct `Region` of `skypilot-catalog/aws_vms_gpu_p_family.csv` and
  `aws_vms_gpu_g_family.csv`.
- **gcp**: distinct `Region` of `skypilot-catalog/gcp_vms_gpu.csv` (accelerator and GPU-host
  rows), plus `gcp_vms_n1_hosts.csv` regions that carry T4/V100/P100/P4 accelerator rows (these
  add nothing new in this catalog version). `europe-west8` has only `a3-highgpu-*` host rows and
  no accelerator row; it is kept ("if in doubt include").
- **azure**: distinct `region` of `azure-prices/azure_gpu_vm_prices_by_region.csv`.

## Columns

- `provider`: `aws`, `gcp` or `azure`; `region`: provider region id.
- `location`: city, or the area the provider names (e.g. `Northern Virginia`).
- `country`, `country_code`: English name, ISO 3166-1 alpha-2.
- `subdivision`: ISO 3166-2 code where it matters (US state, Canadian province, Australian or
  Indian state, Japanese prefecture, Brazilian state); else empty.
- `lat`, `lon`: decimal degrees (WGS84), 4 decimals.
- `em_zone`: Electricity Maps zone id; `watttime_region`: WattTime region id.
- `gco2_per_kwh`: the default (`grid`) figure, gCO2e/kWh, 2 decimals as published;
  `gco2_per_kwh_low`/`_high`: its plausible range (below); `intensity_source`,
  `intensity_year`: provenance; `intensity_basis`: always `grid` here; `intensity_method`: how
  the figure was made (`zone` for the default methodology, anything else marks an exception).
- `pue` (ratio), `pue_source`, `pue_year`: data-centre PUE used for the region.

## Grid intensity: one methodology for every region

`gco2_per_kwh` is the annual average, location-based, **consumption-based, lifecycle** grid
intensity of the region's grid zone (`em_zone`), from Electricity Maps as published in GSF
`Cloud_Region_Metadata.csv` (`grid-carbon-intensity-average-consumption-annual`). Every region
on one zone gets the same figure, whichever cloud it belongs to (the build checks this). A US
region is on its balancing area (PJM, MISO, ERCOT, BPA, CAISO, ...), never its state.
Lifecycle matches the Electricity Maps API default (what `--intensity live` reads) and what
`--intensity-file` reads by default, so static, live and file figures share one basis.

Two defects of that file are guarded against: its 2024 Google Cloud rows hold Google's own
figure in the Electricity Maps column (never read as a zone figure), and its 2024 AWS rows
repeat the 2023 figures (a value equal to the year before is a carry-over; the year stays
2023). Two different figures for one zone and year would stop the build.

`intensity_method` (rows: {", ".join(f"{k} {v}" for k, v in sorted(methods.items()))}):

- `zone` — the zone's own Electricity Maps annual figure (latest year: 2023 for every zone).
- `parent-zone` — the zone (e.g. Swedish bidding zone `SE-SE3`) has no published figure; the
  enclosing zone's (`SE`) is used: same methodology, coarser area.
- `bidding-zone` — Norwegian bidding zones: ENTSO-E 2025 generation x CodeCarbon per-source
  factors (`codecarbon/nordic_emissions.json`; production-based).
- `state` — US balancing areas Electricity Maps' annual file lacks (WACM, AZPS): EPA eGRID2023
  state output rate `STC2ERTA` (lbs/MWh x 0.45359237; direct, production-based).
- `country` — Our World in Data country average (Ember, Energy Institute; lifecycle,
  production-based) via `codecarbon/global_energy_mix.json`, for countries without a zone
  figure.

Exceptions (not `zone`):

{md_table(fallback)}

Figures older than 2023 (no newer figure for that place in the reference data):

{md_table(old) if len(old) else "- (none)"}

### Range (`gco2_per_kwh_low`, `gco2_per_kwh_high`)

For a `zone` figure: the lowest and highest of the zone's annual figures over the figure's
year and the {SPREAD_YEARS} years before it (year-to-year variation). For an exception: every other
figure there is for the place (country, state, bidding zone), and at least
±{FALLBACK_SPREAD:.0%} of the figure, since its methodology differs from the default's.

**Check — Montreal vs Mumbai:** AWS ca-central-1 = {mtl["gco2_per_kwh"]} g/kWh, AWS
ap-south-1 = {bom["gco2_per_kwh"]} g/kWh: {ratio:.1f}x (the build asserts >= 10x).

## Other bases (`region_intensity.csv`, `--intensity-basis`)

One row per region and basis, same columns as above. Never the default.

- `provider` — the cloud's own published region figure: Google's `gcp-region-carbon/` yearly
  files for GCP (latest year that has the region; range over that year and the
  {SPREAD_YEARS} before). AWS and Azure publish no location-based region figure, so their rows
  repeat the grid figure, marked `same-as-grid`.
- `marginal` — WattTime's annual marginal (MOER) figure for the region's `watttime_region`
  from GSF `Cloud_Region_Metadata.csv` (`grid-carbon-intensity-marginal-consumption-annual`,
  same carry-over guard); regions without one repeat the grid figure, marked `same-as-grid`.

Rows: {", ".join(f"{b}/{m} {n}" for (b, m), n in sorted(bmethods.items()))}.

Google's figure against the grid figure for each GCP region (Google's is computed another way,
which is why it is not the default: ranking on it would favour GCP for its method, not its grid):

{md_table(gcp[gcp_cols])}

## Coordinates

Preferred source per provider: gcp → `gcp-region-carbon/region-picker/regions.json`; azure →
`carbon-aware-sdk/azure-regions-location-source.json` (Microsoft's own list-locations values);
then GSF `Cloud_Region_Metadata.csv` `geolocation` (aws and the rest). Every sourced point is
compared with the city the provider names for the region (hand table in the script, from the
providers' public region pages); a sourced point more than
{MAX_COORD_DISAGREEMENT_KM:.0f} km away is rejected and the city point is used. Sources used:
{coord_used}. Rejected points:

{bullet(notes.coord_fixes)}

Regions absent from every source (city coordinates from the hand table): Azure chilecentral,
indonesiacentral, malaysiawest (new regions, not in the carbon-aware-sdk list).

Azure city/country facts not in any reference file were filled from Microsoft's Azure
geographies pages (from knowledge): e.g. West Central US = Wyoming (Cheyenne), West US =
California, West US 2 = Washington (Quincy), West US 3 = Phoenix, UK West = Cardiff, Germany
North = Berlin, France South = Marseille, Switzerland West = Geneva, Norway West = Stavanger,
Korea South = Busan, Japan West = Osaka, Jio India West = Jamnagar, Jio India Central = Nagpur,
South India = Chennai, Central India = Pune, Australia Central/Central 2 = Canberra, Israel
Central = Israel (city not published; Tel Aviv coordinates used as an approximation).

## Zone mappings (`em_zone`, `watttime_region`)

From GSF `Cloud_Region_Metadata.csv` (latest year per region; `_estimate.csv` as second
choice). Only the region→zone mappings (facts) are used; the file's prose is not copied.

Rejected metadata rows:

{bullet(notes.metadata_rejected)}

Zone refinements:

{bullet(notes.zone_refined)}

Regions missing from the metadata, zones picked by location (each WattTime id used is one the
metadata itself uses for another region in the same zone):

{bullet(notes.zone_by_location)}

Empty `watttime_region` (no WattTime id for that country appears in the reference files, so it
could not be confirmed):

{bullet(notes.wt_empty)}

Other notes: Azure westus2 uses the GSF 'Washington: West US' row's zone (US-NW-BPAT / BPA);
the Quincy site is strictly in Grant County PUD's balancing area (Electricity Maps
`US-NW-GCPD`). Azure northeurope has both an Ireland and a Finland row in the metadata; the
Ireland row is used (North Europe = Dublin).

## PUE

1. Provider-published per-region PUE from GSF `Cloud_Region_Metadata.csv`
   (`power-usage-effectiveness`, latest year with a value). AWS publishes per-region PUE
   (rows 2022–2024); Google publishes per-campus trailing-twelve-month PUE (rows 2022–2024);
   Microsoft's rows are used for 2023 only: the 2022 Azure rows set 1.12 (Microsoft's
   *design* PUE for new builds) even for regions that had not opened, so they are not treated
   as operating figures.
2. GCP only: CCF's trailing-twelve-month table `ccf/ccf_gcp_region_pue.csv` (older) where the
   metadata has none.
3. Provider fleet figure from `pue/cloud_provider_pue.csv`: aws 1.15 (2024), gcp 1.10 (2023,
   "around 1.1"), azure 1.18 (2024 summary).

Rows: {", ".join(f"{k} {v}" for k, v in sorted(pue_src.items()))}.
"""
    path.write_text(text, encoding="utf-8", newline="\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    df, notes = build(args.reference)
    args.out.mkdir(parents=True, exist_ok=True)
    df[COLUMNS].to_csv(args.out / "regions.csv", index=False, encoding="utf-8", lineterminator="\n")
    notes.bases[BASIS_COLUMNS].to_csv(
        args.out / "region_intensity.csv", index=False, encoding="utf-8", lineterminator="\n"
    )
    write_report(df, notes, args.reference, args.out / "REGIONS.md")
    print(f"wrote {len(df)} regions to {args.out / 'regions.csv'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
