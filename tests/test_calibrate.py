"""suggest/estimate --calibrate (issue 15): a pilot's measured GPU power and throughput, from
CSVs written by hand, by carbonplan track's code and by the real codecarbon package."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from recommender.cli import main
from recommender.errors import ExitCode
from recommender.track.columns import CODECARBON_COLUMNS


def pilot_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CODECARBON_COLUMNS)
        writer.writeheader()
        for values in rows:
            row = dict.fromkeys(CODECARBON_COLUMNS, "")
            row.update(
                timestamp="2025-06-01T00:00:00",
                run_id="pilot-1",
                duration="3600",
                gpu_energy="2.0",
                gpu_count="8",
                gpu_model="8 x NVIDIA A100-SXM4-40GB",
                pue="1.0",
            )
            row.update(values)
            writer.writerow(row)
    return path


def run_json(capsys, *args: str) -> dict:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_must_show_eight_a100s_at_two_kwh_an_hour_are_250_w_each(tmp_path, capsys):
    pilot = pilot_csv(tmp_path / "pilot.csv", [{}])
    doc = run_json(
        capsys, "suggest", "--gpu-hours", "400", "--gpu", "A100", "--calibrate", str(pilot),
        "--format", "json",
    )  # fmt: skip
    assert doc["options"]
    for option in doc["options"]:
        assert option["gpu_power_kw"] / option["gpus_per_instance"] == pytest.approx(0.25)
        assert option["gpu_power_source"] == "pilot pilot.csv line 2"
    assert doc["calibration"]["gpu_power_kw_per_gpu"] == pytest.approx(0.25)
    assert doc["calibration"]["from_pilot"] == ["gpu_power_kw"]
    assert doc["data"]["gpus"][0]["tdp_w"] == 400  # the real TDP is still shown
    plain = run_json(capsys, "suggest", "--gpu-hours", "400", "--gpu", "A100", "--format", "json")
    assert plain["options"][0]["gpu_power_kw"] / plain["options"][0]["gpus_per_instance"] == (
        pytest.approx(0.32)  # 80% of 400 W without the pilot
    )


def test_other_gpus_keep_the_tdp_default(tmp_path, capsys):
    pilot = pilot_csv(tmp_path / "pilot.csv", [{}])
    doc = run_json(
        capsys, "suggest", "--gpu-hours", "400", "--gpu", "A100,H100", "--calibrate",
        str(pilot), "--format", "json", "--top", "0",
    )  # fmt: skip
    h100 = [o for o in doc["options"] if o["gpu"] == "H100"]
    assert h100 and all(o["gpu_power_source"] == "TDP x utilisation" for o in h100)
    assert h100[0]["gpu_power_kw"] / h100[0]["gpus_per_instance"] == pytest.approx(0.56)


def test_steps_size_the_job_from_the_pilot(tmp_path, capsys):
    pilot = pilot_csv(tmp_path / "pilot.csv", [{}])
    doc = run_json(
        capsys, "suggest", "--calibrate", str(pilot), "--pilot-steps", "1000",
        "--total-steps", "100000", "--format", "json", "--top", "3",
    )  # fmt: skip
    # 1000 steps/h on 8 A100s -> 100 h x 8 GPUs = 800 A100 GPU-hours
    assert doc["job"]["gpu_hours"] == pytest.approx(800)
    assert doc["job"]["ref_gpu"] == "A100"
    assert doc["calibration"]["from_pilot"] == ["gpu_power_kw", "gpu_hours"]
    assert doc["calibration"]["steps_per_second"] == pytest.approx(1000 / 3600)


def test_steps_recorded_by_track_are_used(tmp_path, capsys):
    pilot = tmp_path / "pilot.csv"
    from recommender.track.columns import COLUMNS

    with pilot.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        row = dict.fromkeys(COLUMNS, "")
        row.update(duration="1800", gpu_energy="1.0", gpu_count="4", steps="500",
                   gpu_model="4 x NVIDIA H100 80GB HBM3", pue="1.1")  # fmt: skip
        writer.writerow(row)
    doc = run_json(
        capsys, "estimate", "--gpu", "H100", "--count", "4", "--calibrate", str(pilot),
        "--total-steps", "5000", "--region", "aws:eu-north-1", "--format", "json",
    )  # fmt: skip
    # 1.0 kWh / 1.1 / 0.5 h / 4 GPUs
    assert doc["gpu_power_w"] == pytest.approx(1000 / 1.1 / 0.5 / 4)
    assert doc["hours"] == pytest.approx(5.0)  # 10x the steps on the same 4 GPUs
    assert "pilot pilot.csv line 2" in doc["sources"]["hours"]


@pytest.mark.parametrize(
    ("cell", "value", "message"),
    [
        ("gpu_energy", "abc", "pilot.csv line 3: gpu_energy must be a positive number, got 'abc'"),
        ("duration", "0", "pilot.csv line 3: duration must be a positive number, got '0'"),
        ("gpu_count", "0", "pilot.csv line 3: gpu_count must be a whole number >= 1"),
        ("gpu_model", "1 x Quantum Abacus", "pilot.csv line 3: the pilot's gpu_model"),
    ],
)
def test_a_bad_pilot_is_one_error_with_its_line(tmp_path, capsys, cell, value, message):
    pilot = pilot_csv(tmp_path / "pilot.csv", [{}, {cell: value}])
    code = main(["suggest", "--gpu-hours", "400", "--calibrate", str(pilot), "--format", "json"])
    out, err = capsys.readouterr()
    assert code == ExitCode.BAD_INPUT and out == ""
    lines = err.strip().splitlines()
    assert lines[0].startswith(f"error: {message}"), lines
    assert len(lines) == 2 and lines[1].startswith("hint: ")


def test_contradictions_are_refused(tmp_path, capsys):
    pilot = pilot_csv(tmp_path / "pilot.csv", [{}])
    for args, fragment in (
        (["suggest", "--gpu-hours", "4", "--calibrate", str(pilot), "--total-steps", "9",
          "--pilot-steps", "3"], "--gpu-hours sizes it too"),
        (["suggest", "--gpu-hours", "4", "--pilot-steps", "3"], "give --calibrate FILE too"),
        (["estimate", "--gpu", "H100", "--hours", "1", "--region", "aws:eu-north-1",
          "--calibrate", str(pilot)], "ran on A100, the estimate is for --gpu H100"),
        (["suggest", "--calibrate", str(pilot), "--total-steps", "10"], "has none"),
    ):  # fmt: skip
        assert main(args) == ExitCode.BAD_INPUT, args
        err = capsys.readouterr().err
        assert fragment in err, (args, err)


# --- a CSV written by the real codecarbon package ---------------------------------------------

CODECARBON_RUN = textwrap.dedent(
    """
    import sys, time
    from codecarbon import OfflineEmissionsTracker

    tracker = OfflineEmissionsTracker(
        country_iso_code="SWE", output_dir=sys.argv[1], save_to_file=True,
        project_name="pilot", log_level="error",
    )
    tracker.start()
    end, x = time.monotonic() + 2, 0
    while time.monotonic() < end:  # two seconds of CPU work
        x += 1
    tracker.stop()
    """
)


@pytest.fixture(scope="session")
def codecarbon_csv(tmp_path_factory) -> Path:
    """emissions.csv written by codecarbon itself: offline mode, no network (the proxies
    point nowhere), in a subprocess."""
    directory = tmp_path_factory.mktemp("codecarbon")
    env = dict(os.environ, HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9")
    result = subprocess.run(
        [sys.executable, "-c", CODECARBON_RUN, str(directory)],
        capture_output=True, text=True, timeout=120, env=env, cwd=directory,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    path = directory / "emissions.csv"
    assert path.is_file()
    return path


def test_a_codecarbon_csv_loads_in_calibrate(codecarbon_csv, tmp_path, capsys):
    with codecarbon_csv.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(CODECARBON_COLUMNS)
    # as written here (no GPU): read, and refused for the right reason, with its line
    code = main(["suggest", "--gpu-hours", "400", "--calibrate", str(codecarbon_csv)])
    err = capsys.readouterr().err
    assert code == ExitCode.BAD_INPUT
    assert "emissions.csv line 2: gpu_count must be a whole number >= 1" in err
    # the same file as codecarbon would write it on 2 GPUs: its own numbers are used
    rows[0].update(gpu_count="2", gpu_model="2 x NVIDIA L4", gpu_energy="0.0001")
    gpu_file = tmp_path / "emissions.csv"
    with gpu_file.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CODECARBON_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    doc = run_json(
        capsys, "suggest", "--gpu-hours", "400", "--gpu", "L4", "--calibrate", str(gpu_file),
        "--format", "json", "--top", "1",
    )  # fmt: skip
    duration = float(rows[0]["duration"])
    expected = 0.0001 / float(rows[0]["pue"]) / (duration / 3600) / 2
    assert doc["calibration"]["gpu_power_kw_per_gpu"] == pytest.approx(expected)
    option = doc["options"][0]
    assert option["gpu_power_kw"] / option["gpus_per_instance"] == pytest.approx(expected, 1e-4)
