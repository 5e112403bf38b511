"""`suggest --start-after/--deadline/--interruptible` end to end, on a small synthetic trace
(tests/fixtures/traces/synthetic_hourly.csv: 2025-03-01..14, cleanest at 03:00 UTC each day,
the second week 40 g cleaner, and day-to-day offsets of 0, 7 or 14 g)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

TRACE = str(Path(__file__).parent / "fixtures" / "traces" / "synthetic_hourly.csv")
JOB = ["suggest", "--gpu-hours", "40", "--region", "aws:eu-north-1", "--intensity-file", TRACE]


def _options(result):
    assert result.code == 0, result.err
    return json.loads(result.out)["options"]


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_each_option_runs_in_its_cleanest_window_before_the_deadline(cli):
    options = _options(
        cli(*JOB, "--start-after", "2025-03-08T12:00Z", "--deadline", "48", "--format", "json")
    )
    assert options
    for o in options:
        start, end = _t(o["start"]), _t(o["end"])
        assert _t("2025-03-08T12:00Z") <= start and end <= _t("2025-03-10T12:00Z")
        assert o["gco2_per_kwh"] <= o["run_now_gco2_per_kwh"]
        assert o["kgco2e"] <= o["run_now_kgco2e"]
        if o["wall_hours"] <= 6:
            assert o["shift_saving_pct"] > 50  # noon vs the small hours
        delay = (start - _t("2025-03-08T12:00Z")).total_seconds() / 3600
        assert o["delay_hours"] == pytest.approx(delay)
    first = options[0]
    # the night of the 10th (day offset 0) is cleaner than the night of the 9th (+7 g)
    assert first["start"].startswith("2025-03-10T0")
    assert first["intensity_kind"] == "forecast"


def test_an_iso_deadline_is_the_latest_finish(cli):
    options = _options(
        cli(
            *JOB,
            "--start-after",
            "2025-03-08T12:00Z",
            "--deadline",
            "2025-03-09T12:00Z",
            "--format",
            "json",
        )
    )
    assert all(_t(o["end"]) <= _t("2025-03-09T12:00Z") for o in options)
    short = [o for o in options if o["wall_hours"] <= 6]
    assert short and all(o["start"].startswith("2025-03-09T0") for o in short)


def test_run_now_is_the_baseline_and_zero_flexibility_saves_nothing(cli):
    options = _options(cli(*JOB, "--start-after", "2025-03-08T12:00Z", "--format", "json"))
    for o in options:
        assert o["start"] == "2025-03-08T12:00:00Z"
        assert o["shift_saving_pct"] == 0
        assert o["gco2_per_kwh"] == pytest.approx(o["run_now_gco2_per_kwh"])


def test_interruptible_runs_in_its_cleanest_hours_and_pays_for_restarts(cli):
    base = ["--start-after", "2025-03-08T12:00Z", "--deadline", "60", "--format", "json"]
    big = ["suggest", "--gpu-hours", "400", "--region", "aws:eu-north-1", "--intensity-file"]
    contiguous = {o["instance_type"] + o["market"]: o for o in _options(cli(*big, TRACE, *base))}
    paused = _options(cli(*big, TRACE, *base, "--interruptible", "--checkpoint-minutes", "6"))
    compared = 0
    for o in paused:
        same = contiguous.get(o["instance_type"] + o["market"])
        if same is None or same["instances"] != o["instances"]:
            continue
        compared += 1
        assert o["gco2_per_kwh"] <= same["gco2_per_kwh"] + 1e-9
        if o["pauses"]:
            assert o["run_hours"] == pytest.approx(o["wall_hours"] + o["pauses"] * 0.1)
            assert o["energy_kwh"] > same["energy_kwh"]
            intervals = o["run_intervals"].split()
            assert len(intervals) == o["pauses"] + 1
            assert intervals[0].startswith(o["start"])
    assert compared
    assert any(o["pauses"] for o in paused)


def test_the_table_shows_start_and_saving(cli):
    result = cli(*JOB, "--start-after", "2025-03-08T12:00Z", "--deadline", "48", "--top", "3")
    assert result.code == 0, result.err
    assert "start (UTC)" in result.out and "2025-03-10 0" in result.out and "vs now" in result.out


def test_csv_has_the_timing_fields(cli):
    result = cli(*JOB, "--start-after", "2025-03-08T12:00Z", "--deadline", "48", "--format", "csv")
    header = result.out.splitlines()[0].split(",")
    for name in ("start", "end", "run_now_gco2_per_kwh", "run_now_kgco2e", "shift_saving_pct"):
        assert name in header


def test_a_forecast_short_of_the_deadline_plans_over_what_is_known_and_says_so(cli):
    result = cli(*JOB, "--start-after", "2025-03-14T12:00Z", "--deadline", "72", "--format", "json")
    assert "forecast ends before the deadline (from 2025-03-15T00:00:00Z)" in result.err
    options = _options(result)
    for o in options:
        if o["wall_hours"] <= 12:  # fits in what the trace still knows: shifted within it
            assert _t(o["end"]) <= _t("2025-03-15T00:00Z")
            assert o["delay_hours"] > 0
        else:  # cannot fit: starts at once, the last known value beyond the trace
            assert o["start"] == "2025-03-14T12:00:00Z"


def test_static_intensity_says_there_is_nothing_to_shift(cli):
    result = cli(
        "suggest",
        "--gpu-hours",
        "40",
        "--start-after",
        "2030-01-01T00:00Z",
        "--deadline",
        "24",
        "--format",
        "json",
    )
    assert result.code == 0, result.err
    assert result.err.count("nothing to shift") == 1
    options = json.loads(result.out)["options"]
    assert all(o["start"] == "2030-01-01T00:00:00Z" and o["shift_saving_pct"] == 0 for o in options)
    doc = json.loads(result.out)
    assert doc["constraints"]["start_after"] == "2030-01-01T00:00:00Z"
    assert doc["constraints"]["deadline_hours"] == 24


def test_deadline_in_hours_alone_keeps_the_old_meaning(cli):
    result = cli("suggest", "--gpu-hours", "400", "--deadline", "10", "--format", "json")
    assert result.code == 0 and result.err == ""
    options = json.loads(result.out)["options"]
    assert all(o["start"] is None and o["wall_hours"] <= 10 + 1e-9 for o in options)


@pytest.mark.parametrize(
    "args,message",
    [
        (["--deadline", "2025-03-01T00:00Z", "--start-after", "2025-03-02T00:00Z"], "not after"),
        (["--deadline", "soon"], "is not a time"),
        (["--start-after", "yesterday-ish"], "is not a time"),
        (["--interruptible"], "needs --deadline"),
        (["--checkpoint-minutes", "3", "--deadline", "5"], "--interruptible"),
        (["--interruptible", "--deadline", "5", "--checkpoint-minutes", "-1"], "between 0"),
        (["--deadline", "0"], "--deadline must be > 0"),
        (["--intensity", "live", "--start-after", "2020-01-01T00:00Z"], "in the past"),
    ],
)
def test_bad_timing_flags_are_one_clear_error(cli, args, message):
    result = cli("suggest", "--gpu-hours", "40", *args)
    result.assert_one_clear_error(message)
