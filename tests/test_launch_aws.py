"""`carbonplan launch/instances/down` on AWS, against moto's EC2 server (a real HTTP endpoint on
127.0.0.1) behind a recording proxy that injects the capacity errors moto cannot produce."""

from __future__ import annotations

import json
import re
import urllib.request

import boto3
import pytest
from fakes.aws_proxy import Ec2Proxy, Rule
from moto.server import ThreadedMotoServer

from recommender.errors import ExitCode

REGION = "eu-north-1"
# In moto's offering data p5en.48xlarge is in eu-north-1a and -1c, p5.48xlarge in a, b, c.
JOB = ["--gpu-hours", "400", "--provider", "aws", "--region", f"aws:{REGION}", "--spot"]


@pytest.fixture(scope="module")
def moto_url():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def ec2(moto_url, monkeypatch, tmp_path):
    """A clean moto behind a fresh proxy; boto3 reaches it through AWS_ENDPOINT_URL_EC2."""
    urllib.request.urlopen(urllib.request.Request(moto_url + "/moto-api/reset", method="POST"))
    proxy = Ec2Proxy(moto_url).start()
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL_EC2": proxy.url,
        "AWS_MAX_ATTEMPTS": "1",
        # `down` with a bare id also asks GCP; never let ADC probe a metadata server
        "NO_GCE_CHECK": "True",
        "GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "no-adc.json"),
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr("recommender.launch.aws.POLL_SECONDS", 0.01)
    yield proxy
    proxy.stop()


def moto_instances(moto_url: str) -> list[dict]:
    client = boto3.client("ec2", region_name=REGION, endpoint_url=moto_url)
    return [i for r in client.describe_instances()["Reservations"] for i in r["Instances"]]


def running(moto_url: str) -> list[dict]:
    return [i for i in moto_instances(moto_url) if i["State"]["Name"] in ("pending", "running")]


def tags(instance: dict) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in instance.get("Tags", [])}


def table_rows(text: str) -> list[str]:
    """Rows of a printed table, with the lines of a wrapped row joined."""
    rows: list[str] = []
    for line in text.splitlines():
        if not line.startswith("│"):
            continue
        if re.match(r"│ *\d+ ", line) or not rows:
            rows.append(line)
        else:
            rows[-1] += " " + line
    return rows


def plan_options(cli, *args: str) -> list[dict]:
    result = cli("suggest", *args, "--top", "0", "--format", "json")
    assert result.code == 0, result.err
    return json.loads(result.out)["options"]


def test_dry_run_is_the_default_and_makes_no_mutating_call(cli, ec2):
    result = cli("launch", *JOB)
    assert result.code == 0, result.err
    assert "Dry run: nothing is created" in result.out
    assert "p5en.48xlarge" in result.out and "eu-north-1a, eu-north-1c" in result.out
    assert '"InstanceType": "p5en.48xlarge"' in result.out  # the exact request
    assert "ec2:RunInstances" in result.out  # the calls it would make
    assert ec2.mutating() == []
    # only read-only offering checks (for the option and the ones failover would try)
    assert {r["action"] for r in ec2.requests} == {"DescribeInstanceTypeOfferings"}


def test_dry_run_json_shows_request_tags_and_estimates(cli, ec2):
    best = plan_options(cli, *JOB)[0]
    doc = json.loads(cli("launch", *JOB, "--dry-run", "--format", "json").out)
    assert doc["dry_run"] is True and ec2.mutating() == []
    request = doc["request"]
    assert request["InstanceType"] == best["instance_type"] == "p5en.48xlarge"
    assert request["Placement"] == {"AvailabilityZone": "eu-north-1a"}
    assert request["InstanceMarketOptions"]["MarketType"] == "spot"
    assert doc["tags"]["carbonplan:kgco2e"] == f"{best['kgco2e']:.6g}"
    assert doc["tags"]["carbonplan:usd"] == f"{best['cost_usd']:.2f}"
    assert doc["zones"] == ["eu-north-1a", "eu-north-1c"]
    assert doc["failover"][0]["zones"] == ["eu-north-1a", "eu-north-1c"]


def test_launch_on_demand_with_tags(cli, ec2, moto_url):
    args = ["--gpu-hours", "400", "--provider", "aws", "--region", f"aws:{REGION}", "--on-demand"]
    best = plan_options(cli, *args)[0]
    result = cli("launch", *args, "--yes", "--name", "bert-ft", "--key-name", "me")
    assert result.code == 0, result.err
    [sent] = ec2.calls("RunInstances")
    assert sent["InstanceType"] == "p5en.48xlarge"
    assert sent["Placement.AvailabilityZone"] == "eu-north-1a"
    assert sent["ClientToken"].startswith("carbonplan-")
    assert sent["KeyName"] == "me"
    assert "InstanceMarketOptions.MarketType" not in sent
    assert sent["BlockDeviceMapping.1.Ebs.VolumeSize"] == "200"
    [instance] = running(moto_url)
    assert instance["InstanceType"] == "p5en.48xlarge"
    assert instance.get("InstanceLifecycle") != "spot"
    t = tags(instance)
    assert t["Name"] == t["carbonplan:job"] == "bert-ft"
    assert float(t["carbonplan:kgco2e"]) == pytest.approx(best["kgco2e"], rel=1e-5)
    assert float(t["carbonplan:usd"]) == pytest.approx(best["cost_usd"], abs=0.01)
    assert len(t["carbonplan:plan-id"]) == 12
    assert f"aws:eu-north-1a/{instance['InstanceId']}" in result.out


def test_launch_spot_uses_instance_market_options(cli, ec2, moto_url):
    result = cli("launch", *JOB, "--yes")
    assert result.code == 0, result.err
    [sent] = ec2.calls("RunInstances")
    assert sent["InstanceMarketOptions.MarketType"] == "spot"
    assert sent["InstanceMarketOptions.SpotOptions.SpotInstanceType"] == "one-time"
    [instance] = running(moto_url)
    assert instance["InstanceLifecycle"] == "spot"
    assert tags(instance)["carbonplan:market"] == "spot"


def test_rerun_finds_the_running_instance_instead_of_launching_again(cli, ec2, moto_url):
    assert cli("launch", *JOB, "--yes").code == 0
    again = cli("launch", *JOB, "--yes")
    assert again.code == 0, again.err
    assert "Already running" in again.out
    assert len(ec2.calls("RunInstances")) == 1
    assert len(running(moto_url)) == 1


def test_a_retried_run_instances_sends_the_same_client_token(cli, ec2, moto_url, monkeypatch):
    """botocore retries a 5xx with identical parameters: one ClientToken, one instance."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    ec2.rules.append(Rule("RunInstances", code="InternalError", message="try again", times=1))
    result = cli("launch", *JOB, "--yes")
    assert result.code == 0, result.err
    sent = ec2.calls("RunInstances")
    assert len(sent) == 2 and sent[0]["ClientToken"] == sent[1]["ClientToken"]
    assert len(running(moto_url)) == 1


def test_no_capacity_fails_over_to_the_next_zone(cli, ec2, moto_url):
    ec2.rules.append(
        Rule("RunInstances", when=lambda p: p["Placement.AvailabilityZone"] == "eu-north-1a")
    )
    result = cli("launch", *JOB, "--yes")
    assert result.code == 0, result.err
    zones = [p["Placement.AvailabilityZone"] for p in ec2.calls("RunInstances")]
    assert zones == ["eu-north-1a", "eu-north-1c"]
    [instance] = running(moto_url)
    assert instance["Placement"]["AvailabilityZone"] == "eu-north-1c"
    assert "no-capacity" in result.out and "InsufficientInstanceCapacity" in result.out


def test_failing_first_choice_ends_on_the_next_option_with_history_and_no_leftovers(
    cli, ec2, moto_url
):
    """Must show: the first choice fails everywhere (one zone reports no capacity, the other
    starts an instance that is reclaimed before it runs); carbonplan cleans that up and ends
    with a running instance of the next eligible option."""
    options = plan_options(cli, *JOB)
    assert [o["instance_type"] for o in options[:2]] == ["p5en.48xlarge", "p5.48xlarge"]
    first = lambda p: p["InstanceType"] == "p5en.48xlarge"  # noqa: E731
    ec2.rules += [
        Rule(
            "RunInstances",
            when=lambda p: first(p) and p["Placement.AvailabilityZone"] == "eu-north-1a",
        ),
        Rule(
            "RunInstances",
            when=lambda p: first(p) and p["Placement.AvailabilityZone"] == "eu-north-1c",
            lose=True,
        ),
    ]
    result = cli("launch", *JOB, "--yes")
    assert result.code == 0, result.err
    # the printed history: both failures of rank 1, then rank 2 launched
    assert "Launch attempts" in result.out
    rows = table_rows(result.out)
    assert len(rows) == 3
    assert "no-capacity" in rows[0] and "eu-north-1a" in rows[0]
    assert "lost-before-running" in rows[1] and "cleaned up" in rows[1]
    assert "launched" in rows[2] and "p5.48xlarge" in rows[2]
    # the cloud: exactly one instance left running, of the next option; the lost one is gone
    [alive] = running(moto_url)
    assert alive["InstanceType"] == "p5.48xlarge"
    lost = [i for i in moto_instances(moto_url) if i["InstanceType"] == "p5en.48xlarge"]
    assert len(lost) == 1 and lost[0]["State"]["Name"] == "terminated"
    assert lost[0]["InstanceId"] in rows[1]
    assert [
        p["InstanceIds.1"] if "InstanceIds.1" in p else p.get("InstanceId.1")
        for p in ec2.calls("TerminateInstances")
    ][-1] == lost[0]["InstanceId"]


def test_mid_way_failure_cleans_up_and_exits_5(cli, ec2, moto_url):
    """RunInstances succeeds, then waiting for it fails (not retryable): terminate, report."""
    ec2.rules.append(
        Rule(
            "DescribeInstances",
            when=lambda p: "InstanceId.1" in p,
            code="UnauthorizedOperation",
            message="You are not authorized to perform this operation.",
            status=403,
        )
    )
    result = cli("launch", *JOB, "--yes")
    assert result.code == ExitCode.LAUNCH_FAILED
    assert "UnauthorizedOperation" in result.err
    [instance] = moto_instances(moto_url)
    assert instance["State"]["Name"] == "terminated"
    assert "cleaned up" in result.out and instance["InstanceId"] in result.out


def test_failed_cleanup_is_reported_loudly_with_ids(cli, ec2, moto_url):
    ec2.rules += [
        Rule("DescribeInstances", when=lambda p: "InstanceId.1" in p, code="Boom", status=400),
        Rule("TerminateInstances", code="UnauthorizedOperation", status=403),
    ]
    result = cli("launch", *JOB, "--yes")
    assert result.code == ExitCode.LAUNCH_FAILED
    [instance] = running(moto_url)
    assert "CLEANUP FAILED" in result.err and instance["InstanceId"] in result.err
    assert f"carbonplan down aws:eu-north-1a/{instance['InstanceId']}" in result.err


def test_failover_never_leaves_the_constraints(cli, ec2, moto_url):
    options = plan_options(cli, *JOB)
    budget = options[1]["cost_usd"]  # only options costing at most rank 2's price are allowed
    allowed = {o["instance_type"] for o in options if o["cost_usd"] <= budget}
    ec2.rules.append(Rule("RunInstances"))  # no capacity anywhere
    result = cli("launch", *JOB, "--max-cost", str(budget), "--max-attempts", "50", "--yes")
    assert result.code == ExitCode.LAUNCH_FAILED
    assert "nothing was launched" in result.err
    tried = {p["InstanceType"] for p in ec2.calls("RunInstances")}
    assert tried and tried <= allowed
    assert running(moto_url) == []


def test_max_attempts_bounds_the_create_calls(cli, ec2):
    ec2.rules.append(Rule("RunInstances"))
    result = cli("launch", *JOB, "--max-attempts", "3", "--yes")
    assert result.code == ExitCode.LAUNCH_FAILED
    assert len(ec2.calls("RunInstances")) == 3
    assert "--max-attempts 3 reached" in result.err


def test_quota_error_skips_the_rest_of_the_region(cli, ec2, moto_url):
    ec2.rules.append(
        Rule(
            "RunInstances",
            when=lambda p: p["InstanceType"] == "p5en.48xlarge",
            code="VcpuLimitExceeded",
            message="You have requested more vCPU capacity than your current vCPU limit",
            status=400,
        )
    )
    result = cli("launch", *JOB, "--yes")
    assert result.code == 0, result.err
    kinds = [p["InstanceType"] for p in ec2.calls("RunInstances")]
    assert kinds == ["p5en.48xlarge", "p5.48xlarge"]  # not the p5en's second zone
    assert "quota" in result.out


def test_type_not_offered_in_the_region_is_skipped(cli, ec2, moto_url, tmp_path):
    """The offering check: a saved plan whose first option is not offered there."""
    options = plan_options(cli, *JOB)[:2]
    options[0] = {**options[0], "instance_type": "p3dn.24xlarge"}  # not in eu-north-1
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"options": options}))
    result = cli("launch", "--from", str(plan), "--yes")
    assert result.code == 0, result.err
    assert "not-offered" in result.out
    assert [p["InstanceType"] for p in ec2.calls("RunInstances")] == [options[1]["instance_type"]]


def test_instances_lists_estimates_and_elapsed_and_down_terminates(cli, ec2, moto_url):
    assert cli("launch", *JOB, "--yes", "--name", "job-a").code == 0
    listed = cli("instances", "--provider", "aws", "--region", f"aws:{REGION}", "--format", "json")
    assert listed.code == 0, listed.err
    [record] = json.loads(listed.out)["instances"]
    [instance] = running(moto_url)
    assert record["id"] == f"aws:eu-north-1a/{instance['InstanceId']}"
    assert record["name"] == "job-a" and record["market"] == "spot"
    assert record["elapsed_hours"] >= 0
    assert record["job_estimated_kgco2e"] == pytest.approx(
        float(tags(instance)["carbonplan:kgco2e"])
    )
    assert record["elapsed_cost_usd"] == pytest.approx(
        record["usd_per_hour"] * record["elapsed_hours"], abs=1e-3
    )
    table = cli("instances", "--provider", "aws", "--region", f"aws:{REGION}")
    assert instance["InstanceId"] in table.out and "1 carbonplan instance" in table.out

    # down refuses what carbonplan did not launch, and asks unless --yes
    other = boto3.client("ec2", region_name=REGION, endpoint_url=moto_url).run_instances(
        ImageId="ami-12345678", InstanceType="t3.micro", MinCount=1, MaxCount=1
    )["Instances"][0]["InstanceId"]
    refused = cli("down", other, "--yes")
    assert refused.code == ExitCode.BAD_INPUT and "not a running carbonplan instance" in refused.err
    unconfirmed = cli("down", record["id"])
    assert unconfirmed.code == ExitCode.BAD_INPUT and "--yes" in unconfirmed.err
    assert ec2.calls("TerminateInstances") == []

    stopped = cli("down", record["id"], "--yes")
    assert stopped.code == 0, stopped.err
    assert "terminating" in stopped.out
    states = {i["InstanceId"]: i["State"]["Name"] for i in moto_instances(moto_url)}
    assert states[instance["InstanceId"]] == "terminated"
    assert states[other] == "running"
