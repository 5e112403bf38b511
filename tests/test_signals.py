"""Real SIGINT/SIGTERM sent to real `carbonplan` child processes: exit 130/143, one line, no
traceback; `launch --yes` leaves nothing of its own running. The waits are bounded only to
guard against hangs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

SIGNALS = [(signal.SIGINT, 130, "SIGINT"), (signal.SIGTERM, 143, "SIGTERM")]


def carbonplan(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "recommender", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or dict(os.environ),
    )


def finish(child: subprocess.Popen[str], timeout: float = 20) -> tuple[int, str, str]:
    try:
        out, err = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        pytest.fail(f"the child did not exit within {timeout} s of the signal")
    return child.returncode, out, err


@pytest.fixture
def slow_grid_api():
    """An Electricity Maps stand-in that never answers in time; ``asked`` is set on the
    first request."""
    asked, release = threading.Event(), threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            asked.set()
            release.wait(60)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", asked
    release.set()
    server.shutdown()
    server.server_close()


COMMANDS = {
    "suggest": ["suggest", "--gpu-hours", "100", "--intensity", "electricitymaps"],
    # fetches in the main thread: leaving the worker pool must not wait for its requests
    "intensity": ["intensity", "aws:eu-west-1", "--intensity", "electricitymaps"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize(("signum", "code", "name"), SIGNALS)
def test_suggest_waiting_on_a_slow_grid_api_exits_promptly(
    slow_grid_api, tmp_path, signum, code, name, command
):
    url, asked = slow_grid_api
    env = dict(
        os.environ,
        CARBONPLAN_ELECTRICITYMAPS_URL=url,
        ELECTRICITYMAPS_API_KEY="test-key",
        CARBONPLAN_CACHE_DIR=str(tmp_path / "cache"),
        CARBONPLAN_HTTP_TIMEOUT="60",
        CARBONPLAN_HTTP_DEADLINE="120",  # only the signal can end it within the 15 s below
    )
    child = carbonplan(*COMMANDS[command], env=env)
    assert asked.wait(30), "the child never asked the grid API"
    child.send_signal(signum)
    rc, out, err = finish(child, timeout=15)  # the server would hold it for 60 s
    assert rc == code, err
    assert err.strip().splitlines() == [f"error: interrupted ({name})"]
    assert out == ""


# --- launch on AWS (moto behind the recording proxy of tests/fakes) ----------------------------

pytest.importorskip("moto")
import test_launch_aws  # noqa: E402
from fakes.aws_proxy import Rule  # noqa: E402
from test_launch_aws import JOB, moto_instances, running, tags  # noqa: E402

# the fixtures of the AWS launch tests: moto's EC2 server behind the recording proxy
moto_url = test_launch_aws.moto_url
ec2 = test_launch_aws.ec2


def _mine(url: str) -> list[dict]:
    return [i for i in moto_instances(url) if tags(i).get("Name") == "sig-test"]


@pytest.mark.parametrize(
    ("action", "when"),
    [
        # the request took effect, its answer (the instance ids) has not arrived
        ("RunInstances", lambda params: True),
        # waiting for "running"
        ("DescribeInstances", lambda params: "InstanceId.1" in params),
    ],
    ids=["during-run-instances", "while-waiting"],
)
@pytest.mark.parametrize(("signum", "code", "name"), SIGNALS)
def test_launch_interrupted_terminates_what_it_started(
    ec2,
    moto_url,
    action,
    when,
    signum,
    code,
    name,
):
    rule = Rule(action, when=when, slow_s=30, times=1)
    ec2.rules.append(rule)
    child = carbonplan("launch", *JOB, "--yes", "--name", "sig-test")
    assert rule.reached.wait(60), f"the child never sent {action}"
    assert len(_mine(moto_url)) == 1  # it exists on the cloud, this run started it
    child.send_signal(signum)
    rc, _out, err = finish(child, timeout=30)
    assert rc == code, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == f"error: interrupted ({name})"
    [instance] = _mine(moto_url)
    assert instance["State"]["Name"] in ("shutting-down", "terminated")
    assert running(moto_url) == []
    assert f"{instance['InstanceId']}: terminated" in err
    assert "now lists from this launch: none" in err or "shutting-down" in err
    assert ec2.calls("TerminateInstances")[-1]["InstanceId.1"] == instance["InstanceId"]


def test_launch_keep_on_interrupt_keeps_it_and_says_so(ec2, moto_url):
    rule = Rule("DescribeInstances", when=lambda p: "InstanceId.1" in p, slow_s=30, times=1)
    ec2.rules.append(rule)
    child = carbonplan("launch", *JOB, "--yes", "--name", "sig-test", "--keep-on-interrupt")
    assert rule.reached.wait(60)
    child.send_signal(signal.SIGINT)
    rc, _out, err = finish(child, timeout=30)
    assert rc == 130, err
    assert "Traceback" not in err
    [instance] = _mine(moto_url)
    assert instance["State"]["Name"] == "running"
    assert ec2.calls("TerminateInstances") == []
    assert f"{instance['InstanceId']}: kept running" in err
    assert f"carbonplan down aws:{instance['Placement']['AvailabilityZone']}/" in err


# --- report --force: the old report or the new one, whole, whatever the moment of the kill ---


def _report_version(out) -> str | None:
    """'100' or '200' (the job's GPU-hours) when ``out`` holds one whole report, else None."""
    import json as _json

    from recommender.reports.report import REPORT_FILES

    if not all((out / name).is_file() and (out / name).stat().st_size for name in REPORT_FILES):
        return None
    hours = _json.loads((out / "plan.json").read_text())["job"]["gpu_hours"]
    return f"{hours:g}"


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGINT])
def test_report_force_killed_at_any_moment_leaves_a_whole_report(tmp_path, signum):
    import random
    import time

    pytest.importorskip("matplotlib")
    out = tmp_path / "rep"
    args = ["report", "--out", str(out), "--force", "--top", "3"]
    first = carbonplan(*args, "--gpu-hours", "100")
    assert finish(first, timeout=120)[0] == 0
    assert _report_version(out) == "100"
    rng = random.Random(13)
    for attempt in range(4):
        child = carbonplan(*args, "--gpu-hours", "200" if attempt % 2 else "100")
        if attempt < 2:  # as soon as the new report is being written beside the old one
            deadline = time.monotonic() + 60
            while not list(tmp_path.glob(".rep.tmp-*")) and child.poll() is None:
                assert time.monotonic() < deadline
                time.sleep(0.0005)
        else:  # anywhere in the run
            time.sleep(rng.uniform(0.2, 2.5))
        child.send_signal(signum)
        rc = finish(child, timeout=60)[0]
        assert rc in (0, -signal.SIGKILL, 130)
        assert _report_version(out) in ("100", "200"), sorted(p.name for p in out.iterdir())
    last = carbonplan(*args, "--gpu-hours", "200")
    assert finish(last, timeout=120)[0] == 0
    assert _report_version(out) == "200"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]  # no temporaries left
