"""AWS: on-demand prices from the Price List API (``pricing.get_products``, paginated; Linux,
shared tenancy, no pre-installed software, capacity status Used), spot prices from EC2
``describe_spot_price_history`` (the lowest current price over the region's zones) and
availability from EC2 ``describe_instance_type_offerings`` (zones per instance type), per
region, for the instance types the catalog knows.

Credentials are boto3's own (environment, profile, SSO, instance role). Endpoints follow
boto3's settings (``AWS_ENDPOINT_URL_PRICING``, ``AWS_ENDPOINT_URL_EC2``, ``AWS_ENDPOINT_URL``);
``$CARBONPLAN_AWS_PRICING_URL`` overrides the Price List endpoint alone. Errors are reported
by their AWS error code, never by their message (which can hold account ids and ARNs).
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from recommender.pricing.base import (
    Progress,
    RegionResult,
    SourceFailure,
    Target,
    plausible_spot,
    plausible_usd,
)
from recommender.pricing.http import WORKERS

PRICING_URL_ENV = "CARBONPLAN_AWS_PRICING_URL"
PRICING_REGION = "us-east-1"  # the Price List API's endpoint (it also has ap-south-1)
FILTERS = {
    "operatingSystem": "Linux",
    "tenancy": "Shared",
    "preInstalledSw": "NA",
    "capacitystatus": "Used",
}


class AwsPriceList:
    provider = "aws"
    label = "AWS Price List API"
    steps_per_region = 3

    def fetch(self, target: Target, progress: Progress) -> list[RegionResult]:
        from recommender.extras import _installed, install_line

        if not _installed("boto3"):
            raise SourceFailure(
                "needs the optional package 'boto3' (the 'launch' extra), which is not installed",
                install_line("launch"),
            )
        import boto3
        from botocore.config import Config

        session = boto3.session.Session()
        if session.get_credentials() is None:
            raise SourceFailure(
                "no AWS credentials (the Price List API needs signed requests)",
                "configure them as for the AWS CLI (aws configure, AWS_PROFILE, or "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
            )
        config = Config(
            retries={"max_attempts": 4, "mode": "standard"},  # backs off on throttling
            connect_timeout=5,
            read_timeout=30,
        )
        pricing = session.client(
            "pricing",
            region_name=PRICING_REGION,
            endpoint_url=os.environ.get(PRICING_URL_ENV, "").strip() or None,
            config=config,
        )

        def one(region: str) -> RegionResult:
            ec2 = session.client("ec2", region_name=region, config=config)
            return self._region(pricing, ec2, region, target, progress)

        with ThreadPoolExecutor(max_workers=min(WORKERS, len(target.regions) or 1)) as pool:
            return list(pool.map(one, target.regions))

    def _region(
        self, pricing: Any, ec2: Any, region: str, target: Target, progress: Progress
    ) -> RegionResult:
        result = RegionResult(region)
        step = "availability"
        try:
            zones = offerings(ec2, target.instance_types)
            progress(f"{region} availability", 1)
            step = "Price List"
            on_demand = products(pricing, region, target.instance_types, result)
            progress(f"{region} on-demand", 1)
            step = "spot prices"
            offered = sorted(zones)
            spot = spot_prices(ec2, offered, result) if offered else {}
            progress(f"{region} spot", 1)
        except Exception as exc:  # botocore's errors: reported by code, never by message
            result.error = f"{step}: {aws_reason(exc)}"
            progress(region, 0)
            return result
        for instance_type, usd in on_demand.items():
            if instance_type not in zones:
                result.skip("priced but not offered in any zone")
                continue
            price = result.price(instance_type)
            price.usd_per_hour = usd
            price.spot_usd_per_hour = spot.get(instance_type)
            price.zones = zones[instance_type]
        result.unavailable = sorted(target.offered.get(region, frozenset()) - set(zones))
        return result


def aws_reason(exc: Exception) -> str:
    """A safe, short reason for a botocore failure."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code") or "error"
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return f"{code} (HTTP {status})" if status else str(code)
    name = type(exc).__name__
    if name == "NoCredentialsError":
        return "no AWS credentials"
    if name in ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError"):
        return "unreachable" if name == "EndpointConnectionError" else "timeout"
    return name


def offerings(ec2: Any, known: frozenset[str]) -> dict[str, int]:
    """Instance type -> number of the region's zones that offer it (known types only)."""
    counts: dict[str, set[str]] = {}
    types = sorted(known)
    for start in range(0, len(types), 100):  # a filter takes at most 200 values
        paginator = ec2.get_paginator("describe_instance_type_offerings")
        pages = paginator.paginate(
            LocationType="availability-zone",
            Filters=[{"Name": "instance-type", "Values": types[start : start + 100]}],
        )
        for page in pages:
            for offer in page.get("InstanceTypeOfferings", []):
                name, zone = offer.get("InstanceType"), offer.get("Location")
                if isinstance(name, str) and isinstance(zone, str) and name in known:
                    counts.setdefault(name, set()).add(zone)
    return {name: len(zones) for name, zones in counts.items()}


def products(
    pricing: Any, region: str, known: frozenset[str], result: RegionResult
) -> dict[str, float]:
    """Instance type -> on-demand USD/hour from GetProducts (each PriceList entry is a JSON
    string with ``product.attributes`` and ``terms.OnDemand``)."""
    filters = [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": region}] + [
        {"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in FILTERS.items()
    ]
    prices: dict[str, float] = {}
    paginator = pricing.get_paginator("get_products")
    for page in paginator.paginate(ServiceCode="AmazonEC2", Filters=filters, MaxResults=100):
        for entry in page.get("PriceList", []):
            parsed = parse_product(entry, region)
            if parsed is None:
                result.skip("malformed product")
                continue
            instance_type, usd = parsed
            if instance_type not in known:
                continue  # not a GPU instance the catalog knows: not counted
            if usd is None:
                result.skip("implausible price")
                continue
            prices[instance_type] = min(usd, prices.get(instance_type, usd))
    return prices


def parse_product(entry: Any, region: str) -> tuple[str, float | None] | None:
    """(instance type, hourly on-demand price or None when implausible), or None when the
    entry is not a readable EC2 product of ``region``."""
    try:
        document = json.loads(entry) if isinstance(entry, str) else entry
        attributes = document["product"]["attributes"]
        instance_type = attributes["instanceType"]
        if attributes.get("regionCode", region) != region:
            return None
        offers = document["terms"]["OnDemand"]
        dimensions = [d for offer in offers.values() for d in offer["priceDimensions"].values()]
        hourly = [d for d in dimensions if str(d.get("unit", "")).lower() in ("hrs", "hours")]
        usd = hourly[0]["pricePerUnit"]["USD"] if hourly else None
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        return None
    if not isinstance(instance_type, str):
        return None
    return instance_type, plausible_usd(usd)


def spot_prices(ec2: Any, types: list[str], result: RegionResult) -> dict[str, float]:
    """Instance type -> the lowest current Linux spot price over the region's zones."""
    lowest: dict[str, float] = {}
    paginator = ec2.get_paginator("describe_spot_price_history")
    pages = paginator.paginate(
        InstanceTypes=types,
        ProductDescriptions=["Linux/UNIX"],
        StartTime=datetime.now(UTC),
    )
    for page in pages:
        for item in page.get("SpotPriceHistory", []):
            name = item.get("InstanceType")
            price = plausible_spot(item.get("SpotPrice"))
            if not isinstance(name, str):
                result.skip("malformed spot price")
                continue
            if price is None:
                result.skip("implausible spot price")
                continue
            lowest[name] = min(price, lowest.get(name, price))
    return lowest
