"""`carbonplan replay`: trace layouts, the job patterns, zero flexibility, oracle bounds, and a
forecaster that never sees the future. Traces are small synthetic files written here or in
tests/fixtures/traces/ (never the reference data)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recommender.errors import BadInputError, ExitCode
from recommender.replay import (
    FORECASTERS,
    daily_jobs,
    evaluate,
    forecast_matrix,
    jobs_from_file,
    load_traces,
)

FIXTURE = Path(__file__).parent / "fixtures" / "traces" / "synthetic_hourly.csv"


def _profile(times: pd.DatetimeIndex) -> np.ndarray:
    """Clean at 03:00 UTC, dirty at 15:00, with a slow drift so days differ."""
    hour = times.hour + times.minute / 60
    day = (times - times[0]).days
    return 200 + 100 * np.cos(2 * np.pi * (hour - 15) / 24) + 5 * np.sin(day.to_numpy() / 2)


def _write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def _times(start: str, periods: int, minutes: int) -> pd.DatetimeIndex:
    return pd.date_range(start, periods=periods, freq=f"{minutes}min", tz="UTC")


@pytest.fixture
def layouts(tmp_path: Path) -> dict[str, Path]:
    """One small file in each published layout (synthetic values)."""
    out = {}
    t15 = _times("2020-03-01", 4 * 24 * 10, 15)
    v15 = _profile(t15)
    out["lets-wait-awhile"] = _write(
        tmp_path / "ger_ci.csv",
        "Time,Carbon Intensity",
        [f"{t:%Y-%m-%d %H:%M:%S},{v}" for t, v in zip(t15, v15, strict=True)],
    )
    t60 = _times("2021-01-01", 24 * 10, 60)
    v60 = _profile(t60)
    out["hourly means"] = _write(
        tmp_path / "de_hourly.csv",
        "datetime,carbon_intensity_gco2_per_kwh,n_samples",
        [f"{t:%Y-%m-%d %H:%M:%S},{v:.3f},4" for t, v in zip(t60, v60, strict=True)],
    )
    out["electricitymaps"] = _write(
        tmp_path / "ES_2021_hourly.csv",
        "Datetime (UTC),Country,Zone Name,Zone Id,Carbon Intensity gCO₂eq/kWh (direct),"
        "Carbon Intensity gCO₂eq/kWh (LCA),Low Carbon Percentage,Renewable Percentage,"
        "Data Source,Data Estimated,Data Estimation Method",
        [
            f"{t:%Y-%m-%d %H:%M:%S},Spain,Spain,ES,{v:.2f},{v + 40:.2f},70,50,entsoe.eu,false,"
            for t, v in zip(t60, v60, strict=True)
        ],
    )
    t5 = _times("2023-06-08", 12 * 24 * 9, 5)
    out["watttime moer"] = _write(
        tmp_path / "CAISO_NORTH_moer_5min.csv",
        "oootime,Caiso_North",
        [f"{t:%Y-%m-%d %H:%M:%S},{v:.8f}" for t, v in zip(t5, _profile(t5), strict=True)],
    )
    return out


def test_every_published_layout_loads_at_its_own_resolution(layouts):
    periods = {
        "lets-wait-awhile": 15,
        "hourly means": 60,
        "electricitymaps": 60,
        "watttime moer": 5,
    }
    for layout, path in layouts.items():
        (trace,) = load_traces(path)
        assert trace.layout == layout
        assert trace.period_s == periods[layout] * 60
        assert trace.filled == 0
        extra = 40 if layout == "electricitymaps" else 0  # lifecycle = direct + 40 here
        assert trace.values.min() >= 90 + extra and trace.values.max() <= 310 + extra
    # Lifecycle by default (the basis of the shipped figures); direct when asked for.
    (em,) = load_traces(layouts["electricitymaps"])
    assert em.column == "Carbon Intensity gCO₂eq/kWh (LCA)"
    (direct,) = load_traces(layouts["electricitymaps"], "Carbon Intensity gCO₂eq/kWh (direct)")
    assert em.values.mean() == pytest.approx(direct.values.mean() + 40)


def test_suggest_and_replay_read_the_same_column_of_one_file(layouts):
    """One reader: --intensity-file (suggest) and --trace (replay) take the same column of the
    same file, by default and when --intensity-column names one."""
    from recommender.intensity.csvfile import CsvSource
    from recommender.intensity.registry import FetchContext
    from recommender.intensity.settings import load_settings

    path = layouts["electricitymaps"]
    for column in (None, "Carbon Intensity gCO₂eq/kWh (direct)"):
        (trace,) = load_traces(path, column)
        settings = load_settings(path, column)
        series = CsvSource(settings).fetch("es", FetchContext(settings, trace.end))
        assert [p.gco2_per_kwh for p in series.points] == pytest.approx(trace.values.tolist())


def test_mixed_resolution_is_averaged_and_short_gaps_filled(tmp_path):
    rows = ["2020-01-01 00:00:00,100", "2020-01-01 00:30:00,200"]
    rows += ["2020-01-01 01:00:00,300", "2020-01-01 01:15:00,500"]  # a 15-min stretch
    rows += ["2020-01-01 01:30:00,100", "2020-01-01 02:30:00,300"]  # 02:00 missing
    rows += ["2020-01-01 03:00:00,100", "2020-01-01 03:30:00,100"]
    (trace,) = load_traces(_write(tmp_path / "gb.csv", "Time,Carbon Intensity", rows))
    assert trace.period_s == 1800
    assert trace.values.tolist() == [100, 200, 400, 100, 200, 300, 100, 100]
    assert trace.filled == 1 and trace.merged == 1


def test_a_long_gap_is_refused(tmp_path):
    rows = [f"2020-01-01T0{h}:00:00Z,100" for h in range(6)] + ["2020-01-03T05:00:00Z,100"]
    with pytest.raises(BadInputError, match="no data for 47 h from 2020-01-01 06:00"):
        load_traces(_write(tmp_path / "gap.csv", "datetime,gco2_per_kwh", rows))


def test_an_unknown_format_names_the_columns_expected(cli, tmp_path):
    path = _write(tmp_path / "odd.csv", "when,howdirty", ["2020-01-01,1", "2020-01-02,2"])
    result = cli("replay", "--trace", str(path), "--job-hours", "1")
    assert result.code == ExitCode.BAD_INPUT
    first, hint = result.err.strip().splitlines()
    assert "unknown trace format (columns: when, howdirty)" in first
    assert "Datetime (UTC)" in hint and "oootime" in hint and "--intensity-column" in hint


def _trace(days: int = 30, minutes: int = 60):
    t = _times("2022-01-01", days * 24 * 60 // minutes, minutes)
    rows = [f"{a:%Y-%m-%dT%H:%M:%SZ},{v:.4f}" for a, v in zip(t, _profile(t), strict=True)]
    return rows


@pytest.fixture
def hourly(tmp_path):
    (trace,) = load_traces(_write(tmp_path / "h.csv", "datetime,gco2_per_kwh", _trace()))
    return trace


@pytest.mark.parametrize("forecaster", FORECASTERS)
def test_zero_flexibility_gives_zero_saving(hourly, forecaster):
    jobs = daily_jobs(hourly, job_hours=5, flex_hours=0, at_hours=1)
    r = evaluate(hourly, jobs, interruptible=True, forecaster=forecaster)
    assert r["jobs"] > 0
    for key in (
        "forecast_shifted_saving_pct",
        "oracle_shifted_saving_pct",
        "forecast_interruptible_saving_pct",
        "oracle_interruptible_saving_pct",
        "mean_delay_hours",
        "oracle_mean_delay_hours",
    ):
        assert r[key] == 0, key


def test_oracle_is_the_bound_and_pausing_adds_to_it(hourly):
    jobs = daily_jobs(hourly, job_hours=4, flex_hours=20, at_hours=12)
    r = evaluate(hourly, jobs, interruptible=True, checkpoint_minutes=5)
    assert r["oracle_shifted_saving_pct"] >= r["forecast_shifted_saving_pct"] - 1e-9
    assert r["oracle_interruptible_saving_pct"] >= r["oracle_shifted_saving_pct"] - 1e-9
    # noon submissions of 4 h jobs with 20 h of slack wait for the small hours
    assert r["oracle_shifted_saving_pct"] > 40
    assert 12 <= r["oracle_mean_delay_hours"] <= 16
    assert r["mode"] == "forecast" and r["shifted_saving_pct"] == r["forecast_shifted_saving_pct"]
    oracle = evaluate(hourly, jobs, interruptible=True, oracle=True)
    assert oracle["shifted_saving_pct"] == r["oracle_shifted_saving_pct"]


def test_the_baseline_is_run_at_submit(hourly):
    jobs = daily_jobs(hourly, job_hours=1, flex_hours=8, at_hours=15)
    r = evaluate(hourly, jobs)
    first = int(hourly.index_of(jobs.submit[0]))
    # 1 h jobs at 15:00 run in the dirtiest hour of each day
    assert r["baseline_gco2_per_kwh"] == pytest.approx(hourly.values[first], rel=0.05)


def test_resolution_does_not_change_the_answer(tmp_path):
    """The same hourly profile at 15-minute and 60-minute resolution."""
    t60 = _times("2022-01-01", 24 * 20, 60)
    v60 = np.round(_profile(t60), 3)
    hourly_rows = [f"{a:%Y-%m-%dT%H:%M:%SZ},{v}" for a, v in zip(t60, v60, strict=True)]
    t15 = _times("2022-01-01", 24 * 20 * 4, 15)
    quarter_rows = [
        f"{a:%Y-%m-%dT%H:%M:%SZ},{v}" for a, v in zip(t15, np.repeat(v60, 4), strict=True)
    ]
    (h,) = load_traces(_write(tmp_path / "h.csv", "datetime,gco2_per_kwh", hourly_rows))
    (q,) = load_traces(_write(tmp_path / "q.csv", "datetime,gco2_per_kwh", quarter_rows))
    assert q.period_s == 900
    for trace in (h, q):
        trace_jobs = daily_jobs(trace, job_hours=3, flex_hours=9, at_hours=22)
        result = evaluate(trace, trace_jobs, interruptible=True, checkpoint_minutes=0)
        if trace is h:
            expect = result
        else:
            for key in ("baseline_gco2_per_kwh", "oracle_shifted_saving_pct", "jobs"):
                assert result[key] == pytest.approx(expect[key]), key


def test_the_forecaster_never_sees_the_future():
    rng = np.random.default_rng(3)
    values = rng.uniform(50, 500, size=24 * 20)
    first = np.array([24 * 8, 24 * 9 + 5, 24 * 12 + 13])
    for method in FORECASTERS:
        seen = forecast_matrix(values, first, 48, 24, method)
        changed = values.copy()
        for f in first:
            changed[f:] = rng.uniform(50, 500, size=len(values) - f)  # rewrite the future
            again = forecast_matrix(changed, first[first == f], 48, 24, method)
            assert np.array_equal(again[0], seen[first == f][0]), method
            changed = values.copy()


def test_realistic_decisions_ignore_what_happens_after_submit(hourly):
    """Same past, a different future: the forecast plan is unchanged, the oracle's is not."""
    from dataclasses import replace

    from recommender.replay import Jobs

    every = daily_jobs(hourly, job_hours=2, flex_hours=10, at_hours=18)
    one = Jobs(every.submit[9:10], every.hours[9:10], every.deadline[9:10], "one")
    before = evaluate(hourly, one)
    values = hourly.values.copy()
    i = int(hourly.index_of(one.submit[0]))
    values[i : i + 12] = values[i : i + 12][::-1].copy()  # the evening is now the clean part
    after = evaluate(replace(hourly, values=values), one)
    assert after["oracle_mean_delay_hours"] != before["oracle_mean_delay_hours"]
    assert after["forecast_mean_delay_hours"] == before["forecast_mean_delay_hours"]


def test_cli_json_has_one_object_per_trace_with_the_documented_fields(cli, tmp_path):
    second = _write(tmp_path / "two.csv", "datetime,gco2_per_kwh", _trace(days=20))
    result = cli(
        "replay",
        "--trace",
        str(FIXTURE),
        "--trace",
        str(second),
        "--job-hours",
        "1",
        "--every",
        "24h",
        "--at",
        "01:00",
        "--flex",
        "8",
        "--interruptible",
        "--format",
        "json",
    )
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert [d["trace"] for d in doc] == ["synthetic_hourly.csv", "two.csv"]
    for d in doc:
        for key in (
            "trace",
            "jobs",
            "baseline_gco2_per_kwh",
            "shifted_saving_pct",
            "interruptible_saving_pct",
            "mean_delay_hours",
            "oracle_shifted_saving_pct",
            "forecast_shifted_saving_pct",
        ):
            assert key in d
        assert d["jobs"] > 0 and math.isfinite(d["shifted_saving_pct"])
    # fixture: jobs at 01:00 may wait for 03:00, the cleanest hour
    assert doc[0]["oracle_mean_delay_hours"] == pytest.approx(2.0)


def test_cli_table_and_csv(cli):
    args = ["replay", "--trace", str(FIXTURE), "--job-hours", "24", "--flex", "24"]
    table = cli(*args, "--interruptible")
    assert table.code == 0, table.err
    assert "synthetic_hourly.csv" in table.out and "oracle" in table.out
    csv = cli(*args, "--format", "csv")
    header, row = csv.out.strip().splitlines()
    assert header.startswith("trace,jobs,baseline_gco2_per_kwh,shifted_saving_pct")
    assert row.split(",")[4] == ""  # no --interruptible: no interruptible figure


def test_jobs_file(cli, tmp_path):
    jobs = _write(
        tmp_path / "jobs.csv",
        "submit,job_hours,deadline",
        [
            "2025-03-09T12:00:00Z,2,2025-03-10T12:00:00Z",
            "2025-03-10T20:00,4,",
            "2030-01-01T00:00Z,1,",  # outside the trace: left out, with a warning
        ],
    )
    parsed = jobs_from_file(jobs, flex_hours=10)
    assert parsed.deadline[1] == pd.Timestamp("2025-03-11T10:00Z")
    result = cli(
        "replay", "--trace", str(FIXTURE), "--jobs", str(jobs), "--flex", "10", "--format", "json"
    )
    assert result.code == 0, result.err
    (doc,) = json.loads(result.out)
    assert doc["jobs"] == 2 and doc["jobs_skipped"] == 1
    assert "1 job(s) left out" in result.err


@pytest.mark.parametrize(
    "args,message",
    [
        (["--job-hours", "0"], "--job-hours must be > 0"),
        ([], "Missing option '--job-hours'"),
        (["--job-hours", "1", "--every", "often"], "not a duration"),
        (["--job-hours", "1", "--at", "25:00"], "not a time of day"),
        (["--job-hours", "1", "--checkpoint-minutes", "3"], "--interruptible"),
        (["--job-hours", "1", "--flex", "-1"], "--flex"),
        (["--job-hours", "1", "--column", "nope"], "no column 'nope'"),
    ],
)
def test_bad_replay_input_is_one_clear_error(cli, args, message):
    result = cli("replay", "--trace", str(FIXTURE), *args)
    result.assert_one_clear_error(message)


def test_missing_trace_file(cli, tmp_path):
    result = cli("replay", "--trace", str(tmp_path / "none.csv"), "--job-hours", "1")
    assert result.code == ExitCode.BAD_INPUT and "does not exist" in result.err


@pytest.mark.parametrize(
    "rows,message",
    [
        (
            ["2022-01-01T00:00Z,1", "2022-01-01T01:00Z,2", "2022-01-01T00:00Z,3"],
            "line 4: 2022-01-01T00:00Z appears twice (also line 2)",
        ),
        (["2022-01-01T00:00Z,1", "9999-01-01T01:00Z,2"], "line 3: year 9999 is outside 1990-2100"),
    ],
)
def test_a_bad_trace_is_one_error_with_its_line_for_suggest_and_replay(
    cli, tmp_path, rows, message
):
    """The same file fails the same way in both readers (--intensity-file and --trace)."""
    path = _write(tmp_path / "bad.csv", "datetime,gco2_per_kwh", rows)
    replay = cli("replay", "--trace", str(path), "--job-hours", "1")
    replay.assert_one_clear_error(message)
    suggest = cli("suggest", "--gpu-hours", "4", "--intensity-file", str(path))
    suggest.assert_one_clear_error(message)


def test_duplicates_in_different_zones_are_fine_but_not_within_one(tmp_path):
    header = "datetime,zone,gco2_per_kwh"
    ok = ["2022-01-01T00:00Z,ES,1", "2022-01-01T00:00Z,FR,2", "2022-01-01T01:00Z,ES,3"]
    ok += ["2022-01-01T01:00Z,FR,4"]
    assert len(load_traces(_write(tmp_path / "ok.csv", header, ok))) == 2
    bad = [*ok, "2022-01-01T01:00Z,FR,5"]
    with pytest.raises(BadInputError, match=r"line 6: .* appears twice \(also line 5\)"):
        load_traces(_write(tmp_path / "bad.csv", header, bad))


def test_a_trace_for_another_zone_than_the_regions_planned_is_said(cli, tmp_path):
    rows = [f"2030-01-01T{h:02d}:00Z,ES,{100 + h}" for h in range(24)]
    path = _write(tmp_path / "es.csv", "datetime,zone,gco2_per_kwh", rows)
    result = cli(
        "suggest", "--gpu-hours", "4", "--region", "aws:eu-west-1", "--intensity-file", str(path),
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "csv: covers none of the 1 region planned (es.csv has zone(s) es" in result.err
    same = cli(
        "suggest", "--gpu-hours", "4", "--region", "aws:eu-south-2", "--intensity-file", str(path)
    )
    assert same.code == 0 and "covers none" not in same.err  # Aragon is on zone ES
