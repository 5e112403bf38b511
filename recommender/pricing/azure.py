"""Azure: the Retail Prices API (``https://prices.azure.com/api/retail/prices``, no auth).

One query per region for the GPU (N-series) virtual machines at consumption prices, following
``NextPageLink`` page after page. Kept: Linux (the product name does not end in ``Windows``),
``type`` Consumption, hourly, in USD; spot when the SKU or meter name ends in ``Spot``; ``Low
Priority`` meters (the Batch/legacy product) ignored. When a meter appears twice, the one with
the latest ``effectiveStartDate`` wins. ``$CARBONPLAN_AZURE_PRICES_URL`` replaces the base URL.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from recommender.intensity.model import SourceFault
from recommender.pricing.base import (
    Progress,
    RegionResult,
    Target,
    plausible_spot,
    plausible_usd,
)
from recommender.pricing.http import WORKERS, get_json, make_http, same_origin

URL_ENV = "CARBONPLAN_AZURE_PRICES_URL"
DEFAULT_URL = "https://prices.azure.com/api/retail/prices"
MAX_PAGES = 200  # a region's GPU meters fit in a page or two; more is a server looping


def region_filter(region: str) -> str:
    return (
        "serviceName eq 'Virtual Machines' and priceType eq 'Consumption' and "
        f"armRegionName eq '{region}' and contains(armSkuName, 'Standard_N')"
    )


class AzureRetailPrices:
    provider = "azure"
    label = "Azure Retail Prices API"
    steps_per_region = 1

    def __init__(self) -> None:
        self.url = os.environ.get(URL_ENV, "").strip() or DEFAULT_URL

    def fetch(self, target: Target, progress: Progress) -> list[RegionResult]:
        http = make_http()
        try:
            with ThreadPoolExecutor(max_workers=min(WORKERS, len(target.regions) or 1)) as pool:
                futures = [
                    pool.submit(self._region, http, region, target, progress)
                    for region in target.regions
                ]
                results = [f.result() for f in futures]
        finally:
            http.close()
        return results

    def _region(self, http: Any, region: str, target: Target, progress: Progress) -> RegionResult:
        result = RegionResult(region)
        items: list[dict[str, Any]] = []
        url: str | None = self.url
        params: dict[str, str] | None = {"$filter": region_filter(region)}
        seen: set[str] = set()
        try:
            for page in range(1, MAX_PAGES + 1):
                assert url is not None
                progress(f"{region} page {page}", 0)
                body = get_json(http, url, params=params)
                if not isinstance(body, dict) or not isinstance(body.get("Items"), list):
                    raise SourceFault(f"page {page} is not a price list")
                items.extend(body["Items"])
                link = body.get("NextPageLink")
                if not link:
                    break
                if not isinstance(link, str) or not same_origin(link, self.url):
                    raise SourceFault(f"page {page} links to another host; not followed")
                if link in seen:
                    raise SourceFault(f"page {page} links back to an earlier page")
                seen.add(link)
                url, params = link, None  # the link carries the filter and $skip
            else:
                raise SourceFault(f"more than {MAX_PAGES} pages")
        except SourceFault as exc:
            result.error = f"page {len(seen) + 1}: {exc.reason}" if seen else exc.reason
            progress(region, 1)
            return result
        parse_items(items, region, target.instance_types, result)
        progress(region, 1)
        return result


def parse_items(items: list[Any], region: str, known: frozenset[str], result: RegionResult) -> None:
    """Fill ``result`` from Retail Prices items (malformed or foreign items are counted in
    ``result.skipped`` by reason, never raised)."""
    chosen: dict[tuple[str, bool], tuple[str, float]] = {}  # (sku, spot) -> (start, price)
    for item in items:
        if not isinstance(item, dict):
            result.skip("malformed item")
            continue
        fields = [item.get(k) for k in ("armSkuName", "productName", "skuName", "meterName")]
        if not all(isinstance(v, str) for v in fields):
            result.skip("malformed item")
            continue
        sku, product, name, meter = (str(v) for v in fields)
        if item.get("armRegionName") != region:
            result.skip("other region")
            continue
        if item.get("type") != "Consumption" or item.get("unitOfMeasure") != "1 Hour":
            result.skip("not hourly consumption")
            continue
        if item.get("currencyCode", "USD") != "USD":
            result.skip("not USD")
            continue
        if product.strip().endswith("Windows"):
            continue  # Linux prices only
        if "Low Priority" in name or "Low Priority" in meter:
            continue  # the Batch product, not spot VMs
        if sku not in known:
            result.skip("instance type not in the catalog")
            continue
        spot = name.endswith(" Spot") or meter.endswith(" Spot")
        price = (plausible_spot if spot else plausible_usd)(item.get("retailPrice"))
        if price is None:
            result.skip("implausible price")
            continue
        start = item.get("effectiveStartDate")
        start = start if isinstance(start, str) else ""
        key = (sku, spot)
        if key not in chosen or start >= chosen[key][0]:
            chosen[key] = (start, price)
    for (sku, spot), (_start, price) in sorted(chosen.items()):
        entry = result.price(sku)
        if spot:
            entry.spot_usd_per_hour = price
        else:
            entry.usd_per_hour = price
