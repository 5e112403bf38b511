"""Where the run is: ``--region``, else the cloud's instance metadata service, else a
country (``--country`` or ``CARBONPLAN_COUNTRY``), else nowhere; and the grid intensity the
row is computed with, from the shipped catalog on the same basis ``suggest`` ranks with.

The three metadata services are asked at once with a short timeout, directly (never through
a proxy); their base URLs are overridable (``CARBONPLAN_AWS_METADATA_URL``,
``CARBONPLAN_GCP_METADATA_URL``, ``CARBONPLAN_AZURE_METADATA_URL``) so tests serve them from
127.0.0.1.
"""

from __future__ import annotations

import os
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

AWS_URL = "http://169.254.169.254"
GCP_URL = "http://metadata.google.internal"
AZURE_URL = "http://169.254.169.254"
TIMEOUT_S = 0.5


@dataclass(frozen=True)
class Place:
    provider: str | None  # aws, gcp, azure
    region: str | None
    source: str  # --region, aws metadata, country (--country), none
    country_code: str | None = None  # ISO 3166-1 alpha-2, when only a country is known


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _base(env: str, default: str) -> str:
    return (os.environ.get(env) or default).rstrip("/")


def _aws(timeout: float) -> str | None:
    base = _base("CARBONPLAN_AWS_METADATA_URL", AWS_URL)
    opener = _opener()
    put = urllib.request.Request(
        f"{base}/latest/api/token",
        method="PUT",
        headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"},
    )
    with opener.open(put, timeout=timeout) as answer:
        token = answer.read().decode().strip()
    get = urllib.request.Request(
        f"{base}/latest/meta-data/placement/region",
        headers={"X-aws-ec2-metadata-token": token},
    )
    with opener.open(get, timeout=timeout) as answer:
        return answer.read().decode().strip() or None


def _gcp(timeout: float) -> str | None:
    base = _base("CARBONPLAN_GCP_METADATA_URL", GCP_URL)
    get = urllib.request.Request(
        f"{base}/computeMetadata/v1/instance/zone", headers={"Metadata-Flavor": "Google"}
    )
    with _opener().open(get, timeout=timeout) as answer:
        if answer.headers.get("Metadata-Flavor") != "Google":
            return None  # something else answered that name
        zone = answer.read().decode().strip().rsplit("/", 1)[-1]  # projects/N/zones/Z
    return zone.rsplit("-", 1)[0] if zone.count("-") >= 2 else None


def _azure(timeout: float) -> str | None:
    base = _base("CARBONPLAN_AZURE_METADATA_URL", AZURE_URL)
    get = urllib.request.Request(
        f"{base}/metadata/instance/compute/location?api-version=2021-02-01&format=text",
        headers={"Metadata": "true"},
    )
    with _opener().open(get, timeout=timeout) as answer:
        return answer.read().decode().strip().lower() or None


PROBES = {"aws": _aws, "gcp": _gcp, "azure": _azure}


def from_metadata(timeout: float = TIMEOUT_S) -> Place | None:
    """The first cloud whose metadata service names a region (all asked at once)."""

    def ask(provider: str) -> str | None:
        try:
            return PROBES[provider](timeout)
        except Exception:  # unreachable, refused, timed out, not that cloud: no answer
            return None

    with ThreadPoolExecutor(max_workers=len(PROBES)) as pool:
        answers = dict(zip(PROBES, pool.map(ask, PROBES), strict=True))
    for provider, region in answers.items():
        if region:
            return Place(provider, region, f"{provider} instance metadata")
    return None


@dataclass(frozen=True)
class Intensity:
    gco2_per_kwh: float | None
    source: str
    basis: str
    year: Any
    country_name: str
    country_iso_code: str
    region: str  # CodeCarbon's sub-national region (state, province), lower case
    longitude: float | None
    latitude: float | None
    pue: float
    warning: str = ""


def intensity_for(place: Place, catalog: Any) -> Intensity:
    """The shipped grid figure of the place's region (grid basis, as ``suggest`` ranks), or
    for a country the mean of its shipped regions' figures (marked), or none (marked)."""
    regions = catalog.regions
    if place.provider and place.region:
        rows = regions[
            (regions["provider"] == place.provider) & (regions["region"] == place.region)
        ]
        if not rows.empty:
            row = rows.iloc[0]
            return Intensity(
                float(row["gco2_per_kwh"]),
                str(row["intensity_source"]),
                f"{row['intensity_basis']} ({row['intensity_method']})",
                int(row["intensity_year"]),
                str(row["country"]),
                _alpha3(str(row["country_code"])),
                str(row["subdivision"]).lower() if _has(row.get("subdivision")) else "",
                float(row["lon"]),
                float(row["lat"]),
                float(row["pue"]),
            )
        warning = (
            f"region {place.provider}:{place.region} is not in the shipped catalog: no grid "
            "intensity for it; emissions are left empty"
        )
        return Intensity(None, "none", "none", None, "", "", "", None, None, 1.0, warning)
    if place.country_code:
        code = place.country_code.upper()
        rows = regions[regions["country_code"].astype(str).str.upper() == code]
        if not rows.empty:
            mean = float(rows["gco2_per_kwh"].mean())
            return Intensity(
                mean,
                f"country {code}: mean of the shipped grid figures of its {len(rows)} cloud "
                "region(s) (not the country's own average: the run's region is unknown)",
                "grid (country estimate)",
                int(rows["intensity_year"].max()),
                str(rows["country"].iloc[0]),
                _alpha3(code),
                "",
                None,
                None,
                1.0,
                f"region unknown: intensity is a country estimate for {code}",
            )
        warning = f"no shipped region in country {code}: emissions are left empty"
        return Intensity(
            None, "none", "none", None, "", _alpha3(code), "", None, None, 1.0, warning
        )
    return Intensity(
        None,
        "none",
        "none",
        None,
        "",
        "",
        "",
        None,
        None,
        1.0,
        "region unknown (no --region, no cloud metadata, no --country): emissions are left "
        "empty; give --region PROVIDER:REGION or --country CC",
    )


def _has(value: Any) -> bool:
    return value is not None and str(value) not in ("", "nan", "<NA>")


def _alpha3(code: str) -> str:
    """CodeCarbon writes ISO 3166 alpha-3 codes; the catalog holds alpha-2."""
    return _ALPHA3.get(code.upper(), code.upper())


# alpha-2 -> alpha-3 for the countries cloud regions are in
_ALPHA3 = {
    "AE": "ARE", "AT": "AUT", "AU": "AUS", "BE": "BEL", "BH": "BHR", "BR": "BRA", "CA": "CAN",
    "CH": "CHE", "CL": "CHL", "CN": "CHN", "DE": "DEU", "DK": "DNK", "ES": "ESP", "FI": "FIN",
    "FR": "FRA", "GB": "GBR", "HK": "HKG", "ID": "IDN", "IE": "IRL", "IL": "ISR", "IN": "IND",
    "IT": "ITA", "JP": "JPN", "KR": "KOR", "MX": "MEX", "MY": "MYS", "NL": "NLD", "NO": "NOR",
    "NZ": "NZL", "PL": "POL", "QA": "QAT", "SA": "SAU", "SE": "SWE", "SG": "SGP", "TH": "THA",
    "TW": "TWN", "US": "USA", "ZA": "ZAF", "GR": "GRC", "PT": "PRT", "CZ": "CZE", "AR": "ARG",
    "CO": "COL", "PE": "PER", "KE": "KEN", "NG": "NGA", "EG": "EGY", "TR": "TUR", "VN": "VNM",
    "PH": "PHL", "UK": "GBR",
}  # fmt: skip
