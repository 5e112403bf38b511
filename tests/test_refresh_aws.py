"""`carbonplan data refresh --provider aws`: EC2 calls against moto's server (a real HTTP
endpoint: DescribeInstanceTypeOfferings, DescribeSpotPriceHistory), and the Price List API's
GetProducts (not in moto) from a local server speaking its JSON 1.1 protocol with the shape of
shared/reference/GRID_APIS.md "Cloud prices": ``PriceList`` is a list of JSON *strings*."""

from __future__ import annotations

import json
import urllib.request

import pytest
import test_launch_aws
from fakes import QuietHandler, send, serve

from recommender.errors import ExitCode

REGION = "eu-west-1"  # moto offers every catalog type here but the p3 family


def product(instance_type: str, usd: str, region: str = REGION, unit: str = "Hrs") -> str:
    """One GetProducts PriceList entry (a JSON string), trimmed to the fields that matter."""
    sku = f"SKU{abs(hash((instance_type, region))) % 10**8}"
    return json.dumps(
        {
            "product": {
                "productFamily": "Compute Instance",
                "attributes": {
                    "instanceType": instance_type,
                    "regionCode": region,
                    "operatingSystem": "Linux",
                    "tenancy": "Shared",
                    "preInstalledSw": "NA",
                    "capacitystatus": "Used",
                    "instanceFamily": "GPU instance",
                },
                "sku": sku,
            },
            "serviceCode": "AmazonEC2",
            "terms": {
                "OnDemand": {
                    f"{sku}.JRTCKXETXF": {
                        "priceDimensions": {
                            f"{sku}.JRTCKXETXF.6YS6EN2CT7": {
                                "unit": unit,
                                "pricePerUnit": {"USD": usd},
                                "description": f"${usd} per On Demand Linux {instance_type}",
                            }
                        },
                        "sku": sku,
                        "effectiveDate": "2026-11-01T00:00:00Z",
                    }
                }
            },
            "version": "20261101000000",
        }
    )


class PricingFake:
    """POST / with X-Amz-Target AWSPriceListService.GetProducts; pages of ``page_size``."""

    def __init__(self) -> None:
        self.entries: list[str] = []
        self.page_size = 2
        self.calls: list[dict] = []
        fake = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                target = self.headers.get("X-Amz-Target", "")
                fake.calls.append({"target": target, **body})
                if target != "AWSPriceListService.GetProducts":
                    return self.reply(400, {"__type": "InvalidParameterException"})
                start = int(body.get("NextToken") or 0)
                end = start + fake.page_size
                page: dict = {"FormatVersion": "aws_v1", "PriceList": fake.entries[start:end]}
                if end < len(fake.entries):
                    page["NextToken"] = str(end)
                self.reply(200, page)

            def reply(self, status: int, document: dict) -> None:
                send(self, status, json.dumps(document).encode(), "application/x-amz-json-1.1")

        self.server, self.url = serve(Handler)


moto_url = test_launch_aws.moto_url  # one moto server per module, as the launch tests


@pytest.fixture
def aws(moto_url, monkeypatch, tmp_path):
    urllib.request.urlopen(urllib.request.Request(moto_url + "/moto-api/reset", method="POST"))
    fake = PricingFake()
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL_EC2": moto_url,
        "CARBONPLAN_AWS_PRICING_URL": fake.url,
        "AWS_MAX_ATTEMPTS": "1",
        "CARBONPLAN_OVERLAY_DIR": str(tmp_path / "overlay"),
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def region_rows(cli) -> dict[tuple[str, str], dict]:
    result = cli(
        "suggest",
        "--gpu-hours",
        "400",
        "--region",
        f"aws:{REGION}",
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


def test_refresh_prices_from_get_products_and_zones_from_ec2(cli, aws, tmp_path):
    before = region_rows(cli)
    assert ("p4d.24xlarge", "on-demand") in before
    aws.entries = [
        product("p4d.24xlarge", "55.5000000000"),
        product("g5.xlarge", "0.9990000000"),
        product("m5.large", "0.1000000000"),  # not a GPU instance of the catalog: ignored
        product("g5.2xlarge", "0.0000000000"),  # a zero price (seen in real price lists)
        "{not json",
    ]
    result = cli("data", "refresh", "--provider", "aws", "--region", f"aws:{REGION}")
    assert result.code == 0, result.err
    # GetProducts was paged (2 per page) with the documented filters
    calls = aws.calls
    assert len(calls) == 3 and [c.get("NextToken") for c in calls] == [None, "2", "4"]
    filters = {f["Field"]: f["Value"] for f in calls[0]["Filters"]}
    assert filters == {
        "regionCode": REGION,
        "operatingSystem": "Linux",
        "tenancy": "Shared",
        "preInstalledSw": "NA",
        "capacitystatus": "Used",
    }
    after = region_rows(cli)
    assert after[("p4d.24xlarge", "on-demand")]["usd_per_hour"] == 55.5
    assert after[("g5.xlarge", "on-demand")]["usd_per_hour"] == 0.999
    assert (
        after[("g5.2xlarge", "on-demand")]["usd_per_hour"]
        == before[("g5.2xlarge", "on-demand")]["usd_per_hour"]
    )
    # moto answers every spot price with a placeholder of $0.00001/h: refused as implausible,
    # so the refreshed rows have no spot price rather than a wrong one
    assert ("p4d.24xlarge", "spot") not in after
    overlay = json.loads((tmp_path / "overlay" / "aws.json").read_text())
    region = overlay["regions"][REGION]
    assert region["skipped"]["malformed product"] == 1
    assert region["skipped"]["implausible price"] == 1
    assert region["skipped"]["implausible spot price"] >= 1
    zones = {o["instance_type"]: o["zones"] for o in overlay["offers"]}
    # moto's offering data: p4d.24xlarge in one zone of eu-west-1, g5.xlarge in three
    assert zones["p4d.24xlarge"] == 1 and zones["g5.xlarge"] == 3
    # catalog types that moto's EC2 does not offer in the region are marked unavailable
    gone = {u["instance_type"] for u in overlay["unavailable"]}
    assert gone == {"p3.2xlarge", "p3.8xlarge", "p3.16xlarge"}
    for name in gone:
        assert (name, "on-demand") in before and (name, "on-demand") not in after


def test_no_credentials_is_a_warning_and_nothing_is_written(cli, aws, monkeypatch, tmp_path):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(key)
    result = cli("data", "refresh", "--provider", "aws", "--region", f"aws:{REGION}")
    assert result.code == ExitCode.SOURCE_UNREACHABLE
    assert "warning: aws: AWS Price List API: no AWS credentials" in result.err
    assert not (tmp_path / "overlay" / "aws.json").exists()
    assert aws.calls == []


def test_a_refused_price_list_fails_the_region_by_its_error_code(cli, aws, monkeypatch):
    monkeypatch.setenv("CARBONPLAN_AWS_PRICING_URL", aws.url + "/missing")
    aws.server.RequestHandlerClass.do_POST = lambda self: self.reply(  # type: ignore[attr-defined]
        403, {"__type": "AccessDeniedException", "message": "arn:aws:iam::123456789012:user/x"}
    )
    result = cli("data", "refresh", "--provider", "aws", "--region", f"aws:{REGION}")
    assert result.code == ExitCode.SOURCE_UNREACHABLE
    assert f"warning: aws:{REGION}: Price List: AccessDeniedException (HTTP 403)" in result.err
    assert "123456789012" not in result.err
