"""`carbonplan launch`: input checks, provider support, the registry, and the GCP zones table.
(Cloud behaviour: tests/test_launch_aws.py and tests/test_launch_gcp.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from recommender.errors import BadInputError, ExitCode
from recommender.launch import get_backend, launchable_providers

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT.parent / "shared" / "reference"


def test_registry_has_aws_and_gcp_and_refuses_azure_with_a_reason():
    assert launchable_providers() == ["aws", "gcp"]
    with pytest.raises(BadInputError, match="cannot launch on azure") as info:
        get_backend("azure")
    assert "planning only" in info.value.hint
    with pytest.raises(BadInputError) as info:
        get_backend("awss")
    assert "did you mean 'aws'" in info.value.hint


def test_azure_options_are_skipped_with_a_note(cli):
    # With every cloud allowed, the plan's best option is on Azure for this job.
    plan = json.loads(
        cli(
            "suggest",
            "--gpu-hours",
            "400",
            "--region",
            "azure:swedencentral",
            "--region",
            "aws:ap-south-1",
            "--top",
            "0",
            "--format",
            "json",
        ).out
    )
    assert plan["options"][0]["provider"] == "azure"
    result = cli(
        "launch",
        "--gpu-hours",
        "400",
        "--region",
        "azure:swedencentral",
        "--region",
        "aws:ap-south-1",
        "--format",
        "json",
        "--zone",
        "ap-south-1a",
    )
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["option"]["provider"] == "aws"
    assert any("azure option(s)" in n and "cannot launch on Azure" in n for n in doc["notes"])


def test_rank_on_azure_is_refused(cli):
    args = ["--gpu-hours", "400", "--region", "azure:swedencentral"]
    result = cli("launch", *args, "--rank", "1")
    assert result.code == ExitCode.BAD_INPUT
    assert "rank 1 is on azure" in result.err and "cannot launch on Azure" in result.err


def test_rank_outside_the_plan_is_refused(cli):
    result = cli("launch", "--gpu-hours", "400", "--provider", "aws", "--rank", "100000")
    assert result.code == ExitCode.BAD_INPUT and "not in the plan" in result.err


@pytest.mark.parametrize(
    "args,message",
    [
        (["--gpu-hours", "400", "--yes", "--dry-run"], "contradict"),
        ([], "launch needs the job"),
        (["--gpu-hours", "400", "--name", "Bad_Name"], "not a valid instance name"),
        (["--gpu-hours", "400", "--max-attempts", "0"], "--max-attempts"),
        (["--gpu-hours", "400", "--disk-gb", "5"], "--disk-gb"),
        (["--gpu-hours", "400", "--provider", "azure"], "no option in the plan can be launched"),
        (["--gpu-hours", "400", "--ssh-key", "not-a-key"], "--ssh-key"),
    ],
)
def test_bad_input_exits_2(cli, args, message):
    result = cli("launch", *args)
    assert result.code == ExitCode.BAD_INPUT, result.err
    assert message in result.err
    assert "Traceback" not in result.err


def test_from_cannot_be_combined_with_job_flags(cli, tmp_path):
    plan = tmp_path / "plan.json"
    plan.write_text(cli("suggest", "--gpu-hours", "10", "--format", "json").out)
    result = cli("launch", "--from", str(plan), "--gpu-hours", "10")
    assert result.code == ExitCode.BAD_INPUT and "cannot be combined with --gpu-hours" in result.err
    plan.write_text("{}")
    result = cli("launch", "--from", str(plan))
    assert result.code == ExitCode.BAD_INPUT and "no 'options' list" in result.err


def test_from_a_saved_plan_launches_its_options_in_rank_order(cli, tmp_path):
    saved = cli("suggest", "--gpu-hours", "100", "--provider", "gcp", "--format", "json")
    plan = tmp_path / "plan.json"
    plan.write_text(saved.out)
    result = cli("launch", "--from", str(plan), "--project", "p", "--format", "json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    best = json.loads(saved.out)["options"][0]
    assert doc["option"]["instance_type"] == best["instance_type"]
    assert doc["option"]["kgco2e"] == pytest.approx(best["kgco2e"])
    assert [f["rank"] for f in doc["failover"]] == sorted(f["rank"] for f in doc["failover"])


def test_gcp_zones_table_is_clean_and_covers_every_gcp_offer():
    import pandas as pd

    from recommender.catalog import load_catalog
    from recommender.launch.gcp import split_instance_type, zones_table

    raw = (ROOT / "data" / "gcp_zones.csv").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and b"\r\n" not in raw
    table = zones_table()
    assert (table["zone"].str.rsplit("-", n=1).str[0] == table["region"]).all()
    offers = load_catalog().offers
    missing = []
    for row in offers[offers["provider"] == "gcp"].itertuples():
        machine, gpu, _ = split_instance_type(row.instance_type)
        rows = table[table["region"] == row.region]
        hit = rows["accelerator"].eq(gpu).any() if gpu else rows["instance_type"].eq(machine).any()
        if not hit:
            missing.append((row.region, row.instance_type))
    assert missing == [], missing[:5]
    assert isinstance(table, pd.DataFrame)


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="../shared/reference not present")
def test_gcp_zones_rebuild_identically(tmp_path):
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "build_gcp_zones.py"),
            "--reference",
            str(REFERENCE),
            "--out",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
    )
    assert (tmp_path / "gcp_zones.csv").read_bytes() == (
        ROOT / "data" / "gcp_zones.csv"
    ).read_bytes()


def test_launch_module_import_stays_light():
    code = (
        "import sys\n"
        "import recommender.commands.launch, recommender.launch\n"
        "from recommender.launch import get_backend\n"
        "get_backend('aws'); get_backend('gcp')\n"
        "heavy = ('boto3', 'botocore', 'google')\n"
        "print(','.join(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_a_later_planned_start_is_pointed_out():
    from datetime import UTC, datetime, timedelta

    from recommender.commands.launch import _later_start_notes
    from recommender.launch import Choice

    def choice(start: str | None) -> Choice:
        return Choice(
            rank=1,
            provider="aws",
            region="eu-north-1",
            instance_type="p5.48xlarge",
            market="spot",
            gpu="H100",
            gpus_per_instance=8,
            instances=1,
            usd_per_hour=30.0,
            wall_hours=10.0,
            cost_usd=300.0,
            kgco2e=5.0,
            start=start,
        )

    later = (datetime.now(UTC) + timedelta(hours=6)).isoformat()
    notes = _later_start_notes([choice(later)])
    assert len(notes) == 1 and "launch starts machines now" in notes[0] and later in notes[0]
    assert _later_start_notes([choice(None)]) == []
    assert _later_start_notes([choice(datetime.now(UTC).isoformat())]) == []
