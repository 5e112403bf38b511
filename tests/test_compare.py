"""carbonplan compare PLAN.json RUN.csv (issue 15): planned vs measured, each input's error,
with runs written by carbonplan track's code and by the real codecarbon package."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
from test_calibrate import codecarbon_csv  # noqa: F401 - the session fixture

from recommender.cli import main
from recommender.errors import ExitCode
from recommender.track.columns import COLUMNS, append_row


@pytest.fixture
def plan(tmp_path, capsys) -> Path:
    code = main(["suggest", "--gpu-hours", "40", "--region", "aws:eu-north-1", "--format",
                 "json", "--top", "3"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    path = tmp_path / "plan.json"
    path.write_text(out)
    return path


def run_json(capsys, *args: str) -> dict:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_planned_vs_measured_and_each_inputs_error(plan, tmp_path, capsys):
    option = json.loads(plan.read_text())["options"][1]
    run = tmp_path / "run.csv"
    # IT power 10% above the plan, 20% longer, at an intensity 50% higher, pue 1.2 in the row
    power = (option["gpu_power_kw"] + option["host_power_kw"]) * option["instances"] * 1.1
    hours = option["wall_hours"] * 1.2
    it_kwh = power * hours
    append_row(run, dict.fromkeys(COLUMNS, "") | {
        "run_id": "r1", "duration": hours * 3600, "pue": 1.2,
        "cpu_energy": it_kwh * 0.1 * 1.2, "gpu_energy": it_kwh * 0.8 * 1.2,
        "ram_energy": it_kwh * 0.1 * 1.2, "energy_consumed": it_kwh * 1.2,
        "emissions": 1.0, "gco2_per_kwh": option["gco2_per_kwh"] * 1.5,
        "cloud_provider": "aws", "cloud_region": "eu-north-1",
    })  # fmt: skip
    doc = run_json(capsys, "compare", str(plan), str(run), "--rank", "2", "--format", "json")
    figures = {f["name"]: f for f in doc["figures"]}
    assert doc["plan"]["rank"] == 2 and doc["run"]["run_id"] == "r1"
    assert figures["power_kw"]["error"] == pytest.approx(0.1)
    assert figures["wall_hours"]["error"] == pytest.approx(0.2)
    assert figures["gco2_per_kwh"]["error"] == pytest.approx(0.5)
    kg = figures["operational_kgco2e"]["error"]
    assert kg == pytest.approx(1.1 * 1.2 * 1.5 - 1, 1e-4)  # the errors multiply (JSON rounds)
    assert figures["cost_usd"]["error"] == pytest.approx(0.2, 1e-4)
    assert figures["energy_kwh"]["error"] == pytest.approx(1.1 * 1.2 - 1, 1e-4)
    # without --rank: the best-ranked option in the run's region (rank 1 here)
    doc = run_json(capsys, "compare", str(plan), str(run), "--format", "json")
    assert doc["plan"]["rank"] == 1 and "run's region" in doc["plan"]["chosen"]
    assert main(["compare", str(plan), str(run)]) == 0
    table = capsys.readouterr().out
    assert "operational_kgco2e (kg)" in table and "+20.0%" in table


def test_a_codecarbon_run_loads_in_compare(plan, codecarbon_csv, capsys):  # noqa: F811
    doc = run_json(capsys, "compare", str(plan), str(codecarbon_csv), "--format", "json")
    with codecarbon_csv.open(newline="") as handle:
        row = list(csv.DictReader(handle))[-1]
    figures = {f["name"]: f for f in doc["figures"]}
    assert figures["wall_hours"]["measured"] == pytest.approx(float(row["duration"]) / 3600)
    # no carbonplan column: the intensity is codecarbon's emissions / energy
    g = float(row["emissions"]) / float(row["energy_consumed"]) * 1000
    assert figures["gco2_per_kwh"]["measured"] == pytest.approx(g)
    assert doc["run"]["intensity_source"] == "emissions.csv emissions / energy"
    assert math.isfinite(figures["operational_kgco2e"]["error"])


def test_bad_inputs_are_one_error(plan, tmp_path, capsys):
    run = tmp_path / "run.csv"
    run.write_text("duration,cpu_energy\n1,2\n")
    assert main(["compare", str(plan), str(run)]) == ExitCode.BAD_INPUT
    assert "run.csv line 1: no gpu_energy" in capsys.readouterr().err
    assert main(["compare", str(plan), str(tmp_path / "absent.csv")]) == ExitCode.BAD_INPUT
    assert "no such file" in capsys.readouterr().err
    good = tmp_path / "good.csv"
    append_row(good, dict.fromkeys(COLUMNS, "0") | {"duration": 10, "emissions": ""})
    assert main(["compare", str(plan), str(good), "--rank", "99"]) == ExitCode.BAD_INPUT
    assert "no option of rank 99" in capsys.readouterr().err
