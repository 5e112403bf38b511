"""``carbonplan suggest --jobs FILE`` and ``recommender.suggest_many`` (issue 17): each job is
planned as ``carbonplan suggest`` would plan it alone, blank cells take the command line's
values, the totals add up the best choices, and a bad row is one error naming the file, line
and column with nothing on stdout."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

import recommender
from recommender.errors import ExitCode
from recommender.reports.records import to_json

ROOT = Path(__file__).resolve().parents[1]
TRACE = str(ROOT / "samples" / "ES_week.csv")

# a varied sample of job rows: every kind of column suggest --jobs takes
ROWS = [
    {"name": "plain", "gpu_hours": "400"},
    {"name": "spot-a100", "gpu_hours": "120", "gpu": "A100", "market": "spot"},
    {"name": "sweep", "gpu_hours": "30", "trials": "12", "objective": "cost"},
    {"name": "eval", "gpu_hours": "8", "gpu": "L4;A10G", "ref_gpu": "A100", "market": "on-demand"},
    {
        "name": "h100-deadline",
        "gpu_hours": "900",
        "gpu": "H100",
        "ref_gpu": "H100",
        "deadline": "72",
        "max_cost": "6000",
    },
    {
        "name": "eu",
        "gpu_hours": "200",
        "provider": "aws;gcp",
        "region": "aws:eu-north-1;gcp:europe-west1",
    },
    {
        "name": "budget",
        "gpu_hours": "400",
        "max_cost": "1500",
        "max_kg": "80",
        "objective": "balanced",
    },
    {"name": "pretrain", "params": "350M", "tokens": "20B"},
    {
        "name": "peft",
        "params": "7B",
        "finetune": "true",
        "examples": "50k",
        "seq_len": "2048",
        "peft": "yes",
    },
    {
        "name": "pausable",
        "gpu_hours": "64",
        "intensity_file": TRACE,
        "start_after": "2022-06-02T00:00:00Z",
        "deadline": "72",
        "interruptible": "true",
        "region": "aws:eu-south-2;azure:spaincentral",
    },
    {
        "name": "vs-virginia",
        "gpu_hours": "50",
        "exclude_region": "aws:us-east-1",
        "baseline": "aws:us-east-1",
        "objective": "time",
    },
    {"name": "defaults", "gpu_hours": "77"},
]
COLUMNS = list(dict.fromkeys(k for row in ROWS for k in row))


def _write_csv(path: Path, rows: list[dict[str, str]], columns: list[str] | None = None) -> Path:
    columns = columns or list(dict.fromkeys(k for row in rows for k in row))
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _flags(row: dict[str, str]) -> list[str]:
    """The row as suggest's flags."""
    flags: list[str] = []
    for column, value in row.items():
        if column == "name" or value == "":
            continue
        if column == "market":
            flags.append("--spot" if value == "spot" else "--on-demand")
        elif value in ("true", "yes"):
            flags.append("--" + column.replace("_", "-"))
        else:
            for item in value.split(";"):
                flags += ["--" + column.replace("_", "-"), item]
    return flags


def _json(cli, *args):
    result = cli(*args, "--format", "json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def _alone(document):
    return {k: v for k, v in document.items() if k not in ("name", "line")}


@pytest.mark.parametrize("common", [[], ["--objective", "cost", "--max-instances", "4"]])
def test_each_job_is_planned_as_suggest_plans_it_alone(cli, tmp_path, common):
    path = _write_csv(tmp_path / "jobs.csv", ROWS, COLUMNS)
    document = _json(cli, "suggest", "--jobs", str(path), *common)
    assert [job["name"] for job in document["jobs"]] == [row["name"] for row in ROWS]
    assert [job["line"] for job in document["jobs"]] == list(range(2, len(ROWS) + 2))
    for row, job in zip(ROWS, document["jobs"], strict=True):
        # the command line's flags first, the row's after: the row wins where it gives one
        alone = _json(cli, "suggest", *common, *_flags(row), "--top", "3")
        assert job["options"][0] == alone["options"][0], row["name"]
        assert _alone(job) == alone, row["name"]
        assert len(job["options"]) == 3
    objectives = {job["name"]: job["assumptions"]["objective"] for job in document["jobs"]}
    if common:
        assert objectives["defaults"] == "cost" and objectives["budget"] == "balanced"
    else:
        assert objectives["defaults"] == "carbon" and objectives["sweep"] == "cost"


def test_totals_add_up_the_best_choices(cli, tmp_path):
    path = _write_csv(tmp_path / "jobs.csv", ROWS[:6], COLUMNS)
    document = _json(cli, "suggest", "--jobs", str(path), "--top", "2")
    bests = [job["options"][0] for job in document["jobs"]]
    assert all(len(job["options"]) == 2 for job in document["jobs"])
    totals = document["totals"]
    assert totals["best_options"]["jobs"] == 6
    for name in ("kgco2e", "cost_usd", "gpu_hours", "energy_kwh"):
        assert totals["best_options"][name] == pytest.approx(sum(b[name] for b in bests))
        assert sum(p[name] for p in totals["by_provider"].values()) == pytest.approx(
            totals["best_options"][name]
        )
    regions = {f"{b['provider']}:{b['region']}" for b in bests}
    assert set(totals["by_region"]) == regions
    assert sum(r["jobs"] for r in totals["by_region"].values()) == 6


def test_yaml_and_python_give_the_csv_document(cli, tmp_path):
    rows = ROWS[:4] + ROWS[7:9]
    csv_doc = _json(cli, "suggest", "--jobs", str(_write_csv(tmp_path / "jobs.csv", rows)))
    lines = ["jobs:"]
    for row in rows:
        lines.append(f"  - name: {row['name']}")
        for key, value in row.items():
            if key == "name":
                continue
            if ";" in value:
                lines.append(f"    {key.replace('_', '-')}: [{', '.join(value.split(';'))}]")
            else:
                lines.append(f"    {key}: {value}")
    yaml_path = tmp_path / "jobs.yaml"
    yaml_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    yaml_doc = _json(cli, "suggest", "--jobs", str(yaml_path))
    strip = lambda d: [_alone(j) for j in d["jobs"]]  # noqa: E731 (lines differ)
    assert strip(yaml_doc) == strip(csv_doc)
    assert yaml_doc["totals"] == csv_doc["totals"]

    python_jobs = [{k: (v.split(";") if ";" in v else v) for k, v in row.items()} for row in rows]
    many = json.loads(to_json(recommender.suggest_many(python_jobs).to_dict()))
    assert strip(many) == strip(csv_doc)
    assert [j["name"] for j in many["jobs"]] == [r["name"] for r in rows]
    assert all("line" not in j for j in many["jobs"])
    # suggest_many's keywords are the command line's flags: they fill what a job leaves out
    cost = recommender.suggest_many(
        [{"gpu_hours": 77}, {"gpu_hours": 5, "objective": "time"}], objective="cost", top=1
    )
    assert [j.plan.to_dict()["assumptions"]["objective"] for j in cost.jobs] == ["cost", "time"]
    assert [len(j.plan.result.options) for j in cost.jobs] == [1, 1]


def test_csv_output_is_one_row_per_job_and_rank(cli, tmp_path):
    rows = [ROWS[0], ROWS[10], ROWS[1]]  # the baseline adds fields to one job only
    result = cli("suggest", "--jobs", str(_write_csv(tmp_path / "j.csv", rows)), "--format", "csv")
    assert result.code == 0, result.err
    records = list(csv.DictReader(io.StringIO(result.out)))
    assert [(r["job"], r["rank"]) for r in records] == [
        (name, str(rank)) for name in ("plain", "vs-virginia", "spot-a100") for rank in (1, 2, 3)
    ]
    assert records[3]["saves_kgco2e"] != "" and records[0]["saves_kgco2e"] == ""
    assert {r["market"] for r in records if r["job"] == "spot-a100"} == {"spot"}


def test_the_table_lists_every_job_and_the_totals(cli, tmp_path):
    result = cli("suggest", "--jobs", str(_write_csv(tmp_path / "j.csv", ROWS[:3])))
    assert result.code == 0, result.err
    for name in ("plain", "spot-a100", "sweep", "Best choice of every job (3 jobs)"):
        assert name in result.out
    assert "By provider and region" in result.out


def test_the_sample_roadmap_plans(cli):
    document = _json(cli, "suggest", "--jobs", str(ROOT / "samples" / "roadmap.csv"))
    assert len(document["jobs"]) == 7 and document["totals"]["best_options"]["jobs"] == 7


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        (
            "name,gpu_hours\na,100\nb,abc\n",
            ".csv",
            "jobs.csv, line 3, column gpu_hours (job 'b'): ",
        ),
        (
            "name,gpu_hours,gpu\na,100,\nb,50,H1000\n",
            ".csv",
            "line 3, column gpu (job 'b'): unknown GPU",
        ),
        ("name,gpu_hourz\na,1\n", ".csv", "line 1, column 2: unknown column 'gpu_hourz'"),
        ("submit,job_hours\n2022-06-01,3\n", ".csv", "unknown column 'submit'"),
        (
            "name,gpu_hours,gpu-hours\na,1,2\n",
            ".csv",
            "line 1, column 3: 'gpu_hours' appears twice",
        ),
        ("name,gpu_hours,market\na,10,cheap\n", ".csv", "line 2, column market (job 'a'): market"),
        (
            "name,gpu_hours,trials\na,10,2.5\n",
            ".csv",
            "column trials (job 'a'): '2.5' is not a whole",
        ),
        ("name,gpu_hours,spot\na,10,maybe\n", ".csv", "column spot (job 'a'): 'maybe' is not true"),
        ("name,gpu_hours\na,10,20\n", ".csv", "line 2: 3 cells for 2 columns"),
        ("name,params\na,350M\n", ".csv", "line 2, column params (job 'a'): --params needs"),
        ("name,gpu_hours\n", ".csv", "has no jobs"),
        (
            "- name: a\n  gpu_hours: 100\n- name: b\n  gpu_hours: x\n",
            ".yaml",
            "line 4, column gpu_hours (job 'b')",
        ),
        ("- name: a\n  gpu_hours: [100\n", ".yaml", "not YAML"),
        ("name: a\n", ".yaml", "a YAML jobs file is a list of jobs"),
        (
            "name,gpu_hours,region\na,10,aws:mars-1\n",
            ".csv",
            "column region (job 'a'): unknown aws region",
        ),
    ],
)
def test_a_bad_row_is_one_error_naming_file_line_and_column(
    cli, tmp_path, content, suffix, message
):
    path = tmp_path / f"jobs{suffix}"
    path.write_text(content, encoding="utf-8")
    result = cli("suggest", "--jobs", str(path), "--format", "json")
    result.assert_one_clear_error(message)
    assert str(path) in result.err.splitlines()[0]


def test_a_job_with_no_option_stops_the_run_naming_its_row(cli, tmp_path):
    path = tmp_path / "jobs.csv"
    path.write_text(
        "name,gpu_hours,max_cost\nok,100,\ntoo-cheap,400,1\nnever,5,\n", encoding="utf-8"
    )
    result = cli("suggest", "--jobs", str(path), "--format", "json")
    assert result.code == ExitCode.NO_OPTION and result.out == ""
    assert result.err.startswith(
        f"error: {path}, line 3, column max_cost (job 'too-cheap'): no option satisfies --max-cost"
    )


@pytest.mark.parametrize(
    "flags",
    [
        ["--plot"],
        ["--explain"],
        ["--all-sizes"],
        ["--format", "skypilot"],
        ["--wide"],
        ["--top", "0"],
    ],
)
def test_one_plan_options_are_refused_with_jobs(cli, tmp_path, flags):
    path = _write_csv(tmp_path / "jobs.csv", ROWS[:1])
    result = cli("suggest", "--jobs", str(path), *flags)
    assert result.code == ExitCode.BAD_INPUT and result.out == ""
    assert result.err.startswith("error: ") and "Traceback" not in result.err


def test_report_refuses_a_jobs_document_and_draws_one_job(cli, tmp_path):
    pytest.importorskip("matplotlib")
    saved = tmp_path / "jobs.json"
    result = cli(
        "suggest", "--jobs", str(_write_csv(tmp_path / "j.csv", ROWS[:2])), "--format", "json"
    )
    saved.write_text(result.out, encoding="utf-8")
    refused = cli("report", "--from", str(saved), "--out", str(tmp_path / "r1"))
    refused.assert_one_clear_error("is a plan of 2 jobs (suggest --jobs)")
    assert "jq '.jobs[0]'" in refused.err
    one = tmp_path / "one.json"
    one.write_text(json.dumps(json.loads(result.out)["jobs"][1]), encoding="utf-8")
    drawn = cli("report", "--from", str(one), "--out", str(tmp_path / "r2"), "--format", "json")
    assert drawn.code == 0, drawn.err
    assert json.loads(drawn.out)["recommended"]["market"] == "spot"


def test_progress_shows_on_a_terminal_only_and_never_on_stdout(tmp_path):
    rows = [{"name": f"j{i}", "gpu_hours": str(10 + i)} for i in range(250)]
    path = _write_csv(tmp_path / "many.csv", rows)
    env = dict(os.environ, COLUMNS="100")
    command = [
        sys.executable,
        "-m",
        "recommender",
        "suggest",
        "--jobs",
        str(path),
        "--format",
        "json",
    ]
    # stderr on a terminal: a progress bar (the run takes over a second)
    leader, follower = pty.openpty()
    out_path = tmp_path / "out.json"
    with out_path.open("wb") as out_file:  # a file: a full pipe would stall the child
        child = subprocess.Popen(command, stdout=out_file, stderr=follower, env=env)
    os.close(follower)
    seen = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    child.wait(timeout=120)
    os.close(leader)
    out = out_path.read_bytes()
    assert child.returncode == 0
    assert b"planning jobs" in seen
    assert len(json.loads(out)["jobs"]) == 250
    # stderr to a pipe: nothing
    piped = subprocess.run(command, capture_output=True, env=env, check=False, timeout=120)
    assert piped.returncode == 0 and piped.stderr == b""
    assert json.loads(piped.stdout) == json.loads(out)
