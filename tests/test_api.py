"""The public Python API (recommender/api.py through ``import recommender``): the same
documents as the command line, the same errors, a light import, a pinned public surface."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

import recommender
from recommender import api
from recommender.cliopts import PlanArgs, SizingArgs
from recommender.errors import BadInputError
from recommender.reports.records import OPTION_FIELDS, to_json

ROOT = Path(__file__).resolve().parents[1]
TRACE = str(ROOT / "tests" / "fixtures" / "traces" / "synthetic_hourly.csv")

PUBLIC = [
    "EstimateResult",
    "Plan",
    "PlanRequest",
    "Replay",
    "ReportFiles",
    "Sizing",
    "SizingRequest",
    "__version__",
    "estimate",
    "replay",
    "report",
    "size",
    "suggest",
    "suggest_many",
]


def _plain(document):
    """A document as it leaves the process (JSON numbers rounded as the CLI writes them)."""
    return json.loads(to_json(document))


def _cli_json(cli, *args):
    result = cli(*args, "--format", "json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_the_public_names_are_pinned():
    assert sorted(recommender.__all__) == sorted(PUBLIC)
    for name in PUBLIC:
        assert getattr(recommender, name) is not None
    assert recommender.suggest is api.suggest and recommender.Plan is api.Plan


def test_every_public_name_has_a_docstring():
    for name in PUBLIC:
        if name == "__version__":
            continue
        doc = getattr(recommender, name).__doc__
        assert doc and len(doc.strip()) > 20, name
    assert "gpu_hours" in recommender.suggest.__doc__


def test_an_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'sugest'"):
        recommender.sugest  # noqa: B018


def test_import_recommender_is_light():
    code = (
        "import sys, recommender\n"
        "heavy = ['pandas', 'boto3', 'google.cloud', 'matplotlib', 'grpc']\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "recommender.suggest\n"  # the API itself is still light to reach
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.splitlines()
    assert out == ["[]", "[]"]


def test_suggest_imports_pandas_but_no_cloud_sdk():
    code = (
        "import sys, recommender\n"
        "p = recommender.suggest(gpu_hours=400, top=3)\n"
        "print('pandas' in sys.modules, "
        "sorted(m for m in ['boto3', 'google.cloud', 'matplotlib'] if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.strip()
    assert out == "True []"


def test_suggest_gives_the_clis_json_document(cli):
    # Nothing is excluded: with the shipped (static) figures the document has no generated
    # per-run field (no timestamp; the catalog's "built" date is the data's).
    plan = recommender.suggest(gpu_hours=400, top=10)
    expected = _cli_json(cli, "suggest", "--gpu-hours", "400", "--top", "10")
    assert _plain(plan.to_dict()) == expected
    assert [o["rank"] for o in expected["options"]] == list(range(1, 11))

    def kinds(value):  # the containers of the document, as JSON has them (lists, not tuples)
        if isinstance(value, dict):
            return {k: kinds(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [type(value).__name__, *(kinds(v) for v in value)]
        return None

    assert kinds(plan.to_dict()) == kinds(expected)


def test_options_is_a_frame_of_the_contracts_fields(cli):
    plan = recommender.suggest(gpu_hours=400, top=10)
    expected = _cli_json(cli, "suggest", "--gpu-hours", "400", "--top", "10")["options"]
    frame = plan.options
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == list(expected[0]) == OPTION_FIELDS
    # missing values are NaN in the frame (pandas' way), null in the JSON
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    assert _plain(records) == expected


def test_pareto_is_the_frontier_rows():
    plan = recommender.suggest(gpu_hours=400, top=0)
    frontier = plan.pareto()
    assert len(frontier) >= 1 and frontier["pareto"].all()
    assert list(frontier["rank"]) == sorted(plan.options.loc[plan.options["pareto"], "rank"])
    assert len(frontier) < len(plan.options)


def test_explain_names_the_sources():
    text = recommender.suggest(gpu_hours=400, top=3).explain()
    assert "Assumptions" in text and "price sources:" in text
    assert "gpu_utilisation" in text and "eu-north-1" in text


def test_constraints_with_the_clis_names(cli):
    kwargs = {
        "provider": ["aws", "gcp"],
        "max_cost": 5000,
        "objective": "cost",
        "spot": True,
        "exclude_region": "aws:eu-north-1",
    }
    plan = recommender.suggest(gpu_hours=400, top=5, **kwargs)
    expected = _cli_json(
        cli,
        *("suggest", "--gpu-hours", "400", "--top", "5", "--provider", "aws,gcp"),
        *("--max-cost", "5000", "--objective", "cost", "--spot"),
        *("--exclude-region", "aws:eu-north-1"),
    )
    assert _plain(plan.to_dict()) == expected
    assert set(plan.options["market"]) == {"spot"}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "Missing option '--gpu-hours' or '--params'"),
        ({"gpu_hours": -1}, "--gpu-hours must be > 0, got -1"),
        ({"gpu_hours": 400, "spot": True, "on_demand": True}, "--spot and --on-demand"),
        ({"gpu_hours": 400, "region": "aws:nowhere-1"}, "unknown aws region 'nowhere-1'"),
        ({"gpu_hours": 400, "deadline": "tomorrow"}, "--deadline 'tomorrow' is not a time"),
        ({"gpu_hours": 400, "interruptible": True}, "--interruptible needs --deadline"),
    ],
)
def test_bad_input_is_the_clis_error(cli, kwargs, message):
    with pytest.raises(BadInputError) as caught:
        recommender.suggest(**kwargs)
    flags: list[str] = []
    for name, value in kwargs.items():
        flag = "--" + name.replace("_", "-")
        flags += [flag] if value is True else [flag, str(value)]
    result = cli("suggest", *flags)
    result.assert_one_clear_error(message)
    lines = result.err.strip().splitlines()
    assert lines[0] == f"error: {caught.value.message}"
    assert lines[1] == f"hint: {caught.value.hint}"


def test_an_unknown_keyword_says_which_flag_was_meant():
    with pytest.raises(BadInputError, match="unknown keyword 'max_costs'") as caught:
        recommender.suggest(gpu_hours=400, max_costs=10)
    assert "max_cost" in caught.value.hint


def test_an_empty_name_is_refused():
    with pytest.raises(BadInputError, match="--region '' names nothing"):
        recommender.suggest(gpu_hours=400, region="")


def test_deadline_and_start_after_take_python_times(cli):
    hours = recommender.suggest(gpu_hours=400, top=5, deadline=48)
    delta = recommender.suggest(gpu_hours=400, top=5, deadline=timedelta(hours=48))
    text = recommender.suggest(gpu_hours=400, top=5, deadline="48h")
    expected = _cli_json(cli, "suggest", "--gpu-hours", "400", "--top", "5", "--deadline", "48")
    assert _plain(hours.to_dict()) == _plain(delta.to_dict()) == _plain(text.to_dict())
    assert _plain(delta.to_dict()) == expected

    job = {"gpu_hours": 40, "region": "aws:eu-north-1", "intensity_file": TRACE}
    start = datetime(2025, 3, 8, 12, tzinfo=UTC)
    a = recommender.suggest(**job, start_after=start, deadline=start + timedelta(hours=48))
    b = recommender.suggest(**job, start_after="2025-03-08T12:00Z", deadline="2025-03-10T12:00Z")
    naive = recommender.suggest(**job, start_after=datetime(2025, 3, 8, 12), deadline=48)
    assert _plain(a.to_dict()) == _plain(b.to_dict())
    assert a.to_dict()["constraints"]["deadline_at"] == "2025-03-10T12:00:00Z"
    assert naive.to_dict()["constraints"]["start_after"] == "2025-03-08T12:00:00Z"
    best = a.options.iloc[0]
    assert best["start"] != "2025-03-08T12:00:00Z"  # the trace is cleaner later: shifted


def test_a_time_of_the_wrong_type_is_refused():
    with pytest.raises(BadInputError, match="a time must be"):
        recommender.suggest(gpu_hours=400, deadline=[48])


def test_request_fields_are_the_flags():
    flags = {f.name for f in dataclasses.fields(PlanArgs)}
    fields = {f.name for f in dataclasses.fields(api.PlanRequest)} - {"given"}
    assert fields == flags
    sizing = {f.name for f in dataclasses.fields(api.SizingRequest)} - {"given"}
    assert sizing == {f.name for f in dataclasses.fields(SizingArgs)}


def test_a_request_object_plans_like_keywords():
    request = api.PlanRequest(gpu_hours=400, objective="time")
    assert request.given_names() == {"gpu_hours", "objective"}
    via_request = api.plan_request(request, top=5)
    via_keywords = recommender.suggest(gpu_hours=400, objective="time", top=5)
    assert _plain(via_request.to_dict()) == _plain(via_keywords.to_dict())
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.gpu_hours = 1  # type: ignore[misc]


def test_given_keywords_win_over_the_config_file(tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text('[plan]\nobjective = "cost"\n', encoding="utf-8")
    monkeypatch.setenv("CARBONPLAN_CONFIG", str(config))
    configured = recommender.suggest(gpu_hours=400, top=3).to_dict()["assumptions"]
    assert configured["objective"] == "cost" and "objective" in configured["configured"]
    given = recommender.suggest(gpu_hours=400, top=3, objective="carbon").to_dict()
    assert given["assumptions"]["objective"] == "carbon"
    assert "objective" not in given["assumptions"]["configured"]


def test_estimate_gives_the_clis_document(cli):
    one = recommender.estimate("H100", hours=10, count=8, region="aws:us-east-1")
    expected = _cli_json(
        cli,
        "estimate",
        "--gpu",
        "H100",
        "--hours",
        "10",
        "--count",
        "8",
        "--region",
        "aws:us-east-1",
    )
    assert _plain(one.to_dict()) == expected
    assert one.kgco2e == pytest.approx(expected["kgco2e"], rel=1e-6)
    with pytest.raises(BadInputError, match="estimate needs a grid intensity"):
        recommender.estimate("H100", hours=10)
    with pytest.raises(BadInputError, match="--power-w replaces the power model"):
        recommender.estimate("H100", hours=10, intensity=100, power_w=500, gpu_power_w=300)


def test_size_gives_the_clis_document(cli):
    sized = recommender.size(params="350M", tokens="20B", gpu=["H100", "A100"])
    expected = _cli_json(cli, "size", "--params", "350M", "--tokens", "20B", "--gpu", "H100,A100")
    assert _plain(sized.to_dict()) == expected
    assert list(sized.gpus["gpu"]) == ["H100", "A100"]
    assert recommender.size(params=3.5e8, tokens=2e10).to_dict()["flops"] == expected["flops"]
    with pytest.raises(BadInputError, match="size needs the model"):
        recommender.size()


def test_replay_gives_the_clis_document(cli):
    replayed = recommender.replay(TRACE, job_hours=6, flex=24, interruptible=True)
    expected = _cli_json(
        cli, "replay", "--trace", TRACE, "--job-hours", "6", "--flex", "24", "--interruptible"
    )
    assert _plain(replayed.to_list()) == expected
    assert len(replayed.frame) == 1 and replayed.frame["jobs"].iloc[0] > 0
    with pytest.raises(BadInputError, match="--checkpoint-minutes is the restart overhead"):
        recommender.replay(TRACE, job_hours=6, checkpoint_minutes=10)


def test_report_writes_the_chosen_formats(tmp_path):
    pytest.importorskip("matplotlib")
    plan = recommender.suggest(gpu_hours=400, top=0)
    written = recommender.report(plan, tmp_path / "r", formats=["md", "json"])
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["plan.json", "report.md"]
    assert written.files == {n: (tmp_path / "r" / n).stat().st_size for n in written.files}
    saved = json.loads((tmp_path / "r" / "plan.json").read_text(encoding="utf-8"))
    assert saved["options"] == _plain(plan.to_dict())["options"]
    assert written.recommended["rank"] == 1 and written.html is None
    with pytest.raises(BadInputError, match="already holds"):
        recommender.report(plan, tmp_path / "r", formats=["md"])
    again = recommender.report(saved, tmp_path / "r", force=True)  # a saved document
    assert again.html is not None and again.html.is_file()
    with pytest.raises(BadInputError, match="unknown report format 'pdf'"):
        recommender.report(plan, tmp_path / "s", formats=["pdf"])


def test_the_readme_example_runs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Use from Python", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    result = subprocess.run(
        [sys.executable, "-c", code.group(1)], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert "kg CO2e" in result.stdout and "eu-north-1" in result.stdout


def test_the_must_show_command_line():
    code = "import recommender; p = recommender.suggest(gpu_hours=400, top=10); print(p.to_dict())"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.startswith("{'carbonplan_version': ")
    assert result.stdout.count("'rank': ") == 10
