"""launch's promises under failure (issue 18), and bounded EC2 calls (issue 13 item 4).

Every fault is injected at a server: moto's EC2 behind the recording proxy of tests/fakes
(error answers, slow answers, instances shown stuck in a state, an empty image lookup), the
local Compute REST fake (failed and stuck operations, failing lists/gets/deletes, instances
left behind or in a state), and a real local server that accepts connections and never
answers. The promises checked on the fake cloud afterwards: no second machine on a rerun,
nothing of this run left running after a failure or Ctrl-C (or exactly what it reports), and
`down` never silently leaves an instance up.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import test_launch_aws
import test_launch_gcp
from fakes.aws_proxy import Rule
from fakes.gcp_compute import FakeCompute, Fault
from test_launch_aws import JOB, REGION, moto_instances, plan_options, running
from test_launch_gcp import PROJECT, option
from test_signals import carbonplan, finish

from recommender.errors import ExitCode

# the fixtures of the launch tests: moto's EC2 server behind the recording proxy, the GCP fake
moto_url = test_launch_aws.moto_url
ec2 = test_launch_aws.ec2
gce = test_launch_gcp.gce
plan_file = test_launch_gcp.plan_file


# --- a server that accepts and never answers -------------------------------------------------


class HangingServer:
    """Accepts TCP connections on 127.0.0.1, reads each request's head, and never answers.
    ``requests`` counts the requests it received (one per attempt of the client)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.requests = 0
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._read_head, args=(conn,), daemon=True).start()

    def _read_head(self, conn: socket.socket) -> None:
        with self._lock:
            self._held.append(conn)
        data = b""
        conn.settimeout(30)
        try:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
        except OSError:
            return
        with self._lock:
            self.requests += 1

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        with self._lock:
            for conn in self._held:
                conn.close()


@pytest.fixture
def hanging() -> Iterator[HangingServer]:
    server = HangingServer()
    yield server
    server.close()


def warm(moto_url: str) -> None:
    """moto builds a region's data on its first request (seconds on a busy machine): do that
    before a test that bounds the calls going through the proxy to it."""
    client = boto3.client("ec2", region_name=REGION, endpoint_url=moto_url)
    client.describe_instances()
    client.describe_instance_type_offerings(LocationType="availability-zone")


def bound_ec2(monkeypatch, connect: float, read: float, attempts: int) -> None:
    monkeypatch.setenv("CARBONPLAN_AWS_CONNECT_TIMEOUT", str(connect))
    monkeypatch.setenv("CARBONPLAN_AWS_READ_TIMEOUT", str(read))
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", str(attempts))


@pytest.mark.parametrize("command", ["instances", "launch"])
def test_a_hanging_ec2_endpoint_fails_within_its_bound_and_names_it(
    cli, ec2, hanging, monkeypatch, command
):
    """An endpoint that accepts and never answers: every attempt is cut at the read timeout,
    the attempts are the stated number, and the message names the endpoint, the region and
    the bound, not credentials."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", hanging.url)
    bound_ec2(monkeypatch, connect=2, read=0.5, attempts=2)
    if command == "instances":
        result = cli("instances", "--provider", "aws", "--region", f"aws:{REGION}")
    else:
        result = cli("launch", *JOB, "--yes")
    assert result.code == ExitCode.LAUNCH_FAILED, result.err
    assert hanging.requests == 2  # AWS_MAX_ATTEMPTS, each one cut off
    message, hint = result.err, result.err.strip().splitlines()[-1]
    assert hanging.url in message and REGION in message
    assert "0.5 s read timeout" in message and "2 attempt(s)" in message
    assert "credential" not in result.err.lower()
    assert hint.startswith("hint: ") and "CARBONPLAN_AWS_READ_TIMEOUT" in hint
    assert "Traceback" not in result.err


def test_instances_across_every_region_asks_them_at_once(cli, ec2, hanging, monkeypatch):
    """Listing every AWS region of the catalog against a hanging endpoint: each region is
    asked once per attempt and the listing fails with the timeout (not credentials)."""
    from recommender.catalog import load_catalog

    offers = load_catalog().offers
    regions = sorted(set(offers.loc[offers["provider"] == "aws", "region"]))
    monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", hanging.url)
    bound_ec2(monkeypatch, connect=2, read=0.5, attempts=1)
    result = cli("instances", "--provider", "aws")
    assert result.code == ExitCode.LAUNCH_FAILED
    assert hanging.requests == len(regions)
    assert "read timeout" in result.err and "credential" not in result.err.lower()


def test_an_unreachable_ec2_endpoint_is_named(cli, ec2, monkeypatch):
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now: connection refused
    monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", f"http://127.0.0.1:{port}")
    bound_ec2(monkeypatch, connect=1, read=1, attempts=1)
    result = cli("instances", "--provider", "aws", "--region", f"aws:{REGION}")
    assert result.code == ExitCode.LAUNCH_FAILED
    assert f"127.0.0.1:{port}" in result.err and "Unreachable" in result.err
    assert "credential" not in result.err.lower()


@pytest.mark.parametrize("value", ["soon", "0", "-1", "nan"])
def test_a_bad_ec2_bound_is_one_clear_error(cli, ec2, monkeypatch, value):
    monkeypatch.setenv("CARBONPLAN_AWS_READ_TIMEOUT", value)
    result = cli("instances", "--provider", "aws", "--region", f"aws:{REGION}")
    result.assert_one_clear_error("CARBONPLAN_AWS_READ_TIMEOUT")


def test_the_stated_worst_case_bound():
    from recommender.launch.aws import CallBounds

    bounds = CallBounds(connect_s=5, read_s=20, attempts=3)
    # 3 attempts of (connect + read), and botocore's standard backoff between them (< 1 s, 2 s)
    assert bounds.worst_case_s == 3 * 25 + 1 + 2
    assert CallBounds(connect_s=1, read_s=1, attempts=1).worst_case_s == 2


def test_a_run_instances_answer_lost_to_the_timeout_is_found_and_cleaned_up(
    cli, ec2, moto_url, monkeypatch
):
    """RunInstances takes effect but its answer comes after the read timeout (one attempt):
    carbonplan looks for what it started by its launch key and terminates it."""
    warm(moto_url)
    bound_ec2(monkeypatch, connect=2, read=1.5, attempts=1)
    ec2.rules.append(Rule("RunInstances", slow_s=5, times=1))
    result = cli("launch", *JOB, "--yes", "--max-attempts", "1", "--format", "json")
    assert result.code == ExitCode.LAUNCH_FAILED
    [instance] = moto_instances(moto_url)
    assert instance["State"]["Name"] == "terminated"
    assert running(moto_url) == []
    assert "read timeout" in result.err
    [attempt] = json.loads(result.out)["history"]
    assert attempt["outcome"] == "error" and attempt["code"] == "Timeout"
    assert attempt["cleaned_up"] == instance["InstanceId"]


def test_a_retried_run_instances_after_a_lost_answer_starts_one_machine(
    cli, ec2, moto_url, monkeypatch
):
    """The first RunInstances takes effect, its answer is too late; botocore retries with the
    same ClientToken and EC2 answers with what the first one started: one instance."""
    warm(moto_url)
    bound_ec2(monkeypatch, connect=2, read=1.5, attempts=2)
    ec2.rules.append(Rule("RunInstances", slow_s=5, times=1))
    result = cli("launch", *JOB, "--yes", "--format", "json")
    assert result.code == 0, result.err
    sent = ec2.calls("RunInstances")
    assert len(sent) == 2 and sent[0]["ClientToken"] == sent[1]["ClientToken"]
    [instance] = running(moto_url)
    assert json.loads(result.out)["launched"]["instance_ids"] == [instance["InstanceId"]]


def test_a_lost_answer_and_a_failing_lookup_say_it_may_be_running(cli, ec2, moto_url, monkeypatch):
    """RunInstances' answer is lost and the lookup by launch key fails too: the error says an
    instance may exist and how to find it (a rerun finds it)."""
    warm(moto_url)
    bound_ec2(monkeypatch, connect=2, read=1.5, attempts=1)
    lookups: list[dict[str, str]] = []

    def second_lookup(params: dict[str, str]) -> bool:
        # the lookup before the launch passes; the one after the lost answer fails
        if not params.get("Filter.1.Name", "").startswith("tag:"):
            return False
        lookups.append(params)
        return len(lookups) == 2

    ec2.rules += [
        Rule("RunInstances", slow_s=5, times=1),
        Rule("DescribeInstances", when=second_lookup, code="InternalError", status=500),
    ]
    result = cli("launch", *JOB, "--yes", "--max-attempts", "1")
    assert result.code == ExitCode.LAUNCH_FAILED
    assert "may have started an instance" in result.err
    assert f"carbonplan instances --region aws:{REGION}" in result.err
    assert len(running(moto_url)) == 1  # it is there: the message did not lie
    rerun = cli("launch", *JOB, "--yes")
    assert rerun.code == 0 and "Already running" in rerun.out
    assert len(running(moto_url)) == 1


# --- AWS: waiting, images, zone lookup, down -------------------------------------------------


def test_an_instance_stuck_in_pending_times_out_and_is_terminated(cli, ec2, moto_url, monkeypatch):
    monkeypatch.setattr("recommender.launch.aws.WAIT_SECONDS", 0.2)
    ec2.rules.append(Rule("DescribeInstances", when=lambda p: "InstanceId.1" in p, state="pending"))
    result = cli("launch", *JOB, "--yes", "--max-attempts", "1")
    assert result.code == ExitCode.LAUNCH_FAILED
    assert "not running after 0.2 s" in result.err and "pending" in result.err
    [instance] = moto_instances(moto_url)
    assert instance["State"]["Name"] == "terminated"
    assert "cleaned up" in result.out and instance["InstanceId"] in result.out


def _register_image(moto_url: str, root: str) -> str:
    client = boto3.client("ec2", region_name=REGION, endpoint_url=moto_url)
    return client.register_image(
        Name="my-image",
        RootDeviceName=root,
        BlockDeviceMappings=[{"DeviceName": root, "Ebs": {"VolumeSize": 8}}],
    )["ImageId"]


def test_a_custom_image_uses_its_root_device(cli, ec2, moto_url):
    """The image's root device name comes from DescribeImages (moto always says /dev/sda1,
    so the proxy answers the lookup as EC2 does for an Amazon Linux image)."""
    image = _register_image(moto_url, "/dev/xvda")
    ec2.rules.append(
        Rule(
            "DescribeImages",
            body=(
                "<DescribeImagesResponse><imagesSet><item>"
                f"<imageId>{image}</imageId><rootDeviceName>/dev/xvda</rootDeviceName>"
                "</item></imagesSet></DescribeImagesResponse>"
            ).encode(),
        )
    )
    result = cli("launch", *JOB, "--yes", "--image", image)
    assert result.code == 0, result.err
    [looked_up] = ec2.calls("DescribeImages")
    assert looked_up["ImageId.1"] == image
    [sent] = ec2.calls("RunInstances")
    assert sent["ImageId"] == image
    assert sent["BlockDeviceMapping.1.DeviceName"] == "/dev/xvda"
    [instance] = running(moto_url)
    assert instance["ImageId"] == image


def test_an_unknown_custom_image_stops_at_once_with_a_hint(cli, ec2, moto_url):
    result = cli("launch", *JOB, "--yes", "--image", "ami-0123456789abcdef0")
    assert result.code == ExitCode.LAUNCH_FAILED
    assert "InvalidAMIID" in result.err and "hint:" in result.err
    assert ec2.calls("RunInstances") == [] and moto_instances(moto_url) == []


def test_an_image_missing_from_the_answer_is_named_in_the_dry_run(cli, ec2):
    ec2.rules.append(
        Rule(
            "DescribeImages", body=b"<DescribeImagesResponse><imagesSet/></DescribeImagesResponse>"
        )
    )
    result = cli("launch", *JOB, "--image", "ami-0123456789abcdef0", "--format", "json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["request"] is None
    assert any(
        "request not fully resolved" in n and "ami-0123456789abcdef0 not found" in n
        for n in doc["notes"]
    )
    assert ec2.mutating() == []


def test_an_opt_in_region_in_the_zone_lookup_moves_to_the_next_option(cli, ec2, moto_url):
    options = plan_options(cli, *JOB)
    ec2.rules.append(
        Rule(
            "DescribeInstanceTypeOfferings",
            code="OptInRequired",
            message="You are not subscribed to this service.",
            status=401,
            times=1,
        )
    )
    result = cli("launch", *JOB, "--yes", "--format", "json")
    assert result.code == 0, result.err
    history = json.loads(result.out)["history"]
    assert [(h["rank"], h["zone"], h["outcome"]) for h in history] == [
        (options[0]["rank"], "", "unsupported"),
        (options[1]["rank"], "eu-north-1a", "launched"),
    ]
    [instance] = running(moto_url)
    assert instance["InstanceType"] == options[1]["instance_type"]


@pytest.mark.parametrize(
    ("action", "when"),
    [
        ("DescribeInstanceTypeOfferings", lambda p: True),
        ("DescribeInstances", lambda p: p.get("Filter.1.Name", "").startswith("tag:")),
    ],
    ids=["zone-lookup", "earlier-run-lookup"],
)
def test_an_auth_failure_before_any_create_stops_with_the_credentials_hint(cli, ec2, action, when):
    message = "AWS was not able to validate the provided access credentials"
    ec2.rules.append(Rule(action, when=when, code="AuthFailure", message=message, status=401))
    result = cli("launch", *JOB, "--yes")
    assert result.code == ExitCode.LAUNCH_FAILED
    assert f"launch stopped: AuthFailure: {message}" in result.err
    assert "aws configure" in result.err  # this one is about credentials
    assert ec2.calls("RunInstances") == []


def test_a_dry_run_with_a_failing_zone_lookup_says_so(cli, ec2):
    ec2.rules.append(Rule("DescribeInstanceTypeOfferings", code="AuthFailure", status=401))
    result = cli("launch", *JOB, "--format", "json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["zones"] == [] and doc["zones_source"].startswith("not checked (AuthFailure")
    assert ec2.mutating() == []


def test_down_when_terminate_fails_says_it_is_still_running(cli, ec2, moto_url):
    assert cli("launch", *JOB, "--yes").code == 0
    [instance] = running(moto_url)
    qualified = f"aws:{instance['Placement']['AvailabilityZone']}/{instance['InstanceId']}"
    ec2.rules.append(
        Rule("TerminateInstances", code="UnauthorizedOperation", message="no", status=403)
    )
    result = cli("down", qualified, "--yes", "--format", "json")
    assert result.code == ExitCode.LAUNCH_FAILED
    [row] = json.loads(result.out)["terminated"]
    assert row["id"] == qualified and row["status"].startswith("FAILED: ")
    assert f"could not terminate {qualified}" in result.err
    assert "still running and cost money" in result.err
    [still] = running(moto_url)  # the promise: it says so, and it is true
    assert still["InstanceId"] == instance["InstanceId"]


# --- failover: an interrupt after the instance started (in-process, a real SIGINT) ----------


def _choices(cli) -> list:
    from recommender.commands.launch import _choice

    return [_choice(o) for o in plan_options(cli, *JOB)]


def _specs(backend):
    from recommender.commands.launch import _Specs

    return _Specs(
        plan_id="p" * 12,
        name="sig-test",
        image=None,
        disk_gb=200,
        key_name=None,
        ssh_key=None,
        backend_for=lambda provider: backend,
    )


@pytest.mark.parametrize("keep", [False, True])
def test_sigint_just_after_the_launch_rolls_it_back_unless_kept(cli, ec2, moto_url, keep):
    """The signal arrives while the "launched" attempt is being reported (a callback of the
    caller): the run rolls back what it started (or keeps it with keep_on_interrupt), records
    it, and hands the interrupt back."""
    from recommender.launch import get_backend, run_failover

    backend = get_backend("aws")

    def on_attempt(attempt) -> None:
        if attempt.outcome == "launched":
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # the KeyboardInterrupt arrives here

    outcome = run_failover(
        _choices(cli),
        lambda provider: backend,
        _specs(backend),
        max_attempts=6,
        on_attempt=on_attempt,
        keep_on_interrupt=keep,
    )
    assert isinstance(outcome.interrupted, KeyboardInterrupt)
    last = outcome.history[-1]
    assert last.outcome == "interrupted" and len(last.instance_ids) == 1
    [instance] = moto_instances(moto_url)
    assert instance["InstanceId"] == last.instance_ids[0]
    if keep:
        assert instance["State"]["Name"] == "running"
        assert outcome.launched is not None and last.cleaned_up == ()
    else:
        assert instance["State"]["Name"] == "terminated"
        assert outcome.launched is None and last.cleaned_up == last.instance_ids


# --- GCP -------------------------------------------------------------------------------------


def gcp_env(fake: FakeCompute) -> dict[str, str]:
    return dict(
        os.environ,
        CARBONPLAN_GCP_API_ENDPOINT=fake.url,
        CARBONPLAN_GCP_ANONYMOUS="1",
        CARBONPLAN_GCP_RETRY_SECONDS="0",
    )


launch_gcp = test_launch_gcp.launch


def launch_gcp_child(fake: FakeCompute, plan: str, *extra: str):
    """``launch_gcp`` as a real child process against ``fake``, for signals."""
    args = ("launch", "--from", plan, "--project", PROJECT, "--name", "job-1", "--yes")
    return carbonplan(*args, *extra, env=gcp_env(fake))


def test_gcp_launch_twice_finds_exactly_one_instance(cli, gce, plan_file):
    plan = plan_file(option(1, "a2-highgpu-1g", "spot"))
    first = launch_gcp(cli, plan, "--yes", "--format", "json")
    assert first.code == 0, first.err
    second = launch_gcp(cli, plan, "--yes", "--format", "json")
    assert second.code == 0, second.err
    assert list(gce.instances) == [("us-central1-a", "job-1")]
    assert len(gce.inserts()) == 1
    again = json.loads(second.out)
    assert again["launched"]["already_running"] is True
    assert again["launched"]["ids"] == json.loads(first.out)["launched"]["ids"]
    assert [h["outcome"] for h in again["history"]] == ["already-running"]


@pytest.mark.parametrize(
    ("status", "reused"),
    [("PROVISIONING", True), ("STAGING", True), ("STOPPING", False), ("SUSPENDED", False)],
)
def test_gcp_rerun_reuses_only_an_instance_that_is_starting_or_running(
    cli, gce, plan_file, status, reused
):
    plan = plan_file(option(1, "a2-highgpu-1g", "spot"))
    assert launch_gcp(cli, plan, "--yes").code == 0
    gce.instances[("us-central1-a", "job-1")]["status"] = status
    again = launch_gcp(cli, plan, "--yes", "--format", "json")
    if reused:
        assert again.code == 0, again.err
        assert json.loads(again.out)["launched"]["already_running"] is True
        assert len(gce.inserts()) == 1
    else:  # a stopped one is not "running": launching again meets its name; it is not ours
        # to delete (the insert was refused): one clear error, the instance untouched
        assert again.code == ExitCode.LAUNCH_FAILED
        assert f"job-1 in us-central1-a is {status}" in again.err
        assert "another --name" in again.err
        assert gce.instances[("us-central1-a", "job-1")]["status"] == status
        assert not any(r["kind"] == "delete" for r in gce.requests)


def test_gcp_rerun_after_down_launches_one_again(cli, gce, plan_file):
    """launch, down, launch: the second insert in the first zone carries the request id GCP
    already saw, so GCP answers with the first insert's operation; the instance is gone, so
    that is not a launch: the next zone starts exactly one instance."""
    plan = plan_file(option(1, "a2-highgpu-1g", "spot"))
    assert launch_gcp(cli, plan, "--yes").code == 0
    assert cli("down", "gcp:us-central1-a/job-1", "--project", PROJECT, "--yes").code == 0
    assert gce.instances == {}
    again = launch_gcp(cli, plan, "--yes", "--format", "json")
    assert again.code == 0, again.err
    history = json.loads(again.out)["history"]
    assert [(h["zone"], h["outcome"]) for h in history] == [
        ("us-central1-a", "lost-before-running"),
        ("us-central1-b", "launched"),
    ]
    assert list(gce.instances) == [("us-central1-b", "job-1")]


def test_gcp_rerun_with_several_instances_finds_them_all(cli, gce, plan_file):
    plan = plan_file(option(1, "a2-highgpu-1g", "spot", instances=3))
    assert launch_gcp(cli, plan, "--yes").code == 0
    again = launch_gcp(cli, plan, "--yes", "--format", "json")
    assert again.code == 0, again.err
    ids = json.loads(again.out)["launched"]["instance_ids"]
    assert ids == ["job-1-1", "job-1-2", "job-1-3"]
    assert len(gce.instances) == 3 and len(gce.inserts()) == 3


def test_gcp_failed_insert_that_left_an_instance_is_cleaned_up(cli, gce, plan_file):
    gce.faults.append(Fault("us-central1-a", leave=True))
    result = launch_gcp(
        cli, plan_file(option(1, "a2-highgpu-1g", "spot")), "--yes", "--format", "json"
    )
    assert result.code == 0, result.err
    history = json.loads(result.out)["history"]
    assert [(h["zone"], h["outcome"], h["cleaned_up"]) for h in history] == [
        ("us-central1-a", "no-capacity", "job-1"),
        ("us-central1-b", "launched", ""),
    ]
    assert list(gce.instances) == [("us-central1-b", "job-1")]


def test_gcp_non_retryable_operation_error_cleans_up_and_stops(cli, gce, plan_file):
    gce.faults.append(Fault("us-central1-a", code="PERMISSION_DENIED", message="no", leave=True))
    result = launch_gcp(cli, plan_file(option(1, "a2-highgpu-1g", "spot")), "--yes")
    assert result.code == ExitCode.LAUNCH_FAILED
    assert "PERMISSION_DENIED" in result.err
    assert gce.instances == {} and len(gce.inserts()) == 1


def test_gcp_failed_lookup_of_a_failed_insert_stops_loudly(cli, gce, plan_file):
    """The insert fails and asking whether it left an instance fails too: stop (do not try
    the next zone blind), and say what failed."""
    gce.faults.append(Fault("us-central1-a"))
    gce.fail_get = 500
    result = launch_gcp(cli, plan_file(option(1, "a2-highgpu-1g", "spot")), "--yes")
    assert result.code == ExitCode.LAUNCH_FAILED
    assert "get failed" in result.err and "checking whether it left an instance" in result.err
    assert "carbonplan instances --provider gcp" in result.err
    assert len(gce.inserts()) == 1


def test_gcp_stuck_operation_times_out_and_is_cleaned_up(cli, gce, plan_file, monkeypatch):
    monkeypatch.setattr("recommender.launch.gcp.WAIT_SECONDS", 0.3)
    gce.stuck = True
    result = launch_gcp(cli, plan_file(option(1, "a2-highgpu-1g", "spot")), "--yes")
    assert result.code == ExitCode.LAUNCH_FAILED
    assert "Timeout" in result.err and "not done" in result.err
    assert gce.instances == {}  # it was PROVISIONING when the wait gave up: deleted
    assert "cleaned up: job-1" in result.out


def test_gcp_transient_errors_are_retried_within_the_bound(cli, gce, monkeypatch):
    """503 on every list: retried with backoff, then one error once the retry budget is
    spent (google-api-core's default budget for such calls is 600 s)."""
    monkeypatch.setenv("CARBONPLAN_GCP_RETRY_SECONDS", "2.5")
    gce.fail_list = 503
    started = time.monotonic()
    result = cli("instances", "--provider", "gcp", "--project", PROJECT)
    elapsed = time.monotonic() - started
    assert result.code == ExitCode.LAUNCH_FAILED, result.err
    assert "503" in result.err and "list failed" in result.err
    assert len([r for r in gce.requests if r["kind"] == "aggregatedList"]) >= 2  # retried
    assert elapsed < 2.5 + 30  # gave up: the budget, one last attempt, a busy machine
    assert "CARBONPLAN_GCP_RETRY_SECONDS" in result.err.strip().splitlines()[-1]
    assert "Traceback" not in result.err


def test_a_hanging_gcp_endpoint_fails_within_its_call_timeout(cli, gce, hanging, monkeypatch):
    """An endpoint that accepts and never answers: the call is cut at its timeout, once
    (a timeout is not retried), and the error says so."""
    monkeypatch.setenv("CARBONPLAN_GCP_API_ENDPOINT", hanging.url)
    monkeypatch.setenv("CARBONPLAN_GCP_CALL_TIMEOUT", "0.5")
    result = cli("instances", "--provider", "gcp", "--project", PROJECT)
    assert result.code == ExitCode.LAUNCH_FAILED, result.err
    assert hanging.requests == 1
    assert "timed out" in result.err.lower() or "timeout" in result.err.lower(), result.err
    hint = result.err.strip().splitlines()[-1]
    assert hint.startswith("hint: ") and "CARBONPLAN_GCP_CALL_TIMEOUT" in hint
    assert "Traceback" not in result.err


def test_a_gcp_bound_that_is_not_a_number_is_one_error(cli, gce, monkeypatch):
    monkeypatch.setenv("CARBONPLAN_GCP_CALL_TIMEOUT", "soon")
    result = cli("instances", "--provider", "gcp", "--project", PROJECT)
    result.assert_one_clear_error("CARBONPLAN_GCP_CALL_TIMEOUT")


def test_gcp_failing_earlier_run_lookup_stops_before_any_insert(cli, gce, plan_file):
    gce.fail_list = 403
    result = launch_gcp(cli, plan_file(option(1, "a2-highgpu-1g", "spot")), "--yes")
    assert result.code == ExitCode.LAUNCH_FAILED
    assert "list failed" in result.err and "Permissions" in result.err
    assert gce.inserts() == []


def test_gcp_down_when_delete_fails_says_it_is_still_running(cli, gce, plan_file):
    assert launch_gcp(cli, plan_file(option(1, "a2-highgpu-1g", "spot")), "--yes").code == 0
    gce.fail_delete = True
    result = cli("down", "gcp:us-central1-a/job-1", "--project", PROJECT, "--yes")
    assert result.code == ExitCode.LAUNCH_FAILED
    assert "gcp:us-central1-a/job-1: FAILED" in result.out
    assert "still running and cost money" in result.err
    assert ("us-central1-a", "job-1") in gce.instances


@pytest.mark.parametrize("held", ["wait", "insert"])
def test_gcp_sigint_during_create_leaves_none_running(gce, plan_file, held):
    """A real SIGINT to a real child while an insert (or its operation) is answered late:
    what this run started is deleted and the fake lists nothing of it afterwards."""
    gce.hold[held] = 30
    plan = plan_file(option(1, "a2-highgpu-1g", "spot"))
    child = launch_gcp_child(gce, plan)
    assert gce.reached.wait(60), f"the child never sent {held}"
    child.send_signal(signal.SIGINT)
    rc, _out, err = finish(child, timeout=30)
    assert rc == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "error: interrupted (SIGINT)"
    # the insert took effect before the signal (the instance existed): it was deleted
    assert gce.instances == {}
    assert "started gcp:us-central1-a/job-1: terminated" in err
    assert [r["path"].rsplit("/", 1)[-1] for r in gce.requests if r["kind"] == "delete"] == [
        "job-1"
    ]
    assert "now lists from this launch: none" in err


def test_gcp_sigint_with_keep_on_interrupt_keeps_exactly_the_one_reported(gce, plan_file):
    gce.hold["wait"] = 30
    plan = plan_file(option(1, "a2-highgpu-1g", "spot"))
    child = launch_gcp_child(gce, plan, "--keep-on-interrupt")
    assert gce.reached.wait(60)
    child.send_signal(signal.SIGINT)
    rc, _out, err = finish(child, timeout=30)
    assert rc == 130, err
    assert list(gce.instances) == [("us-central1-a", "job-1")]
    assert "started gcp:us-central1-a/job-1: kept running" in err
    assert "carbonplan down gcp:us-central1-a/job-1" in err
    assert "now lists from this launch: gcp:us-central1-a/job-1 running" in err


# --- more failure paths: each one a promise or a message ---------------------------------------


def test_a_run_instances_that_hangs_without_effect_is_one_timeout_error(
    cli, ec2, moto_url, monkeypatch
):
    warm(moto_url)
    bound_ec2(monkeypatch, connect=2, read=1.5, attempts=1)
    ec2.rules.append(Rule("RunInstances", slow_s=5, times=1, forward=False))
    result = cli("launch", *JOB, "--yes", "--max-attempts", "1")
    assert result.code == ExitCode.LAUNCH_FAILED
    assert "launch stopped: Timeout: EC2 RunInstances in eu-north-1" in result.err
    assert moto_instances(moto_url) == []


def test_missing_aws_credentials_still_blame_credentials(cli, ec2, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = cli("instances", "--provider", "aws", "--region", f"aws:{REGION}")
    assert result.code == ExitCode.LAUNCH_FAILED
    assert "NoCredentialsError" in result.err and "aws configure" in result.err


def test_an_unknown_aws_profile_is_named(cli, ec2):
    result = cli("instances", "--provider", "aws", "--region", f"aws:{REGION}", "--profile", "nope")
    assert result.code == ExitCode.LAUNCH_FAILED
    assert "ProfileNotFound" in result.err and "--profile" in result.err


def test_sigint_when_cleanup_fails_reports_exactly_the_one_left_running(ec2, moto_url):
    """SIGINT while RunInstances' answer is held, and TerminateInstances is refused: the one
    instance left running is the one reported, with the command that stops it."""
    rule = Rule("RunInstances", slow_s=30, times=1)
    ec2.rules += [rule, Rule("TerminateInstances", code="UnauthorizedOperation", status=403)]
    child = carbonplan("launch", *JOB, "--yes", "--name", "sig-test")
    assert rule.reached.wait(60), "the child never sent RunInstances"
    child.send_signal(signal.SIGINT)
    rc, _out, err = finish(child, timeout=30)
    assert rc == 130, err
    [alive] = running(moto_url)
    zone, instance_id = alive["Placement"]["AvailabilityZone"], alive["InstanceId"]
    assert f"started aws:{zone}/{instance_id}: CLEANUP FAILED - still running" in err
    assert f"carbonplan down aws:{zone}/{instance_id} --yes" in err
    assert f"now lists from this launch: aws:{zone}/{instance_id} running" in err


def test_gcp_insert_refused_for_a_name_in_use_leaves_that_instance_alone(cli, gce, plan_file):
    """Another plan's instance already has the name in the zone: the insert is refused (409)
    and carbonplan must not delete what it did not start."""
    first = plan_file(option(1, "a2-highgpu-1g", "spot"))
    assert launch_gcp(cli, first, "--yes").code == 0
    other = Path(first).with_name("other.json")
    other.write_text(json.dumps({"options": [option(1, "g2-standard-4", "spot")]}))
    result = launch_gcp(cli, str(other), "--yes")
    assert result.code == ExitCode.LAUNCH_FAILED
    assert "already exists" in result.err and "another --name" in result.err
    assert gce.instances[("us-central1-a", "job-1")]["status"] == "RUNNING"
    assert not any(r["kind"] == "delete" for r in gce.requests)


def test_gcp_unanswered_check_after_the_insert_cleans_up(cli, gce, plan_file):
    gce.fail_get = 500
    result = launch_gcp(cli, plan_file(option(1, "a2-highgpu-1g", "spot")), "--yes")
    assert result.code == ExitCode.LAUNCH_FAILED
    assert "get failed" in result.err
    assert gce.instances == {} and "cleaned up: job-1" in result.out


def test_gcp_quota_on_the_second_instance_cleans_up_and_moves_on(cli, gce, plan_file):
    gce.faults.append(
        Fault("us-central1-a", name="job-1-2", code="QUOTA_EXCEEDED", mode="sync", status=403)
    )
    plan = plan_file(
        option(1, "a2-highgpu-1g", "spot", instances=2), option(2, "g2-standard-4", "spot")
    )
    result = launch_gcp(cli, plan, "--yes", "--format", "json")
    assert result.code == 0, result.err
    history = json.loads(result.out)["history"]
    assert [(h["rank"], h["zone"], h["outcome"], h["cleaned_up"]) for h in history] == [
        (1, "us-central1-a", "quota", "job-1-1"),  # not its other zones: a regional quota
        (2, "us-central1-a", "launched", ""),
    ]
    assert list(gce.instances) == [("us-central1-a", "job-1")]


def test_gcp_ssh_key_goes_into_the_metadata(cli, gce, plan_file):
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGxv me@host"
    plan = plan_file(option(1, "a2-highgpu-1g", "spot"))
    result = launch_gcp(cli, plan, "--yes", "--ssh-key", key)
    assert result.code == 0, result.err
    [body] = [r["body"] for r in gce.inserts()]
    items = {m["key"]: m["value"] for m in body["metadata"]["items"]}
    assert items["ssh-keys"].endswith(":" + key)


def test_gcp_unknown_attached_gpu_is_refused_before_any_insert(cli, gce, plan_file):
    k80 = {**option(1, "n1-highmem-8+T4x2", "spot"), "instance_type": "n1-highmem-8+K80x1"}
    result = launch_gcp(cli, plan_file(k80), "--yes", "--zone", "us-central1-a")
    assert result.code == ExitCode.LAUNCH_FAILED
    assert "no GCP accelerator type known for K80" in result.err
    assert gce.inserts() == []


def test_gcp_project_from_the_environment_or_one_clear_error(
    cli, gce, plan_file, monkeypatch, tmp_path
):
    assert launch_gcp(cli, plan_file(option(1, "a2-highgpu-1g", "spot")), "--yes").code == 0
    for name in ("CLOUDSDK_CORE_PROJECT", "GOOGLE_CLOUD_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
    listed = cli("instances", "--provider", "gcp", "--format", "json")
    assert listed.code == 0, listed.err
    assert [r["id"] for r in json.loads(listed.out)["instances"]] == ["gcp:us-central1-a/job-1"]
    # only other regions asked: nothing
    elsewhere = cli("instances", "--region", "gcp:europe-west4", "--format", "json")
    assert elsewhere.code == 0 and json.loads(elsewhere.out)["instances"] == []
    # no project anywhere (no ADC either): one error naming what to pass
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    result = cli("instances", "--provider", "gcp")
    result.assert_one_clear_error("no GCP project")
    dry = cli("launch", "--from", plan_file(option(1, "a2-highgpu-1g", "spot")), "--format", "json")
    assert dry.code == 0, dry.err
    assert "/projects/<--project>/zones/" in json.loads(dry.out)["request"]["path"]


def test_instances_with_no_cloud_answering_is_an_error_not_an_empty_list(
    cli, ec2, gce, hanging, monkeypatch
):
    monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", hanging.url)
    bound_ec2(monkeypatch, connect=2, read=0.5, attempts=1)
    gce.fail_list = 500
    result = cli("instances", "--project", PROJECT)
    assert result.code == ExitCode.LAUNCH_FAILED
    assert "no cloud could be asked" in result.err
    assert "aws: Timeout" in result.err and "gcp: 500" in result.err


def test_instances_and_down_name_a_cloud_that_was_skipped(cli, ec2, gce, moto_url):
    """One cloud fails (GCP's list), the other answers: the table, a note naming the skipped
    cloud; a tag that is not a number reads as unknown, not as a crash."""
    client = boto3.client("ec2", region_name=REGION, endpoint_url=moto_url)
    instance_id = client.run_instances(
        ImageId="ami-12345678",
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [
                    {"Key": "carbonplan:plan-id", "Value": "p" * 12},
                    {"Key": "carbonplan:usd-per-hour", "Value": "not-a-number"},
                ],
            }
        ],
    )["Instances"][0]["InstanceId"]
    gce.fail_list = 500
    listed = cli("instances", "--project", PROJECT)
    assert listed.code == 0, listed.err
    assert instance_id in listed.out and "1 carbonplan instance" in listed.out
    assert "note: gcp: skipped (500" in listed.err
    as_json = json.loads(cli("instances", "--project", PROJECT, "--format", "json").out)
    [record] = as_json["instances"]
    assert record["usd_per_hour"] is None and record["elapsed_cost_usd"] is None
    stopped = cli("down", instance_id, "--project", PROJECT, "--yes")
    assert stopped.code == 0, stopped.err
    assert "note: gcp: skipped (500" in stopped.err
    assert running(moto_url) == []


def test_instances_for_a_cloud_carbonplan_cannot_launch_on_is_refused(cli):
    cli("instances", "--provider", "azure").assert_one_clear_error("cannot launch on azure")


def test_launch_flags_that_narrow_the_plan_say_what_they_left_out(cli, ec2):
    args = ["--gpu-hours", "400", "--provider", "aws,gcp", "--spot", "--format", "json"]
    assert cli("launch", *args, "--rank", "0").code == ExitCode.BAD_INPUT
    options = plan_options(cli, "--gpu-hours", "400", "--provider", "aws,gcp", "--spot")
    second = options[1]
    doc = json.loads(cli("launch", *args, "--rank", str(second["rank"]), "--project", "p").out)
    assert doc["option"]["rank"] == second["rank"]
    assert all(f["rank"] >= second["rank"] for f in doc["failover"])
    gcp_image = "projects/my/global/images/mine"
    doc = json.loads(cli("launch", *args, "--image", gcp_image, "--project", "p").out)
    assert doc["option"]["provider"] == "gcp" and doc["image"] == gcp_image
    assert f"--image {gcp_image} is a gcp image: only gcp options are tried" in doc["notes"]
    zone = f"{REGION}a"
    doc = json.loads(cli("launch", *args, "--zone", zone).out)
    assert doc["option"]["region"] == REGION and doc["zones"] == [zone]
    assert f"--zone {zone}: only options in its region are tried" in doc["notes"]


def test_later_start_notes_skip_what_they_cannot_read():
    from datetime import UTC, datetime, timedelta

    from recommender.commands.launch import _later_start_notes
    from recommender.launch import Choice

    def choice(start: str) -> Choice:
        return Choice(
            1, "aws", REGION, "p5.48xlarge", "spot", "H100", 8, 1, 1.0, 1.0, 1.0, 1.0, start
        )

    assert _later_start_notes([choice("not a date")]) == []
    naive = (datetime.now(UTC) + timedelta(hours=6)).replace(tzinfo=None).isoformat()
    assert naive in _later_start_notes([choice(naive)])[0]


def test_sigint_before_run_instances_took_effect_reports_nothing_started(ec2, moto_url):
    """The RunInstances request is held and never carried out; SIGINT: the lookup by launch
    key finds nothing, and the child says nothing was started (and nothing is)."""
    rule = Rule("RunInstances", slow_s=30, times=1, forward=False)
    ec2.rules.append(rule)
    child = carbonplan("launch", *JOB, "--yes", "--name", "sig-test")
    assert rule.reached.wait(60), "the child never sent RunInstances"
    child.send_signal(signal.SIGINT)
    rc, _out, err = finish(child, timeout=30)
    assert rc == 130, err
    assert "nothing was started by this run" in err
    assert moto_instances(moto_url) == []
    assert ec2.calls("TerminateInstances") == []
