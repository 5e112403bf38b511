"""GCP: the Cloud Billing Catalog API (Compute Engine's SKUs), with an API key
(``$CARBONPLAN_GCP_API_KEY``, sent as the ``key`` parameter) or application default
credentials (a bearer token; needs google-auth, from the 'launch' extra).

The SKU list is global, read page by page (``nextPageToken``); a page that fails fails the
whole provider (the previous overlay is kept). An instance's price is its parts', per region
and market (``OnDemand`` / ``Preemptible`` = spot): vCPUs x the family's core SKU + GiB x its
RAM SKU + GPUs x the GPU's SKU (N1 hosts with attached GPUs are named ``n1-...+T4x1`` in the
catalog). Only the (region, instance type) pairs the catalog already lists are priced: the
billing catalog says what a part costs in a region, not whether the machine is offered there.
An instance whose parts are not all found keeps its shipped price (counted as left out).
``$CARBONPLAN_GCP_BILLING_URL`` replaces the API's base URL.
"""

from __future__ import annotations

import os
from typing import Any

from recommender.intensity.model import SourceFault
from recommender.pricing.base import (
    Progress,
    RegionResult,
    SourceFailure,
    Target,
    plausible_spot,
    plausible_usd,
)
from recommender.pricing.http import get_json, make_http

KEY_ENV = "CARBONPLAN_GCP_API_KEY"
URL_ENV = "CARBONPLAN_GCP_BILLING_URL"
DEFAULT_URL = "https://cloudbilling.googleapis.com"
COMPUTE_ENGINE = "6F81-5844-456A"
SCOPE = "https://www.googleapis.com/auth/cloud-billing.readonly"
MAX_PAGES = 100
# machine family (instance type prefix) -> how its core and RAM SKUs are described
FAMILIES = {
    "n1": "N1 Predefined Instance",
    "a2": "A2 Instance",
    "a3": "A3 Instance",
    "g2": "G2 Instance",
}
# catalog GPU name -> how its SKU is described (as SkyPilot's fetcher matches them)
GPUS = {
    "T4": "T4 GPU",
    "V100": "V100 GPU",
    "P100": "P100 GPU",
    "P4": "P4 GPU",
    "A100": "A100 GPU",
    "A100-80GB": "A100 80GB GPU",
    "L4": "L4 GPU",
    "H100": "H100 80GB GPU",
    "H200": "H200 141GB GPU",
}
_SKIP = ("custom", "premium", "reserved", "sole tenancy", "dws defined duration", "commit")


class GcpBillingCatalog:
    provider = "gcp"
    label = "GCP Cloud Billing Catalog API"
    steps_per_region = 1

    def fetch(self, target: Target, progress: Progress) -> list[RegionResult]:
        base = (os.environ.get(URL_ENV, "").strip() or DEFAULT_URL).rstrip("/")
        url = f"{base}/v1/services/{COMPUTE_ENGINE}/skus"
        params, headers = _credentials()
        http = make_http()
        skus: list[Any] = []
        token = ""
        try:
            for page in range(1, MAX_PAGES + 1):
                progress(f"SKUs page {page}", 0)
                query = {**params, "currencyCode": "USD", "pageSize": "5000"}
                if token:
                    query["pageToken"] = token
                try:
                    body = get_json(http, url, params=query, headers=headers)
                except SourceFault as exc:
                    raise SourceFailure(
                        f"page {page}: {exc.reason}",
                        f"check {KEY_ENV} or your application default credentials"
                        if exc.auth
                        else "",
                    ) from None
                if not isinstance(body, dict) or not isinstance(body.get("skus", []), list):
                    raise SourceFailure(f"page {page} is not a SKU list")
                skus.extend(body.get("skus", []))
                token = body.get("nextPageToken") or ""
                if not isinstance(token, str) or not token:
                    break
            else:
                raise SourceFailure(f"more than {MAX_PAGES} pages of SKUs")
        finally:
            http.close()
        index, skipped = index_skus(skus)
        results = []
        for region in target.regions:
            result = RegionResult(region)
            if skipped and region == target.regions[0]:
                result.skip("malformed SKU", skipped)  # counted once, in the first region
            for instance_type in sorted(target.offered.get(region, frozenset())):
                price_instance(instance_type, region, target, index, result)
            progress(region, 1)
            results.append(result)
        return results


def _credentials() -> tuple[dict[str, str], dict[str, str]]:
    """(query parameters, headers) that authenticate: the API key, else an ADC token."""
    key = os.environ.get(KEY_ENV, "").strip()
    if key:
        return {"key": key}, {}
    no_credentials = SourceFailure(
        f"no API key ({KEY_ENV}) and no application default credentials",
        f"set {KEY_ENV} to an API key with the Cloud Billing API enabled, or run "
        "'gcloud auth application-default login'",
    )
    from recommender.extras import _installed

    if not _installed("google.auth"):
        raise no_credentials
    import google.auth
    import google.auth.exceptions
    import google.auth.transport.requests

    try:
        credentials, _project = google.auth.default(scopes=[SCOPE])
        credentials.refresh(google.auth.transport.requests.Request())
    except google.auth.exceptions.GoogleAuthError:
        raise no_credentials from None
    return {}, {"Authorization": f"Bearer {credentials.token}"}


def unit_price(sku: dict[str, Any]) -> float | None:
    """The hourly unit price of a SKU (its first tier with a price), or None."""
    try:
        expression = sku["pricingInfo"][0]["pricingExpression"]
        if expression.get("usageUnit") not in ("h", "GiBy.h"):
            return None
        for tier in expression["tieredRates"]:
            money = tier["unitPrice"]
            if money.get("currencyCode", "USD") != "USD":
                return None
            value = int(money.get("units") or 0) + int(money.get("nanos") or 0) / 1e9
            if value > 0:
                return value
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        return None
    return None


def index_skus(skus: list[Any]) -> tuple[dict[tuple[str, str, str, bool], float], int]:
    """(part kind, family or GPU, region, spot) -> USD per unit-hour, and how many SKUs were
    malformed. Part kinds: core, ram, gpu."""
    index: dict[tuple[str, str, str, bool], float] = {}
    malformed = 0
    for sku in skus:
        try:
            category = sku["category"]
            description = str(sku["description"])
            usage = category["usageType"]
            group = category["resourceGroup"]
            regions = list(sku["serviceRegions"])
            family = category["resourceFamily"]
        except (KeyError, TypeError):
            malformed += 1
            continue
        if family != "Compute" or usage not in ("OnDemand", "Preemptible"):
            continue
        lower = description.lower()
        if any(word in lower for word in _SKIP):
            continue
        price = unit_price(sku)
        if price is None:
            malformed += 1
            continue
        spot = usage == "Preemptible"
        keys: list[tuple[str, str]] = []
        if group == "GPU":
            keys = [("gpu", gpu) for gpu, text in GPUS.items() if text in description]
        elif group in ("CPU", "RAM", "N1Standard"):
            kind = "core" if "core" in lower else "ram" if "ram" in lower else None
            if kind is not None:
                keys = [(kind, fam) for fam, text in FAMILIES.items() if text.lower() in lower]
        for kind, name in keys:
            for region in regions:
                index[(kind, name, str(region), spot)] = price
    return index, malformed


def price_instance(
    instance_type: str,
    region: str,
    target: Target,
    index: dict[tuple[str, str, str, bool], float],
    result: RegionResult,
) -> None:
    spec = target.specs.get(instance_type)
    family = instance_type.split("-", 1)[0]
    if spec is None or family not in FAMILIES:
        result.skip("no SKUs for its parts")
        return
    gpu, count, vcpus, memory = spec
    prices: list[float | None] = []
    for spot in (False, True):
        parts = [
            index.get(("core", family, region, spot)),
            index.get(("ram", family, region, spot)),
            index.get(("gpu", gpu, region, spot)),
        ]
        if any(p is None for p in parts):
            prices.append(None)
            continue
        core, ram, per_gpu = (float(p) for p in parts if p is not None)
        total = vcpus * core + memory * ram + count * per_gpu
        prices.append((plausible_spot if spot else plausible_usd)(round(total, 6)))
    on_demand, spot_price = prices
    if on_demand is None:
        result.skip("no SKUs for its parts")
        return
    entry = result.price(instance_type)
    entry.usd_per_hour = on_demand
    entry.spot_usd_per_hour = spot_price
