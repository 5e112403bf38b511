"""The README's examples run from a fresh clone: every file they read is in the repository
(``samples/``), and the replay and --intensity-file examples give the figures printed there."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
FILE_FLAGS = re.compile(r"--(intensity-file|trace|jobs|from)[ =]+([^\s`|)]+)")


def console_examples() -> list[tuple[str, str]]:
    """Each ``$ command`` of the README's console blocks (continuation lines joined) and the
    output printed under it."""
    examples = []
    for block in re.findall(r"```console\n(.*?)```", README, flags=re.S):
        lines = block.splitlines()
        i = 0
        while i < len(lines):
            if not lines[i].startswith("$ "):
                i += 1
                continue
            command = lines[i][2:]
            while command.endswith("\\"):
                i += 1
                command = command[:-1] + " " + lines[i].strip()
            i += 1
            output = []
            while i < len(lines) and not lines[i].startswith("$ "):
                output.append(lines[i])
                i += 1
            examples.append((command, "\n".join(output)))
    return examples


def test_the_readme_names_no_file_outside_the_repository():
    for line_number, line in enumerate(README.splitlines(), 1):
        assert "../" not in line, (line_number, line)
        assert "shared/reference" not in line, (line_number, line)


def test_every_file_a_readme_example_reads_is_in_the_repository():
    commands = [command for command, _ in console_examples()]
    inline = re.findall(r"`(carbonplan [^`]+)`", README)
    checked = set()
    for text in commands + inline:
        for _flag, value in FILE_FLAGS.findall(text):
            if re.fullmatch(r"\d{4}-\d\d-\d\d.*", value):
                continue  # replay's --from DATE
            if "/" not in value and text in inline:
                continue  # e.g. `launch --from plan.json`: the file the sentence just saved
            assert (ROOT / value).is_file(), f"{value!r} in {text!r} is not in the repository"
            checked.add(value)
    assert {
        "samples/ES_week.csv",
        "samples/CISO_week.csv",
        "samples/jobs.csv",
        "samples/plan.json",
    } <= checked


def test_the_samples_are_small_and_attributed():
    for path in (ROOT / "samples").iterdir():
        assert path.stat().st_size < 40_000, path
        assert not path.read_bytes().startswith(b"\xef\xbb\xbf"), path  # no byte-order mark
    notes = (ROOT / "samples" / "README.md").read_text(encoding="utf-8")
    assert "Electricity Maps" in notes and "Apache-2.0" in notes and "ODbL" in notes
    assert "lets-wait-awhile" not in " ".join(p.name for p in (ROOT / "samples").iterdir())


def _run(cli, monkeypatch, command: str) -> dict | list:
    """Run a README command from the repository root, as JSON."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("CARBONPLAN_CONFIG", str(ROOT / "no-such-config.toml"))
    args = shlex.split(command)
    assert args[0] == "carbonplan"
    result = cli(*args[1:], "--format", "json")
    assert result.code == 0, (command, result.err)
    return json.loads(result.out)


REPLAYS = [(c, out) for c, out in console_examples() if c.startswith("carbonplan replay")]
TRACE_PLANS = [(c, out) for c, out in console_examples() if "--intensity-file" in c]


def test_the_examples_to_run_are_found():
    assert len(REPLAYS) >= 2 and any("--jobs" in c for c, _ in REPLAYS)
    assert TRACE_PLANS


@pytest.mark.parametrize(("command", "printed"), REPLAYS)
def test_readme_replay_examples_run_on_the_samples(cli, monkeypatch, command, printed):
    rows = [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in printed.splitlines()
        if line.startswith("│")
    ]
    assert rows, "the README shows the table this command prints"
    traces = {t["trace"]: t for t in _run(cli, monkeypatch, command)}
    for trace, _period, jobs, baseline, shifted, *_rest in rows:
        got = traces[trace]
        assert got["jobs"] == int(jobs) > 0
        assert f"{got['baseline_gco2_per_kwh']:.1f}" == baseline
        assert f"{got['forecast_shifted_saving_pct']:.1f}%" == shifted


@pytest.mark.parametrize(("command", "printed"), TRACE_PLANS)
def test_readme_intensity_file_example_runs_on_the_sample(cli, monkeypatch, command, printed):
    best = _run(cli, monkeypatch, command)["options"][0]  # type: ignore[call-overload]
    assert best["intensity_source"] and "csv" in json.dumps(best).lower()
    assert f"{best['kgco2e']:.3g}" in printed  # the kg CO2e the README shows
    assert best["start"][:16].replace("T", " ") in printed  # and the start it chose


@pytest.mark.parametrize(("command", "printed"), TRACE_PLANS)
def test_the_table_says_where_a_trace_plans_intensity_came_from(cli, monkeypatch, command, printed):
    # the rows shown, counted as shown; the file's series (not "live grid data"), averaged
    # over each option's own run (not "from now": the run starts after --start-after)
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("COLUMNS", "120")
    result = cli(*shlex.split(command)[1:])
    assert result.code == 0, result.err
    text = " ".join(result.out.split())
    assert "Intensity: the intensity file's series for 1 of 1 rows shown" in text
    assert "from now" not in text and "live grid data" not in text
    assert "Intensity: the intensity file's series for 1 of 1 rows shown" in " ".join(
        printed.split()
    )  # and the README shows what it prints


def test_the_sample_plan_renders_and_launches_as_a_dry_run(cli, monkeypatch, tmp_path):
    plan = ROOT / "samples" / "plan.json"
    result = cli("report", "--from", str(plan), "--out", str(tmp_path / "r"))
    assert result.code == 0, result.err
    assert (tmp_path / "r" / "report.html").is_file()
    result = cli("launch", "--from", str(plan), "--dry-run", "--format", "json")
    assert result.code == 0, result.err
