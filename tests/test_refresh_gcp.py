"""`carbonplan data refresh --provider gcp` against a local server speaking the Cloud Billing
Catalog API (``GET /v1/services/6F81-5844-456A/skus``) with the SKU shape of
shared/reference/GRID_APIS.md "Cloud prices": description, category (resourceFamily,
resourceGroup, usageType), serviceRegions, pricingInfo[].pricingExpression.tieredRates[].unitPrice
{units, nanos}; pages joined by nextPageToken. Prices are made up."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from fakes import QuietHandler, send, serve

from recommender.errors import ExitCode

REGION = "us-central1"
KEY = "test-key-abc123"


def sku(description: str, group: str, usage: str, usd: float, unit: str = "h") -> dict:
    units, nanos = int(usd), round((usd - int(usd)) * 1e9)
    return {
        "name": f"services/6F81-5844-456A/skus/{abs(hash(description + usage)) % 10**8:X}",
        "skuId": "0000-0000-0000",
        "description": description,
        "category": {
            "serviceDisplayName": "Compute Engine",
            "resourceFamily": "Compute",
            "resourceGroup": group,
            "usageType": usage,
        },
        "serviceRegions": [REGION],
        "pricingInfo": [
            {
                "effectiveTime": "2026-12-01T00:00:00Z",
                "pricingExpression": {
                    "usageUnit": unit,
                    "displayQuantity": 1,
                    "tieredRates": [
                        {
                            "startUsageAmount": 0,
                            "unitPrice": {
                                "currencyCode": "USD",
                                "units": str(units),
                                "nanos": nanos,
                            },
                        }
                    ],
                },
                "currencyConversionRate": 1,
            }
        ],
        "serviceProviderName": "Google",
    }


SKUS = [
    sku("G2 Instance Core running in Americas", "CPU", "OnDemand", 0.03),
    sku("G2 Instance Ram running in Americas", "RAM", "OnDemand", 0.004, "GiBy.h"),
    sku("Nvidia L4 GPU running in Americas", "GPU", "OnDemand", 0.5),
    sku("Spot Preemptible G2 Instance Core running in Americas", "CPU", "Preemptible", 0.01),
    sku(
        "Spot Preemptible G2 Instance Ram running in Americas",
        "RAM",
        "Preemptible",
        0.001,
        "GiBy.h",
    ),
    sku("Spot Preemptible Nvidia L4 GPU running in Americas", "GPU", "Preemptible", 0.2),
    sku("N1 Predefined Instance Core running in Americas", "N1Standard", "OnDemand", 0.04),
    sku(
        "N1 Predefined Instance Ram running in Americas", "N1Standard", "OnDemand", 0.005, "GiBy.h"
    ),
    sku("Nvidia Tesla T4 GPU running in Americas", "GPU", "OnDemand", 0.35),
    sku("Commitment v1: G2 Cpu in Americas for 1 Year", "CPU", "Commit1Yr", 0.02),
    sku("Nvidia Tesla T4 Virtual Workstation GPU running in Americas", "GPU", "OnDemand", 9.0),
    {"description": "broken", "category": {"resourceFamily": "Compute"}},
]


class BillingFake:
    def __init__(self) -> None:
        self.page_size = 5
        self.fail_page: int | None = None
        self.queries: list[dict] = []
        fake = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                fake.queries.append(query)
                if parts.path != "/v1/services/6F81-5844-456A/skus":
                    return self.reply(404, {"error": {"code": 404}})
                if query.get("key") != KEY:
                    return self.reply(403, {"error": {"code": 403, "status": "PERMISSION_DENIED"}})
                start = int(query.get("pageToken") or 0)
                if fake.fail_page is not None and start // fake.page_size == fake.fail_page:
                    return self.reply(503, {"error": {"code": 503}})
                end = start + fake.page_size
                body: dict = {"skus": SKUS[start:end]}
                body["nextPageToken"] = str(end) if end < len(SKUS) else ""
                self.reply(200, body)

            def reply(self, status: int, document: dict) -> None:
                send(self, status, json.dumps(document).encode())

        self.server, self.url = serve(Handler)


@pytest.fixture
def gcp(monkeypatch, tmp_path):
    fake = BillingFake()
    monkeypatch.setenv("CARBONPLAN_GCP_BILLING_URL", fake.url)
    monkeypatch.setenv("CARBONPLAN_GCP_API_KEY", KEY)
    monkeypatch.setenv("CARBONPLAN_OVERLAY_DIR", str(tmp_path / "overlay"))
    monkeypatch.setenv("CARBONPLAN_HTTP_BACKOFF", "0")
    monkeypatch.setenv("CARBONPLAN_HTTP_RETRIES", "1")
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def rows(cli) -> dict[tuple[str, str], dict]:
    result = cli(
        "suggest",
        "--gpu-hours",
        "400",
        "--region",
        f"gcp:{REGION}",
        "--all-sizes",
        "--top",
        "0",
        "--format",
        "json",
        "--max-instances",
        "64",
    )
    assert result.code == 0, result.err
    return {(o["instance_type"], o["market"]): o for o in json.loads(result.out)["options"]}


def test_instance_prices_are_the_sum_of_their_parts(cli, gcp, tmp_path):
    before = rows(cli)
    result = cli("data", "refresh", "--provider", "gcp", "--region", f"gcp:{REGION}")
    assert result.code == 0, result.err
    assert [q.get("pageToken") for q in gcp.queries] == [None, "5", "10"]
    after = rows(cli)
    g2 = after[("g2-standard-8", "on-demand")]  # 8 vCPUs, 32 GiB, 1 x L4
    assert g2["usd_per_hour"] == pytest.approx(8 * 0.03 + 32 * 0.004 + 0.5)
    assert after[("g2-standard-8", "spot")]["usd_per_hour"] == pytest.approx(
        8 * 0.01 + 32 * 0.001 + 0.2
    )
    n1 = after[("n1-highmem-4+T4x1", "on-demand")]  # 4 vCPUs, 26 GiB, 1 x T4 (not the vWS SKU)
    assert n1["usd_per_hour"] == pytest.approx(4 * 0.04 + 26 * 0.005 + 0.35)
    assert (
        n1["price_as_of"]
        == g2["price_as_of"]
        != before[("g2-standard-8", "on-demand")]["price_as_of"]
    )
    # no spot SKUs for N1 here: the refreshed row has no spot price
    assert ("n1-highmem-4+T4x1", "spot") not in after
    # no A2 SKUs in the answer: a2-highgpu-1g keeps its shipped price
    assert after[("a2-highgpu-1g", "on-demand")] == before[("a2-highgpu-1g", "on-demand")]
    overlay = json.loads((tmp_path / "overlay" / "gcp.json").read_text())
    skipped = overlay["regions"][REGION]["skipped"]
    assert skipped["malformed SKU"] == 1 and skipped["no SKUs for its parts"] >= 1
    # the key went as a query parameter and appears nowhere in the output
    assert all(q["key"] == KEY for q in gcp.queries)
    assert KEY not in result.out + result.err + json.dumps(overlay)


def test_a_failing_page_keeps_the_previous_overlay(cli, gcp, tmp_path):
    assert cli("data", "refresh", "--provider", "gcp", "--region", f"gcp:{REGION}").code == 0
    path = tmp_path / "overlay" / "gcp.json"
    first = path.read_bytes()
    gcp.fail_page = 1
    result = cli("data", "refresh", "--provider", "gcp")
    assert result.code == ExitCode.SOURCE_UNREACHABLE
    assert "warning: gcp: GCP Cloud Billing Catalog API: page 2: HTTP 503" in result.err
    assert path.read_bytes() == first


def test_a_refused_key_is_said_without_the_key(cli, gcp, monkeypatch):
    monkeypatch.setenv("CARBONPLAN_GCP_API_KEY", "wrong-key-xyz")
    result = cli("data", "refresh", "--provider", "gcp", "--region", f"gcp:{REGION}")
    assert result.code == ExitCode.SOURCE_UNREACHABLE
    assert "credentials refused (HTTP 403)" in result.err
    assert "wrong-key-xyz" not in result.err + result.out
