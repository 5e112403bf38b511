"""`carbonplan data refresh|status` with Azure's Retail Prices API, and the overlay in suggest.

A real HTTP server on 127.0.0.1 speaks the Retail Prices API: the envelope and item fields of
the real body in tests/fixtures/azure-retail-prices/ (field order included; from shared/reference),
two pages joined by ``NextPageLink``. No real GPU body was published, so the GPU items here are
synthetic (names as in shared/reference/azure-prices/azure_retail_gpu_meters_eu4_2026-08.csv)
and the prices are the issue's (9.99 on-demand, 1.11 spot).
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fakes import QuietHandler, send, serve

from recommender.errors import ExitCode

SKU = "Standard_NC24ads_A100_v4"
TODAY = datetime.now(UTC).date().isoformat()
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "azure-retail-prices"


def item(
    price: float,
    sku_name: str = "NC24ads A100 v4",
    product: str = "Virtual Machines NCads A100 v4 Series",
    region: str = "eastus",
    sku: str = SKU,
    kind: str = "Consumption",
    start: str = "2026-06-01T00:00:00Z",
) -> dict:
    """One Retail Prices item, fields in the order of the real bodies."""
    return {
        "currencyCode": "USD",
        "tierMinimumUnits": 0.0,
        "retailPrice": price,
        "unitPrice": price,
        "armRegionName": region,
        "location": "US East",
        "effectiveStartDate": start,
        "meterId": "00000000-0000-0000-0000-000000000000",
        "meterName": sku_name,
        "productId": "DZH318Z0BQ5Q",
        "skuId": "DZH318Z0BQ5Q/00B7",
        "productName": product,
        "skuName": sku_name,
        "serviceName": "Virtual Machines",
        "serviceId": "DZH313Z7MMC8",
        "serviceFamily": "Compute",
        "unitOfMeasure": "1 Hour",
        "type": kind,
        "isPrimaryMeterRegion": True,
        "armSkuName": sku,
    }


def pages(on_demand: float = 9.99, spot: float = 1.11) -> list[list]:
    """Two pages: Linux on-demand plus Windows and Low Priority meters, then spot (Linux and
    Windows), a reservation and a malformed item."""
    windows = "Virtual Machines NCads A100 v4 Series Windows"
    return [
        [
            item(on_demand),
            item(19.99, product=windows),
            item(0.77, sku_name="NC24ads A100 v4 Low Priority"),
            item(0.88, sku_name="NC24ads A100 v4 Low Priority", product=windows),
        ],
        [
            item(spot, sku_name="NC24ads A100 v4 Spot"),
            item(2.22, sku_name="NC24ads A100 v4 Spot", product=windows),
            item(3.0, kind="Reservation"),
            {"armSkuName": SKU, "retailPrice": "n/a"},
            item(float("nan") if False else -1.0, sku_name="NC24ads A100 v4 Spot", start="2027-01"),
        ],
    ]


class AzureFake:
    """The Retail Prices API: ``$filter`` by armRegionName, ``$skip`` paging, faults on
    demand (``fail_page``: that page answers 500; ``throttle``: the first N requests answer
    429 with Retry-After)."""

    def __init__(self) -> None:
        self.pages: dict[str, list[list]] = {"eastus": pages()}
        self.fail_page: int | None = None
        self.throttle = 0
        self.retry_after = "1"
        self.requests: list[tuple[float, str, int]] = []  # (time, region, page)
        self.lock = threading.Lock()
        fake = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                where = query.get("$filter", [""])[0]
                region = where.split("armRegionName eq '", 1)[-1].split("'", 1)[0]
                page = int(query.get("$skip", ["0"])[0]) // 1000
                with fake.lock:
                    fake.requests.append((time.monotonic(), region, page))
                    throttled = fake.throttle > 0
                    fake.throttle -= 1
                if parts.path != "/api/retail/prices" or "Virtual Machines" not in where:
                    return self.reply(400, b'{"Error": "bad request"}')
                if throttled:
                    return self.reply(429, b"{}", {"Retry-After": fake.retry_after})
                if fake.fail_page is not None and page == fake.fail_page:
                    return self.reply(500, b"upstream failure")
                region_pages = fake.pages.get(region, [[]])
                items = region_pages[page] if page < len(region_pages) else []
                link = None
                if page + 1 < len(region_pages):
                    link = (
                        f"{fake.base}/api/retail/prices?$filter={where.replace(' ', '%20')}"
                        f"&$skip={(page + 1) * 1000}"
                    )
                body = {
                    "BillingCurrency": "USD",
                    "CustomerEntityId": "Default",
                    "CustomerEntityType": "Retail",
                    "Items": items,
                    "NextPageLink": link,
                    "Count": len(items),
                }
                self.reply(200, json.dumps(body).encode())

            def reply(self, status: int, body: bytes, headers: dict | None = None) -> None:
                send(self, status, body, headers=headers)

        self.server, self.base = serve(Handler)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def azure(monkeypatch, tmp_path):
    fake = AzureFake()
    monkeypatch.setenv("CARBONPLAN_AZURE_PRICES_URL", f"{fake.base}/api/retail/prices")
    monkeypatch.setenv("CARBONPLAN_OVERLAY_DIR", str(tmp_path / "overlay"))
    monkeypatch.setenv("CARBONPLAN_HTTP_BACKOFF", "0")
    monkeypatch.setenv("CARBONPLAN_HTTP_RETRIES", "2")
    yield fake
    fake.stop()


def eastus_a100(cli) -> dict[str, dict]:
    result = cli(
        "suggest",
        "--gpu-hours",
        "400",
        "--region",
        "azure:eastus",
        "--all-sizes",
        "--top",
        "0",
        "--format",
        "json",
    )
    assert result.code == 0, result.err
    rows = [o for o in json.loads(result.out)["options"] if o["instance_type"] == SKU]
    return {o["market"]: o for o in rows}


def test_real_fixture_bodies_parse_linux_on_demand_and_spot():
    """The recorded real answer (D2s v3, eastus): Linux on-demand 0.096 and spot 0.018816;
    Windows and Low Priority meters left out."""
    from recommender.pricing.azure import parse_items
    from recommender.pricing.base import RegionResult

    body = json.loads((FIXTURES / "consumption_standard_d2s_v3_eastus.json").read_text())
    result = RegionResult("eastus")
    parse_items(body["Items"], "eastus", frozenset({"Standard_D2s_v3"}), result)
    price = result.prices["Standard_D2s_v3"]
    assert (price.usd_per_hour, price.spot_usd_per_hour) == (0.096, 0.018816)
    assert result.skipped == {}


def test_refresh_then_suggest_uses_the_refreshed_prices(cli, azure):
    before = eastus_a100(cli)
    assert before["on-demand"]["usd_per_hour"] != 9.99

    result = cli("data", "refresh", "--provider", "azure")
    assert result.code == 0, result.err
    assert "azure" in result.out
    # both pages of eastus were read (NextPageLink followed), one request per other region
    assert [(r, p) for _, r, p in azure.requests if r == "eastus"] == [("eastus", 0), ("eastus", 1)]

    after = eastus_a100(cli)
    assert after["on-demand"]["usd_per_hour"] == 9.99
    assert after["spot"]["usd_per_hour"] == 1.11
    for row in after.values():
        assert row["price_as_of"] == TODAY
        assert row["price_source"].startswith("Azure Retail Prices API (refreshed ")
    # another instance in the same region keeps its shipped price and date
    other = cli(
        "suggest",
        "--gpu-hours",
        "400",
        "--region",
        "azure:eastus",
        "--all-sizes",
        "--top",
        "0",
        "--format",
        "json",
    )
    dates = {
        o["price_as_of"] for o in json.loads(other.out)["options"] if o["instance_type"] != SKU
    }
    assert dates and TODAY not in dates

    # the overlay file says what was left out of the answer, and why
    overlay = json.loads((Path(azure_dir()) / "azure.json").read_text())
    skipped = overlay["regions"]["eastus"]["skipped"]
    assert skipped == {"implausible price": 1, "malformed item": 1, "not hourly consumption": 1}


def azure_dir() -> str:
    import os

    return os.environ["CARBONPLAN_OVERLAY_DIR"]


def test_second_refresh_failing_on_page_two_keeps_the_previous_prices(cli, azure):
    assert cli("data", "refresh", "--provider", "azure").code == 0
    path = Path(azure_dir()) / "azure.json"
    first = path.read_bytes()

    azure.pages["eastus"] = pages(on_demand=5.55, spot=0.55)
    azure.fail_page = 1
    result = cli("data", "refresh", "--provider", "azure", "--region", "azure:eastus")
    assert result.code == ExitCode.SOURCE_UNREACHABLE
    assert "warning: azure:eastus: page 2: HTTP 500" in result.err
    assert "error: no prices were refreshed" in result.err and "Traceback" not in result.err
    assert path.read_bytes() == first  # not rewritten at all
    assert not list(Path(azure_dir()).glob(".*.tmp"))
    assert eastus_a100(cli)["on-demand"]["usd_per_hour"] == 9.99

    # with every region asked, the others are refreshed and eastus keeps its prices
    result = cli("data", "refresh", "--provider", "azure")
    assert result.code == 0, result.err
    assert (
        "warning: azure:eastus: page 2: HTTP 500; the previous prices of this region are kept"
        in result.err
    )
    prices = eastus_a100(cli)
    assert prices["on-demand"]["usd_per_hour"] == 9.99 and prices["spot"]["usd_per_hour"] == 1.11


def test_429_with_retry_after_is_waited_for_then_answered(cli, azure):
    azure.throttle = 1
    result = cli("data", "refresh", "--provider", "azure", "--region", "azure:eastus")
    assert result.code == 0, result.err
    first, second = [t for t, r, p in azure.requests if r == "eastus" and p == 0]
    # behaviour, not speed: the client waited as long as Retry-After asked before retrying
    assert second - first >= 0.9
    assert eastus_a100(cli)["on-demand"]["usd_per_hour"] == 9.99


def test_persistent_429_fails_the_region_and_keeps_the_overlay(cli, azure):
    # a bare region name is taken as one of the single --provider's
    assert cli("data", "refresh", "--provider", "azure", "--region", "eastus").code == 0
    path = Path(azure_dir()) / "azure.json"
    first = path.read_bytes()
    azure.throttle = 100
    azure.retry_after = "0"
    result = cli("data", "refresh", "--provider", "azure", "--region", "azure:eastus")
    assert result.code == ExitCode.SOURCE_UNREACHABLE
    assert "rate limited (HTTP 429) after retries" in result.err
    assert path.read_bytes() == first


def test_status_shows_sources_ages_and_counts(cli, azure, monkeypatch):
    before = json.loads(cli("data", "status", "--format", "json").out)
    assert {(s["provider"], s["kind"]) for s in before["sources"]} == {
        ("aws", "shipped"),
        ("azure", "shipped"),
        ("gcp", "shipped"),
    }
    assert cli("data", "refresh", "--provider", "azure", "--region", "azure:eastus").code == 0
    after = json.loads(cli("data", "status", "--format", "json").out)
    refreshed = next(s for s in after["sources"] if s["kind"] == "refreshed")
    assert refreshed["provider"] == "azure" and refreshed["offers"] == 1
    assert refreshed["age_days"] == 0 and refreshed["oldest_price_as_of"] == TODAY
    shipped = next(
        s for s in after["sources"] if s["provider"] == "azure" and s["kind"] == "shipped"
    )
    shipped_before = next(
        s for s in before["sources"] if s["provider"] == "azure" and s["kind"] == "shipped"
    )
    assert shipped["offers"] == shipped_before["offers"] - 1
    assert shipped["age_days"] > 90
    table = cli("data", "status")
    assert table.code == 0 and "refreshed" in table.out and "(stale)" not in table.out
    monkeypatch.setenv("CARBONPLAN_PRICES_MAX_AGE_DAYS", "90")
    assert "(stale)" in cli("data", "status").out


def test_stale_prices_warn_and_refreshed_ones_do_not(cli, azure, monkeypatch):
    monkeypatch.setenv("CARBONPLAN_PRICES_MAX_AGE_DAYS", "90")
    args = ["suggest", "--gpu-hours", "400", "--region", "azure:eastus", "--gpu", "A100-80GB-PCIE"]
    stale = cli(*args, "--format", "json")
    assert stale.code == 0
    assert stale.err.count("warning: the prices of") == 1 and "more than 90 days old" in stale.err
    azure.pages["eastus"] = pages(spot=0.02)  # the cheapest spot price there, by far
    assert cli("data", "refresh", "--provider", "azure", "--region", "azure:eastus").code == 0
    shown = cli(*args, "--format", "json", "--all-sizes", "--top", "0")
    options = json.loads(shown.out)["options"]
    old = [o for o in options if o["price_as_of"] != TODAY]
    assert len(old) == len(options) - 2  # the refreshed instance's on-demand and spot rows
    assert f"the prices of {len(old)} of the {len(options)} option(s)" in shown.err
    # only refreshed rows shown: no warning
    spot = cli(*args, "--format", "json", "--spot", "--objective", "cost", "--top", "1")
    assert json.loads(spot.out)["options"][0]["price_as_of"] == TODAY, spot.out[:2000]
    assert "warning" not in spot.err
    monkeypatch.setenv("CARBONPLAN_PRICES_MAX_AGE_DAYS", "soon")
    cli(*args).assert_one_clear_error("CARBONPLAN_PRICES_MAX_AGE_DAYS='soon'")


def test_a_damaged_overlay_is_skipped_with_a_warning(cli, azure):
    assert cli("data", "refresh", "--provider", "azure", "--region", "azure:eastus").code == 0
    path = Path(azure_dir()) / "azure.json"
    path.write_text(path.read_text()[:-40])
    result = cli("suggest", "--gpu-hours", "400", "--region", "azure:eastus", "--format", "json")
    assert result.code == 0, result.err
    assert "is not valid JSON" in result.err and "using the shipped prices for azure" in result.err
    assert all(o["price_as_of"] != TODAY for o in json.loads(result.out)["options"])
    # a refresh replaces the damaged file
    assert cli("data", "refresh", "--provider", "azure", "--region", "azure:eastus").code == 0
    assert eastus_a100(cli)["on-demand"]["usd_per_hour"] == 9.99


def test_bad_input_is_one_clear_error(cli, azure):
    cli("data", "refresh", "--provider", "ibm").assert_one_clear_error("ibm")
    cli("data", "refresh", "--region", "azure:moon-1").assert_one_clear_error("moon-1")
    cli("data", "refresh", "--provider", "aws", "--region", "azure:eastus").assert_one_clear_error(
        "is not in --provider aws"
    )
    cli("data", "status", "--provider", "aws").assert_one_clear_error("--provider and --region")
    assert azure.requests == []
