"""carbonplan track (issue 15): RAPL against a fake powercap tree, NVML through an injected
backend, CodeCarbon's columns, the CSV append, real child processes (exit status, output,
signals) and the cloud metadata services served from 127.0.0.1."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from recommender.errors import ExitCode
from recommender.extras import DISTRIBUTION
from recommender.track.columns import (
    CARBONPLAN_COLUMNS,
    CODECARBON_COLUMNS,
    COLUMNS,
    append_row,
    read_rows,
)
from recommender.track.nvml import GpuMeter
from recommender.track.rapl import Rapl

ROOT = Path(__file__).resolve().parent.parent
CLOSED = "http://127.0.0.1:9"  # discard port: nothing listens, refused at once


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def environ(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARBONPLAN_")}
    env.update(
        CARBONPLAN_AWS_METADATA_URL=CLOSED,
        CARBONPLAN_GCP_METADATA_URL=CLOSED,
        CARBONPLAN_AZURE_METADATA_URL=CLOSED,
        CARBONPLAN_POWERCAP_ROOT="/nonexistent-powercap",
        CARBONPLAN_CACHE_DIR=os.environ.get("CARBONPLAN_CACHE_DIR", ""),
    )
    env = {k: v for k, v in env.items() if v != ""}
    env.update(extra)
    return env


def carbonplan(*args: str, cwd: Path, env: dict[str, str] | None = None, **kw):
    return subprocess.run(
        [sys.executable, "-m", "recommender", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env or environ(),
        timeout=120,
        **kw,
    )


# --- CodeCarbon's columns --------------------------------------------------------------------


def test_header_is_codecarbons_field_list_then_ours():
    from codecarbon.output_methods.emissions_data import EmissionsData

    theirs = [f.name for f in dataclasses.fields(EmissionsData)]
    assert list(CODECARBON_COLUMNS) == theirs
    assert COLUMNS[: len(theirs)] == tuple(theirs)
    assert not set(CARBONPLAN_COLUMNS) & set(theirs)


# --- RAPL ------------------------------------------------------------------------------------


def domain(root: Path, name: str, kind: str, energy: str, top: str = "1000000") -> Path:
    path = root / name
    path.mkdir(parents=True)
    (path / "name").write_text(kind + "\n")
    (path / "energy_uj").write_text(energy + "\n")
    (path / "max_energy_range_uj").write_text(top + "\n")
    return path


def test_rapl_counts_package_and_dram_through_a_wrap(tmp_path):
    package = domain(tmp_path, "intel-rapl:0", "package-0", "900000")
    dram = domain(tmp_path, "intel-rapl:0:2", "dram", "100")
    domain(tmp_path, "intel-rapl:0:0", "core", "5")  # inside the package: not counted twice
    domain(tmp_path, "intel-rapl:1", "psys", "7")  # the whole platform: not the CPU
    rapl = Rapl.open(tmp_path)
    assert sorted(d.kind for d in rapl.domains) == ["dram", "package"]
    (package / "energy_uj").write_text("999000\n")
    rapl.sample()
    (package / "energy_uj").write_text("50000\n")  # wrapped at 1,000,000
    (dram / "energy_uj").write_text("2100\n")
    rapl.sample()
    # 99,000 before the wrap, then 1,000,000 - 999,000 + 50,000
    assert rapl.joules("package") == pytest.approx((99_000 + 1_000 + 50_000) / 1e6)
    assert rapl.joules("dram") == pytest.approx(2_000 / 1e6)


def test_rapl_skips_unreadable_counters(tmp_path):
    bad = tmp_path / "intel-rapl:0"
    bad.mkdir()
    (bad / "name").write_text("package-0\n")
    (bad / "energy_uj").mkdir()  # unreadable as a file, even for root
    (bad / "max_energy_range_uj").write_text("1000\n")
    domain(tmp_path, "intel-rapl:1", "package-1", "not a number")
    rapl = Rapl.open(tmp_path)
    assert rapl.domains == [] and not rapl.has("package")
    assert len(rapl.skipped) == 2 and all("energy_uj unreadable" in s for s in rapl.skipped)
    assert "no powercap directory" in Rapl.open(tmp_path / "absent").skipped[0]


def test_a_counter_that_becomes_unreadable_keeps_its_count(tmp_path):
    package = domain(tmp_path, "intel-rapl:0", "package-0", "1000")
    rapl = Rapl.open(tmp_path)
    (package / "energy_uj").write_text("3000\n")
    rapl.sample()
    (package / "energy_uj").write_text("garbage\n")
    rapl.sample()
    assert rapl.joules("package") == pytest.approx(2000 / 1e6)


def test_meter_uses_rapl_where_readable(tmp_path):
    from recommender.track.meter import Meter

    package = domain(tmp_path, "intel-rapl:0", "package-0", "0", top="10000000000")
    meter = Meter(0.05, rapl=Rapl.open(tmp_path))
    meter.start()
    (package / "energy_uj").write_text("36000000\n")  # 36 J
    m = meter.stop()
    assert m.cpu_power_source == "rapl (package)"
    assert m.cpu_energy_kwh == pytest.approx(36 / 3.6e6)
    assert m.ram_power_source.startswith("estimate: ")  # no dram domain


# --- NVML ------------------------------------------------------------------------------------


class FakeNvml:
    """Two GPUs: the first with an energy counter, the second only with power readings."""

    def __init__(self) -> None:
        self.energy = [1_000_000, None]
        self.power = [300_000.0, 100_000.0]
        self.fail = False
        self.closed = False

    def device_count(self) -> int:
        return 2

    def name(self, index: int) -> str:
        return "NVIDIA A100-SXM4-40GB"

    def total_energy_mj(self, index: int) -> int | None:
        if self.fail:
            raise RuntimeError("GPU is lost")
        return self.energy[index]

    def power_mw(self, index: int) -> float:
        if self.fail:
            raise RuntimeError("GPU is lost")
        return self.power[index]

    def utilization_percent(self, index: int) -> float | None:
        return 50.0

    def close(self) -> None:
        self.closed = True


def test_nvml_counter_where_there_is_one_power_samples_elsewhere():
    nvml = FakeNvml()
    meter = GpuMeter(nvml)
    meter.start(0.0)
    nvml.energy[0] = 1_000_000 + 5_000_000  # +5 kJ on GPU 0
    meter.sample(10.0)
    nvml.power[1] = 200_000.0
    meter.sample(20.0)
    nvml.fail = True
    meter.sample(30.0)  # a lost GPU: the sample is skipped, not a crash
    # GPU 1: 100 W for 10 s and (100+200)/2 W for 10 s
    assert meter.joules() == pytest.approx(5_000 + 100 * 10 + 150 * 10)
    assert meter.model == "2 x NVIDIA A100-SXM4-40GB"
    assert meter.count == 2
    assert "counter" in meter.source and "power samples" in meter.source


def test_tracker_row_from_injected_backends(tmp_path):
    from recommender.track.tracker import Tracker

    nvml = FakeNvml()
    out = tmp_path / "e.csv"
    tracker = Tracker(out, region="gcp:europe-north1", nvml=nvml, rapl=Rapl.open(tmp_path / "none"))
    with tracker as t:
        nvml.energy[0] += 3_600_000  # 3.6 kJ = 0.001 kWh
        t.step(5)
        t.step()
    row = read_csv(out)[0]
    assert nvml.closed
    assert row["gpu_count"] == "2" and row["gpu_model"] == "2 x NVIDIA A100-SXM4-40GB"
    pue = float(row["pue"])
    assert pue > 1  # the region's PUE, applied as CodeCarbon applies its pue
    assert float(row["gpu_energy"]) >= 0.001 * pue
    assert row["steps"] == "6.0" and row["interrupted"] == "false"
    assert row["cloud_provider"] == "gcp" and row["region_source"] == "--region"
    energy = sum(float(row[c]) for c in ("cpu_energy", "gpu_energy", "ram_energy"))
    assert float(row["energy_consumed"]) == pytest.approx(energy)
    assert float(row["emissions"]) == pytest.approx(energy * float(row["gco2_per_kwh"]) / 1000)


def test_decorator_writes_one_row_per_call(tmp_path):
    import recommender.track as rt

    out = tmp_path / "e.csv"

    @rt.track(output=out, region="aws:eu-north-1", nvml=FakeNvml())
    def work(n: int) -> int:
        return n * 2

    assert work(2) == 4 and work(3) == 6
    assert len(read_csv(out)) == 2


# --- the CSV ---------------------------------------------------------------------------------


def test_append_writes_the_header_once(tmp_path):
    out = tmp_path / "e.csv"
    append_row(out, {"run_id": "a"})
    append_row(out, {"run_id": "b"})
    lines = out.read_text().splitlines()
    assert lines[0] == ",".join(COLUMNS) and len(lines) == 3
    assert [r.text("run_id") for r in read_rows(out, ("run_id",))] == ["a", "b"]


def test_a_codecarbon_file_gets_codecarbon_columns_only(tmp_path):
    out = tmp_path / "emissions.csv"
    out.write_text(",".join(CODECARBON_COLUMNS) + "\n" + ",".join(["x"] * 38))  # no newline
    append_row(out, {"run_id": "b", "steps": 3})
    rows = read_csv(out)
    assert list(rows[0]) == list(CODECARBON_COLUMNS)
    assert [r["run_id"] for r in rows] == ["x", "b"]


def test_a_file_with_another_header_is_refused_not_corrupted(tmp_path):
    out = tmp_path / "e.csv"
    out.write_text("a,b\n1,2\n")
    result = carbonplan(
        "track", "--region", "aws:eu-north-1", "--output", str(out), "--", "true", cwd=tmp_path
    )
    assert result.returncode == ExitCode.BAD_INPUT
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and "unknown column 'a'" in lines[0]
    assert lines[1].startswith("hint: ") and len(lines) == 2
    assert out.read_text() == "a,b\n1,2\n"


# --- real processes --------------------------------------------------------------------------


def test_must_show_a_three_second_run(tmp_path):
    result = carbonplan(
        "track",
        "--region",
        "aws:eu-north-1",
        "--output",
        "e.csv",
        "--",
        sys.executable,
        "-c",
        "import time; time.sleep(3)",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    with (tmp_path / "e.csv").open(newline="") as handle:
        header = next(csv.reader(handle))
    assert header[: len(CODECARBON_COLUMNS)] == list(CODECARBON_COLUMNS)
    (row,) = read_csv(tmp_path / "e.csv")
    assert 3.0 <= float(row["duration"]) < 30  # the sleep, and start-up; not a speed check
    assert row["cloud_provider"] == "aws" and row["cloud_region"] == "eu-north-1"
    assert row["country_iso_code"] == "SWE" and row["on_cloud"] == "Y"
    assert float(row["gco2_per_kwh"]) > 0 and float(row["emissions"]) > 0
    assert row["cpu_power_source"].startswith("estimate: ")  # the fake tree is absent
    assert row["exit_status"] == "0" and row["interrupted"] == "false"


def test_exit_status_and_output_pass_through(tmp_path):
    code = "import sys; print('to stdout'); print('to stderr', file=sys.stderr); sys.exit(3)"
    result = carbonplan(
        "track", "--region", "aws:eu-north-1", "--", sys.executable, "-c", code, cwd=tmp_path
    )
    assert result.returncode == 3
    assert result.stdout == "to stdout\n"
    assert result.stderr == "to stderr\n"
    (row,) = read_csv(tmp_path / "emissions.csv")
    assert row["exit_status"] == "3"


def test_progress_regex_counts_steps(tmp_path):
    code = "for i in range(1, 5): print(f'step {i * 10} loss 0.1', flush=True)"
    result = carbonplan(
        "track",
        "--region",
        "aws:eu-north-1",
        "--progress-regex",
        r"step (\d+)",
        "--",
        sys.executable,
        "-c",
        code,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("loss") == 4
    assert read_csv(tmp_path / "emissions.csv")[0]["steps"] == "40.0"


def test_a_missing_command_is_one_error(tmp_path):
    result = carbonplan("track", "--", "no-such-command-xyz", cwd=tmp_path)
    assert result.returncode == ExitCode.BAD_INPUT
    assert result.stderr.startswith("error: command not found: no-such-command-xyz")
    assert not (tmp_path / "emissions.csv").exists()


CHILD = textwrap.dedent(
    """
    import signal, sys, time
    from pathlib import Path

    def got(signum, frame):
        Path("got").write_text(signal.Signals(signum).name)
        sys.exit(0)

    signal.signal(signal.SIGINT, got)
    signal.signal(signal.SIGTERM, got)
    Path("ready").write_text("1")
    time.sleep(60)
    """
)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_reaches_the_child_and_the_row_is_written(tmp_path, signum, code):
    child = subprocess.Popen(
        [sys.executable, "-m", "recommender", "track", "--region", "aws:eu-north-1", "--",
         sys.executable, "-c", CHILD],
        cwd=tmp_path,
        env=environ(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (tmp_path / "ready").exists():
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, "the tracked command never started"
        time.sleep(0.05)
    child.send_signal(signum)
    try:
        _, err = child.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        child.kill()
        pytest.fail("carbonplan track did not exit after the signal")
    assert (tmp_path / "got").read_text() == signal.Signals(signum).name
    assert child.returncode == code
    assert err.strip() == f"error: interrupted ({signal.Signals(signum).name})"
    (row,) = read_csv(tmp_path / "emissions.csv")
    assert row["interrupted"] == "true" and row["exit_status"] == "0"


def test_without_the_extra_track_names_its_pip_line(tmp_path):
    code = (
        "import sys; sys.modules['pynvml'] = None\n"
        "from recommender.cli import main\n"
        "sys.exit(main(['track', '--region', 'aws:eu-north-1', '--', 'true']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=environ()
    )
    assert result.returncode == ExitCode.BAD_INPUT
    lines = result.stderr.strip().splitlines()
    assert "'pynvml'" in lines[0] and "the 'track' extra" in lines[0]
    assert lines[1] == f"hint: pip install '{DISTRIBUTION}[track]'"
    assert not (tmp_path / "emissions.csv").exists()


# --- the region from the cloud's metadata service ---------------------------------------------


def metadata_server(cloud: str):
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def answer(self, body: str, headers: dict[str, str] | None = None) -> None:
            self.send_response(200)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def do_PUT(self) -> None:
            seen.append({"method": "PUT", "path": self.path, **self.headers})
            ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
            if cloud == "aws" and self.path == "/latest/api/token" and ttl:
                self.answer("TOKEN123")
            else:
                self.send_error(403)

        def do_GET(self) -> None:
            seen.append({"method": "GET", "path": self.path, **self.headers})
            if cloud == "aws" and self.path == "/latest/meta-data/placement/region":
                if self.headers.get("X-aws-ec2-metadata-token") == "TOKEN123":
                    return self.answer("eu-north-1")
                return self.send_error(401)  # IMDSv2 only
            if cloud == "gcp" and self.path == "/computeMetadata/v1/instance/zone":
                if self.headers.get("Metadata-Flavor") == "Google":
                    return self.answer(
                        "projects/123/zones/europe-north1-b", {"Metadata-Flavor": "Google"}
                    )
                return self.send_error(403)
            if cloud == "azure" and self.path.startswith("/metadata/instance/compute/location"):
                if self.headers.get("Metadata") == "true":
                    return self.answer("swedencentral")
                return self.send_error(400)
            self.send_error(404)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}", seen


@pytest.mark.parametrize(
    ("cloud", "provider", "region"),
    [
        ("aws", "aws", "eu-north-1"),
        ("gcp", "gcp", "europe-north1"),
        ("azure", "azure", "swedencentral"),
    ],
)
def test_region_from_the_metadata_service(tmp_path, cloud, provider, region):
    server, url, seen = metadata_server(cloud)
    try:
        env = environ(**{f"CARBONPLAN_{cloud.upper()}_METADATA_URL": url})
        result = carbonplan("track", "--", "true", cwd=tmp_path, env=env)
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stderr
    (row,) = read_csv(tmp_path / "emissions.csv")
    assert (row["cloud_provider"], row["cloud_region"]) == (provider, region)
    assert row["region_source"] == f"{cloud} instance metadata"
    assert float(row["gco2_per_kwh"]) > 0
    assert seen, "the metadata service was not asked"


def test_no_region_no_country_leaves_emissions_empty_with_a_warning(tmp_path):
    result = carbonplan("track", "--", "true", cwd=tmp_path)
    assert result.returncode == 0
    assert "warning: region unknown" in result.stderr
    (row,) = read_csv(tmp_path / "emissions.csv")
    assert row["emissions"] == "" and row["region_source"] == "none" and row["on_cloud"] == "N"


def test_country_fallback_is_marked(tmp_path):
    result = carbonplan("track", "--country", "se", "--", "true", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (row,) = read_csv(tmp_path / "emissions.csv")
    assert row["country_iso_code"] == "SWE" and row["intensity_basis"] == "grid (country estimate)"
    assert "country SE" in row["intensity_source"] and float(row["emissions"]) > 0
    assert json.dumps(row)  # plain strings throughout
