"""`carbonplan launch/instances/down` on GCP, against a local fake of the Compute REST API that
google-cloud-compute's REST transport talks to (client_options api_endpoint + anonymous
credentials)."""

from __future__ import annotations

import json

import pytest
from fakes.gcp_compute import FakeCompute, Fault

from recommender.errors import ExitCode

PROJECT = "carbon-test"
REGION = "us-central1"
# data/gcp_zones.csv: a2-highgpu-1g, g2-standard-4 and T4 are in us-central1-a, -b, -c, -f


@pytest.fixture
def gce(monkeypatch):
    fake = FakeCompute().start()
    monkeypatch.setenv("CARBONPLAN_GCP_API_ENDPOINT", fake.url)
    monkeypatch.setenv("CARBONPLAN_GCP_ANONYMOUS", "1")
    monkeypatch.setattr("recommender.launch.gcp.POLL_SECONDS", 0.0)
    monkeypatch.setenv("CARBONPLAN_GCP_RETRY_SECONDS", "0")  # a fault fails at once
    yield fake
    fake.stop()


def option(rank: int, instance_type: str, market: str, *, instances: int = 1, **extra) -> dict:
    gpu, count = {
        "a2-highgpu-1g": ("A100", 1),
        "g2-standard-4": ("L4", 1),
        "n1-highmem-8+T4x2": ("T4", 2),
        "a3-highgpu-8g": ("H100", 8),
    }[instance_type]
    return {
        "rank": rank,
        "provider": "gcp",
        "region": REGION,
        "instance_type": instance_type,
        "market": market,
        "gpu": gpu,
        "gpus_per_instance": count,
        "instances": instances,
        "usd_per_hour": 3.5,
        "wall_hours": 10.0,
        "cost_usd": 35.0 * instances,
        "kgco2e": 4.0,
        **extra,
    }


@pytest.fixture
def plan_file(tmp_path):
    def write(*options: dict) -> str:
        path = tmp_path / "plan.json"
        path.write_text(json.dumps({"options": list(options)}))
        return str(path)

    return write


def launch(cli, plan: str, *extra: str):
    return cli("launch", "--from", plan, "--project", PROJECT, "--name", "job-1", *extra)


def sent_bodies(fake: FakeCompute) -> list[dict]:
    return [r["body"] for r in fake.inserts()]


def expected_body(zone: str, machine: str, scheduling: dict, **extra) -> dict:
    return {
        "name": "job-1",
        "machineType": f"zones/{zone}/machineTypes/{machine}",
        "disks": [
            {
                "boot": True,
                "autoDelete": True,
                "initializeParams": {
                    "sourceImage": "projects/deeplearning-platform-release/global/images/"
                    "family/common-cu128-ubuntu-2204-nvidia-570",
                    "diskSizeGb": "200",
                },
            }
        ],
        "networkInterfaces": [
            {
                "network": "global/networks/default",
                "accessConfigs": [{"name": "External NAT", "type": "ONE_TO_ONE_NAT"}],
            }
        ],
        "scheduling": scheduling,
        **extra,
    }


def without_tags(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in ("labels", "metadata")}


def test_insert_body_on_demand(cli, gce, plan_file):
    result = launch(cli, plan_file(option(1, "a2-highgpu-1g", "on-demand")), "--yes")
    assert result.code == 0, result.err
    [body] = sent_bodies(gce)
    assert without_tags(body) == expected_body(
        "us-central1-a",
        "a2-highgpu-1g",
        {
            "onHostMaintenance": "TERMINATE",
            "automaticRestart": True,
            "provisioningModel": "STANDARD",
        },
    )
    [insert] = gce.inserts()
    assert insert["path"] == f"/compute/v1/projects/{PROJECT}/zones/us-central1-a/instances"
    assert len(insert["query"]["requestId"]) == 36  # a UUID: GCP's idempotency key
    labels = body["labels"]
    assert labels["carbonplan"] == "true" and labels["carbonplan-job"] == "job-1"
    assert len(labels["carbonplan-plan-id"]) == 12
    meta = {m["key"]: m["value"] for m in body["metadata"]["items"]}
    assert meta["carbonplan-kgco2e"] == "4" and meta["carbonplan-usd"] == "35.00"
    assert meta["carbonplan-usd-per-hour"] == "3.5"


def test_insert_body_spot(cli, gce, plan_file):
    result = launch(cli, plan_file(option(1, "g2-standard-4", "spot")), "--yes")
    assert result.code == 0, result.err
    [body] = sent_bodies(gce)
    assert without_tags(body) == expected_body(
        "us-central1-a",
        "g2-standard-4",
        {
            "onHostMaintenance": "TERMINATE",
            "automaticRestart": False,
            "provisioningModel": "SPOT",
            "instanceTerminationAction": "DELETE",
        },
    )


def test_insert_body_n1_with_attached_gpus(cli, gce, plan_file):
    result = launch(
        cli, plan_file(option(1, "n1-highmem-8+T4x2", "on-demand")), "--yes", "--disk-gb", "150"
    )
    assert result.code == 0, result.err
    [body] = sent_bodies(gce)
    want = expected_body(
        "us-central1-a",
        "n1-highmem-8",
        {
            "onHostMaintenance": "TERMINATE",
            "automaticRestart": True,
            "provisioningModel": "STANDARD",
        },
        guestAccelerators=[
            {
                "acceleratorType": "zones/us-central1-a/acceleratorTypes/nvidia-tesla-t4",
                "acceleratorCount": 2,
            }
        ],
    )
    want["disks"][0]["initializeParams"]["diskSizeGb"] = "150"
    assert without_tags(body) == want


def test_waits_on_the_zone_operation(cli, gce, plan_file):
    result = launch(cli, plan_file(option(1, "a2-highgpu-1g", "on-demand")), "--yes")
    assert result.code == 0, result.err
    kinds = [r["kind"] for r in gce.requests]
    assert kinds[-3:] == ["insert", "wait", "get"]  # then: is it there, not stopped?
    wait = gce.requests[-2]
    [operation] = gce.operations  # the one the insert returned, polled until DONE
    assert wait["path"].endswith(f"/zones/us-central1-a/operations/{operation}/wait")
    assert gce.operations[operation]["op"]["status"] == "DONE"
    assert ("us-central1-a", "job-1") in gce.instances
    assert "gcp:us-central1-a/job-1" in result.out


def test_dry_run_sends_nothing(cli, gce, plan_file):
    result = launch(cli, plan_file(option(1, "n1-highmem-8+T4x2", "spot")))
    assert result.code == 0, result.err
    assert "Dry run" in result.out and "nvidia-tesla-t4" in result.out
    assert "us-central1-a, us-central1-b, us-central1-c, us-central1-f" in result.out
    assert gce.requests == []


def test_pool_exhausted_fails_over_to_the_next_zone(cli, gce, plan_file):
    gce.faults.append(Fault("us-central1-a"))
    result = launch(cli, plan_file(option(1, "a2-highgpu-1g", "spot")), "--yes")
    assert result.code == 0, result.err
    zones = [r["path"].split("/")[6] for r in gce.inserts()]
    assert zones == ["us-central1-a", "us-central1-b"]
    assert list(gce.instances) == [("us-central1-b", "job-1")]
    assert "ZONE_RESOURCE_POOL_EXHAUSTED" in result.out and "no-capacity" in result.out


def test_a_503_stockout_moves_on_at_once_while_other_503s_are_retried(
    cli, gce, plan_file, monkeypatch
):
    """A zone out of capacity answered as HTTP 503 is not retried in that zone (the launch
    fails over at once), though a retry budget is set that would retry any other 503."""
    monkeypatch.setenv("CARBONPLAN_GCP_RETRY_SECONDS", "20")
    gce.faults.append(Fault("us-central1-a", mode="sync", status=503))
    result = launch(cli, plan_file(option(1, "a2-highgpu-1g", "spot")), "--yes")
    assert result.code == 0, result.err
    zones = [r["path"].split("/")[6] for r in gce.inserts()]
    assert zones == ["us-central1-a", "us-central1-b"]  # one insert in the zone out of stock
    assert list(gce.instances) == [("us-central1-b", "job-1")]


def test_quota_error_moves_to_the_next_option(cli, gce, plan_file):
    gce.faults.append(
        Fault(
            "us-central1-a",
            code="quotaExceeded",
            mode="sync",
            status=403,
            message="Quota 'NVIDIA_A100_GPUS' exceeded. Limit: 0.0 in region us-central1.",
            machine="a2-highgpu-1g",
        )
    )
    plan = plan_file(option(1, "a2-highgpu-1g", "spot"), option(2, "g2-standard-4", "spot"))
    result = launch(cli, plan, "--yes", "--format", "json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert [(h["rank"], h["zone"], h["outcome"]) for h in doc["history"]] == [
        (1, "us-central1-a", "quota"),
        (2, "us-central1-a", "launched"),
    ]
    assert doc["launched"]["instance_type"] == "g2-standard-4"


def test_second_instance_failing_cleans_up_the_first(cli, gce, plan_file):
    """A two-instance option: instance 2 hits an exhausted pool in zone a, so instance 1 is
    deleted before zone b is tried; nothing is left over in zone a."""
    gce.faults.append(Fault("us-central1-a", name="job-1-2"))
    plan = plan_file(option(1, "a2-highgpu-1g", "spot", instances=2))
    result = launch(cli, plan, "--yes", "--format", "json")
    assert result.code == 0, result.err
    assert sorted(gce.instances) == [("us-central1-b", "job-1-1"), ("us-central1-b", "job-1-2")]
    deletes = [r["path"] for r in gce.requests if r["kind"] == "delete"]
    assert deletes == [f"/compute/v1/projects/{PROJECT}/zones/us-central1-a/instances/job-1-1"]
    history = json.loads(result.out)["history"]
    assert [(h["zone"], h["outcome"], h["cleaned_up"]) for h in history] == [
        ("us-central1-a", "no-capacity", "job-1-1"),
        ("us-central1-b", "launched", ""),
    ]


def test_every_zone_exhausted_exits_5_with_history(cli, gce, plan_file):
    for zone in ("a", "b", "c"):  # g2-standard-4's zones in us-central1 (data/gcp_zones.csv)
        gce.faults.append(Fault(f"us-central1-{zone}"))
    result = launch(cli, plan_file(option(1, "g2-standard-4", "spot")), "--yes")
    assert result.code == ExitCode.LAUNCH_FAILED
    assert "nothing was launched: every eligible option failed (3 attempts)" in result.err
    assert result.out.count("ZONE_RESOURCE_POOL_EXHAUSTED") == 3
    assert gce.instances == {}


def test_instances_and_down(cli, gce, plan_file):
    assert launch(cli, plan_file(option(1, "a2-highgpu-1g", "spot")), "--yes").code == 0
    listed = cli("instances", "--provider", "gcp", "--project", PROJECT, "--format", "json")
    assert listed.code == 0, listed.err
    [record] = json.loads(listed.out)["instances"]
    assert record["id"] == "gcp:us-central1-a/job-1"
    assert record["market"] == "spot" and record["instance_type"] == "a2-highgpu-1g"
    assert record["job_estimated_kgco2e"] == 4.0 and record["usd_per_hour"] == 3.5
    assert record["elapsed_hours"] >= 0
    down = cli("down", "gcp:us-central1-a/job-1", "--project", PROJECT, "--yes")
    assert down.code == 0, down.err
    assert gce.instances == {}


def test_failed_delete_during_cleanup_is_loud(cli, gce, plan_file):
    gce.faults.append(Fault("us-central1-a", name="job-1-2"))
    gce.fail_delete = True
    result = launch(
        cli,
        plan_file(option(1, "a2-highgpu-1g", "spot", instances=2)),
        "--yes",
        "--max-attempts",
        "1",
    )
    assert result.code == ExitCode.LAUNCH_FAILED
    assert "CLEANUP FAILED" in result.err and "gcp:us-central1-a/job-1-1" in result.err
    assert ("us-central1-a", "job-1-1") in gce.instances
