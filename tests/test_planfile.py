"""Saved plans read back by ``launch --from`` and ``report --from``: every fault is one
``error:`` line naming the file and the field, a hint, exit 2, never a traceback."""

from __future__ import annotations

import json
import math

import pytest

from recommender import planfile
from recommender.catalog.names import PROVIDERS
from recommender.errors import BadInputError, ExitCode


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict:
    """A real plan, as ``suggest --format json`` writes it."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from recommender.cli import main

    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(io.StringIO()):
        assert main(["suggest", "--gpu-hours", "100", "--format", "json", "--top", "3"]) == 0
    return json.loads(out.getvalue())


def _with(document: dict, index: int, key: str, value) -> dict:
    changed = json.loads(json.dumps(document))
    if value is _MISSING:
        del changed["options"][index][key]
    else:
        changed["options"][index][key] = value
    return changed


_MISSING = object()

# (what to change, the error line after "error: <file>")
FAULTS = [
    ((0, "instances", 0), ": options[0].instances must be a positive integer, got 0"),
    ((1, "instances", -2), ": options[1].instances must be a positive integer, got -2"),
    ((0, "instances", 1.5), ": options[0].instances must be a positive integer, got 1.5"),
    ((0, "instances", "2"), ': options[0].instances must be a positive integer, got "2"'),
    ((0, "instances", True), ": options[0].instances must be a positive integer, got true"),
    ((2, "kgco2e", math.nan), ": options[2].kgco2e must be a finite number >= 0, got NaN"),
    ((0, "cost_usd", math.inf), ": options[0].cost_usd must be a finite number >= 0, got Infinity"),
    ((0, "usd_per_hour", -1.0), ": options[0].usd_per_hour must be a finite number >= 0, got -1.0"),
    (
        (0, "market", "reserved"),
        ': options[0].market must be one of on-demand, spot, got "reserved"',
    ),
    (
        (0, "provider", "oracle"),
        ': options[0].provider must be one of aws, gcp, azure, got "oracle"',
    ),
    ((1, "region", ""), ': options[1].region must be a non-empty string, got ""'),
    ((0, "gpu", ["H100"]), ": options[0].gpu must be a non-empty string, got a list"),
    ((0, "rank", 0), ": options[0].rank must be a positive integer, got 0"),
    ((0, "instances", _MISSING), ": options[0].instances is missing (must be a positive integer)"),
    ((1, "wall_hours", _MISSING), ": options[1].wall_hours is missing"),
    ((0, "gpus_per_instance", "eight"), ": options[0].gpus_per_instance must be a finite number"),
]


def _error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("hint: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize("command", ["launch", "report"])
@pytest.mark.parametrize("change,expected", FAULTS)
def test_each_fault_is_one_error_naming_the_file_and_field(
    cli, tmp_path, saved, command, change, expected
):
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(_with(saved, *change)), encoding="utf-8")  # NaN written as NaN
    extra = ["--out", str(tmp_path / "r")] if command == "report" else []
    result = cli(command, "--from", str(plan), *extra)
    assert result.code == ExitCode.BAD_INPUT, result.err
    line = _error_line(result.err)
    if command == "launch" or "options[" not in expected or "instances" in expected:
        assert line.startswith(f"error: {plan}{expected}"), line
    else:  # report's own reader may name a field it checks first, in its own words
        assert str(plan) in line and change[1] in line, line
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "content,expected",
    [
        (b"carbon: yes\n", " is not JSON (Expecting value at line 1, column 1)"),
        (b'{"options": [', " is not JSON"),
        (
            b"[1, 2, 3]",
            " is not a saved 'carbonplan suggest --format json' plan (it is a JSON list",
        ),
        (b'"plan"', " is not a saved 'carbonplan suggest --format json' plan (it is a JSON string"),
        (b"{}", " has no 'options' list (options: missing)"),
        (b'{"options": []}', " has no 'options' list (options: got a list)"),
        (b'{"options": {"rank": 1}}', " has no 'options' list (options: got an object)"),
        (b'{"options": [7]}', ": options[0] must be an object, got 7"),
        (b"\xff\xfe\x00plan", " is not UTF-8 text"),
    ],
)
def test_files_that_are_not_plans_are_one_error_for_launch(cli, tmp_path, content, expected):
    plan = tmp_path / "plan.json"
    plan.write_bytes(content)
    result = cli("launch", "--from", str(plan))
    assert result.code == ExitCode.BAD_INPUT, result.err
    assert _error_line(result.err).startswith(f"error: {plan}{expected}")


def test_a_missing_file_is_one_error(cli, tmp_path):
    result = cli("launch", "--from", str(tmp_path / "nope.json"))
    assert result.code == ExitCode.BAD_INPUT
    assert _error_line(result.err).startswith(f"error: cannot read --from {tmp_path}/nope.json")


def test_deeply_nested_json_is_refused_not_a_crash(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(BadInputError):
        planfile.read(path)


def test_the_plan_suggest_writes_passes_and_providers_match_the_catalog(saved, tmp_path):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(saved), encoding="utf-8")
    assert planfile.read(path)["options"] == saved["options"]
    assert planfile.PROVIDERS == PROVIDERS
