"""One validated intensity-trace reader (issue 13, traces): ``--intensity-file`` (suggest,
report, intensity) and ``replay --trace`` read a file through recommender.intensity.tracefile,
so one file gives the same series, or the same one-line error with its line number, in every
command. Traces are small files written here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recommender.errors import BadInputError, ExitCode
from recommender.intensity.csvfile import CsvSource
from recommender.intensity.registry import FetchContext
from recommender.intensity.settings import load_settings
from recommender.intensity.tracefile import read_trace_file
from recommender.replay import load_traces

HEADER = "datetime,gco2_per_kwh"


def _write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def _hourly(start: str, values: list[float]) -> list[str]:
    t0 = datetime.fromisoformat(start.replace("Z", "+00:00"))
    return [
        f"{(t0 + timedelta(hours=h)).strftime('%Y-%m-%dT%H:%M:%SZ')},{v}"
        for h, v in enumerate(values)
    ]


def _suggest_series(
    path: Path, zone: str, column: str | None = None
) -> list[tuple[datetime, float]]:
    """The series the suggest/report/intensity path plans on (the csv source)."""
    settings = load_settings(path, column)
    ctx = FetchContext(settings, datetime(2000, 1, 1, tzinfo=UTC))
    series = CsvSource(settings).fetch(zone, ctx)
    return [(p.time, p.gco2_per_kwh) for p in series.points]


def _replay_series(
    path: Path, column: str | None = None
) -> dict[str, list[tuple[datetime, float]]]:
    """Each zone's series as replay charges it."""
    out = {}
    for trace in load_traces(path, column):
        times = [trace.start.to_pydatetime() + timedelta(seconds=trace.period_s * i)
                 for i in range(len(trace.values))]  # fmt: skip
        out[trace.zone] = list(zip(times, trace.values.tolist(), strict=True))
    return out


# -- the same file, the same series --------------------------------------------------------------


def test_one_file_gives_the_same_series_to_suggest_and_replay(tmp_path):
    """A 30-minute trace with 15-minute stretches (averaged), missing rows and an empty cell
    (interpolated), in two zones given in one file, one of them with local offsets."""
    rows = []
    t0 = datetime(2022, 6, 1, tzinfo=UTC)
    for i in range(6 * 48):  # six days, every 30 minutes
        when = t0 + timedelta(minutes=30 * i)
        if i in (40, 41, 97):
            continue  # missing rows: filled
        value = "" if i == 120 else f"{200 + 80 * np.sin(i / 7):.2f}"
        rows.append(f"{when:%Y-%m-%dT%H:%M:%SZ},ES,{value}")
        if i % 50 == 3:  # a 15-minute row inside this period: averaged into it
            rows.append(f"{when + timedelta(minutes=15):%Y-%m-%dT%H:%M:%SZ},ES,{value or 150}")
        local = when.astimezone(pd.Timestamp("2022-06-01", tz="Europe/Paris").tzinfo)
        rows.append(f"{local.isoformat()},FR,{50 + i % 24}")
    path = _write(tmp_path / "two.csv", "datetime,zone,gco2_per_kwh", rows)

    replayed = _replay_series(path)
    assert sorted(replayed) == ["es", "fr"]
    for zone, series in replayed.items():
        assert _suggest_series(path, zone) == series
    es = {t.zone: t for t in load_traces(path)}["es"]
    assert es.period_s == 1800 and es.filled == 4 and es.merged == 6
    assert len(es.values) == 6 * 48 and np.isfinite(es.values).all()
    fr = replayed["fr"]
    assert fr[0][0] == t0 and [v for _, v in fr[:3]] == [50, 51, 52]  # offsets read to UTC


def test_the_intensity_command_shows_the_trace_values(cli, tmp_path):
    """Through the CLI: ``carbonplan intensity`` reports the file's own hourly values, those
    the replay path reads."""
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    values = [100 + (h * 37) % 200 for h in range(60)]
    path = _write(tmp_path / "now.csv", HEADER, _hourly(iso(hour - timedelta(hours=30)), values))
    result = cli("intensity", "aws:eu-west-1", "--intensity-file", str(path), "--format", "json")
    assert result.code == 0, result.err
    (record,) = json.loads(result.out)
    shown = [(p["time"], p["gco2_per_kwh"]) for p in record["history"]]  # whole clock hours
    (trace,) = load_traces(path)
    read = {
        (trace.start + pd.Timedelta(hours=i)).strftime("%Y-%m-%dT%H:%M:%SZ"): v
        for i, v in enumerate(trace.values.tolist())
    }
    assert len(shown) == 24
    for when, value in shown:
        assert value == pytest.approx(read[when])


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_named_column_is_read_the_same_way_everywhere(tmp_path):
    rows = [f"{r},{i},{i + 40}" for i, r in enumerate(_hourly("2022-01-01T00:00Z", [0] * 30))]
    rows = [",".join(r.split(",")[0:1] + r.split(",")[2:]) for r in rows]
    path = _write(tmp_path / "em.csv", "datetime,direct,gco2_per_kwh", rows)
    assert _replay_series(path)["*"] == _suggest_series(path, "*")
    assert [v for _, v in _suggest_series(path, "*")][:2] == [40, 41]
    assert [v for _, v in _replay_series(path, "direct")["*"]][:2] == [0, 1]
    assert _replay_series(path, "direct")["*"] == _suggest_series(path, "*", "direct")


# -- what the reader accepts, and how ------------------------------------------------------------


def test_daylight_saving_local_time(tmp_path):
    """With offsets a local-time file is one regular UTC series across the autumn change;
    without them the repeated hour is refused (the hint says why) and the skipped spring hour
    is one interpolated period."""
    autumn = ["2022-10-30T01:00:00+02:00", "2022-10-30T02:00:00+02:00"]
    autumn += ["2022-10-30T02:00:00+01:00", "2022-10-30T03:00:00+01:00"]
    path = _write(tmp_path / "off.csv", HEADER, [f"{t},{100 + i}" for i, t in enumerate(autumn)])
    (trace,) = load_traces(path)
    assert trace.start == pd.Timestamp("2022-10-29T23:00Z") and trace.period_s == 3600
    assert trace.values.tolist() == [100, 101, 102, 103] and trace.filled == 0

    naive = [t[:19].replace("T", " ") for t in autumn]
    path = _write(tmp_path / "local.csv", HEADER, [f"{t},{100 + i}" for i, t in enumerate(naive)])
    with pytest.raises(BadInputError, match="line 4: 2022-10-30 02:00:00 appears twice") as info:
        read_trace_file(path)
    assert "offset" in info.value.hint

    spring = ["2022-03-27 00:00", "2022-03-27 01:00", "2022-03-27 03:00", "2022-03-27 04:00"]
    path = _write(tmp_path / "spring.csv", HEADER, [f"{t},{100 + i}" for i, t in enumerate(spring)])
    (trace,) = load_traces(path)
    assert trace.values.tolist() == [100, 101, 101.5, 102, 103] and trace.filled == 1


def test_tolerance_a_60th_of_the_period_and_finer_rows_on_5_minute_marks(tmp_path):
    jitter = ["2022-01-01T00:00:00Z,1", "2022-01-01T01:00:40Z,2", "2022-01-01T01:59:30Z,3"]
    (trace,) = load_traces(_write(tmp_path / "jitter.csv", HEADER, jitter))
    assert trace.values.tolist() == [1, 2, 3] and trace.start == pd.Timestamp("2022-01-01T00:00Z")
    late = [*jitter[:2], "2022-01-01T02:01:30Z,3"]  # 90 s off an hourly grid
    with pytest.raises(BadInputError, match=r"line 4: .* is off the trace's grid"):
        read_trace_file(_write(tmp_path / "late.csv", HEADER, late))
    finer = _hourly("2022-01-01T00:00Z", [100, 3, 4, 5, 6])
    finer.insert(1, "2022-01-01T00:15:00Z,200")
    (trace,) = load_traces(_write(tmp_path / "finer.csv", HEADER, finer))
    assert trace.values.tolist() == [150, 3, 4, 5, 6] and trace.merged == 1


def test_a_grid_keeps_its_own_phase(tmp_path):
    """India's +05:30: rows on the half hour UTC are the grid, not off it."""
    rows = [f"2022-01-01T{h:02d}:00:00+05:30,{h}" for h in range(8)]
    (trace,) = load_traces(_write(tmp_path / "in.csv", HEADER, rows))
    assert trace.start == pd.Timestamp("2021-12-31T18:30Z") and trace.values.tolist() == list(
        range(8)
    )


def test_zones_are_case_insensitive_and_checked_each_on_its_own(tmp_path):
    rows = ["2022-01-01T00:00Z,ES,1", "2022-01-01T00:00Z,FR,5", "2022-01-01T01:00Z,es,2"]
    rows += ["2022-01-01T01:00Z,FR,6", "2022-01-01T02:00Z,Es,3"]
    found = read_trace_file(_write(tmp_path / "z.csv", "datetime,zone,gco2_per_kwh", rows))
    assert {k: t.values.tolist() for k, t in found.traces.items()} == {
        "es": [1, 2, 3],
        "fr": [5, 6],
    }
    assert found.traces["es"].name == "z.csv [ES]"


def test_values_are_read_only_in_the_shared_cache(tmp_path):
    path = _write(tmp_path / "ro.csv", HEADER, _hourly("2022-01-01T00:00Z", [1, 2, 3]))
    (trace,) = load_traces(path)
    with pytest.raises(ValueError):
        trace.values[0] = 99.0
    (again,) = load_traces(path)
    assert again.values.tolist() == [1, 2, 3]


def test_a_changed_file_is_read_again(tmp_path):
    path = _write(tmp_path / "t.csv", HEADER, _hourly("2022-01-01T00:00Z", [1, 2, 3]))
    assert load_traces(path)[0].values.tolist() == [1, 2, 3]
    _write(path, HEADER, _hourly("2022-01-01T00:00Z", [1, 2, 3, 4]))
    os.utime(path, ns=(1, 1))
    assert load_traces(path)[0].values.tolist() == [1, 2, 3, 4]


# -- rejections: one error line with its line number, in every command ------------------------

GOOD = _hourly("2022-01-01T00:00Z", [100, 110, 120, 130, 140, 150])

REJECTED = {
    "duplicate": (
        [GOOD[0], GOOD[1], GOOD[2], GOOD[1], GOOD[3]],
        "line 5: 2022-01-01T01:00:00Z appears twice (also line 3)",
    ),
    "not in order": (
        [GOOD[0], GOOD[2], GOOD[1], GOOD[3]],
        "line 4: 2022-01-01T01:00:00Z comes before the row above it (line 3",
    ),
    "off the grid": (
        [*GOOD[:3], "2022-01-01T02:37:00Z,5", *GOOD[3:]],
        "line 5: 2022-01-01T02:37:00Z is off the trace's grid",
    ),
    "same period twice": (
        [*GOOD[:2], "2022-01-01T01:00:20Z,5", *GOOD[2:]],
        "line 4: 2022-01-01T01:00:20Z is the same period as line 3",
    ),
    "period not dividing a day": (
        [f"2022-01-01T00:{7 * i:02d}:00Z,{i}" for i in range(8)],
        "line 3: rows are a median 7 minutes apart",
    ),
    "long gap": (
        [*GOOD, "2022-01-01T14:00:00Z,5"],
        "line 8: no data for 8 h from 2022-01-01 06:00 UTC",
    ),
    "infinite": ([GOOD[0], "2022-01-01T01:00:00Z,inf"], "line 3: gco2_per_kwh=inf"),
    "nan": ([GOOD[0], GOOD[1], "2022-01-01T02:00:00Z,NaN"], "line 4: gco2_per_kwh=NaN"),
    "negative": ([GOOD[0], "2022-01-01T01:00:00Z,-5"], "line 3: gco2_per_kwh=-5"),
    "implausible": ([GOOD[0], "2022-01-01T01:00:00Z,5000"], "line 3: gco2_per_kwh=5000"),
    "extra field": ([GOOD[0], "2022-01-01T01:00:00Z,12,5"], "line 3: not a CSV row"),
    "text value": ([GOOD[0], "2022-01-01T01:00:00Z,high"], "line 3: gco2_per_kwh=high"),
    "year 9999": ([GOOD[0], "9999-01-01T01:00:00Z,5"], "line 3: year 9999 is outside 1990-2100"),
    "year 1989": (["1989-12-31T23:00:00Z,5", *GOOD], "line 2: year 1989 is outside 1990-2100"),
    "not a time": ([GOOD[0], "yesterday,5"], "line 3: datetime 'yesterday' is not a time"),
    "blank lines count": (
        [GOOD[0], "", GOOD[1], "", GOOD[1]],
        "line 6: 2022-01-01T01:00:00Z appears twice (also line 4)",
    ),
}


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad")
    files = {
        name: _write(root / f"{name.replace(' ', '_')}.csv", HEADER, rows)
        for name, (rows, _) in REJECTED.items()
    }
    files["empty"] = root / "empty.csv"
    files["empty"].write_text("", encoding="utf-8")
    files["header only"] = _write(root / "header.csv", HEADER, [])
    files["unknown columns"] = _write(root / "odd.csv", "when,howdirty", ["2022-01-01,1"])
    return files


MESSAGES = {name: message for name, (_, message) in REJECTED.items()} | {
    "empty": "empty.csv is empty",
    "header only": "header.csv has no data rows",
    "unknown columns": "odd.csv: unknown trace format (columns: when, howdirty)",
}


def _commands(path: Path) -> list[list[str]]:
    return [
        ["suggest", "--gpu-hours", "400", "--intensity-file", str(path)],
        ["replay", "--trace", str(path), "--job-hours", "1"],
        ["intensity", "aws:eu-west-1", "--intensity-file", str(path)],
    ]


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_a_bad_trace_is_the_same_one_error_in_every_command(cli, bad_files, name):
    path = bad_files[name]
    lines = set()
    for args in _commands(path):
        result = cli(*args)
        result.assert_one_clear_error(MESSAGES[name])  # exit 2, error + hint, no traceback
        assert len(result.err.strip().splitlines()) == 2, result.err
        error = result.err.splitlines()[0]
        assert str(path) in error
        lines.add(error)
    assert len(lines) == 1, lines  # word for word the same in suggest, replay and intensity


def test_a_missing_named_column_names_the_columns(cli, tmp_path):
    path = _write(tmp_path / "t.csv", HEADER, GOOD)
    message = "has no column 'lca' (columns: datetime, gco2_per_kwh)"
    for args in (
        ["suggest", "--gpu-hours", "400", "--intensity-file", str(path)],
        ["replay", "--trace", str(path), "--job-hours", "1"],
    ):
        cli(*args, "--intensity-column", "lca").assert_one_clear_error(message)


def test_a_missing_file_is_one_error(cli, tmp_path):
    for args in _commands(tmp_path / "none.csv"):
        cli(*args).assert_one_clear_error("none.csv does not exist")


def test_duplicate_timestamps_exit_non_zero_with_one_error_line_in_a_real_process(tmp_path):
    """Must show (issue 13): a trace with duplicate timestamps is one `error:` line (exit
    non-zero), with the line number."""
    rows = [*GOOD[:3], GOOD[1], GOOD[3]]
    path = _write(tmp_path / "dup.csv", HEADER, rows)
    env = {**os.environ, "CARBONPLAN_CONFIG": str(tmp_path / "none.toml")}
    env.pop("CARBONPLAN_DEBUG", None)
    for args in (
        ["suggest", "--gpu-hours", "400", "--intensity-file", str(path)],
        ["replay", "--trace", str(path), "--job-hours", "1"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "recommender", *args],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert done.returncode == ExitCode.BAD_INPUT, done.stderr
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert errors == [
            f"error: trace {path} line 5: 2022-01-01T01:00:00Z appears twice (also line 3)"
        ]
        assert "Traceback" not in done.stderr and done.stdout == ""


# -- a trace's zone that matches no region asked for: one warning on every path -----------------


def _zoned(tmp_path: Path, zones: tuple[str, ...]) -> Path:
    rows = [f"2030-01-01T{h:02d}:00:00Z,{zone},{100 + h}" for h in range(24) for zone in zones]
    return _write(tmp_path / "zones.csv", "datetime,zone,gco2_per_kwh", rows)


SUGGEST = ["suggest", "--gpu-hours", "40", "--region", "aws:eu-south-2"]
PATHS = {
    "suggest": SUGGEST,
    "suggest --deadline": [*SUGGEST, "--start-after", "2030-01-01T00:00Z", "--deadline", "12"],
    "intensity": ["intensity", "aws:eu-south-2"],
}


@pytest.mark.parametrize("path_name", sorted(PATHS))
def test_a_zone_no_region_asked_for_is_one_warning_on_every_path(cli, tmp_path, path_name):
    args = PATHS[path_name]
    some = cli(*args, "--intensity-file", str(_zoned(tmp_path, ("ES", "XX"))))
    assert some.code == 0, some.err
    said = [line for line in some.err.splitlines() if "zone xx" in line]
    assert said == [
        "warning: csv: zone xx matches none of the 1 region planned and is not used (a zone "
        "names PROVIDER:REGION, an Electricity Maps zone or a WattTime region)"
    ], some.err
    none = cli(*args, "--intensity-file", str(_zoned(tmp_path, ("XX",))))
    assert none.code == 0, none.err
    said = [line for line in none.err.splitlines() if "covers none" in line]
    assert len(said) == 1 and "zones.csv has zone(s) xx" in said[0], none.err
    every = cli(*args, "--intensity-file", str(_zoned(tmp_path, ("ES",))))
    assert every.code == 0 and "csv:" not in every.err, every.err


def test_a_zone_no_region_asked_for_is_said_by_report(cli, tmp_path):
    result = cli(
        "report", "--gpu-hours", "40", "--region", "aws:eu-south-2", "--out",
        str(tmp_path / "r"), "--intensity-file", str(_zoned(tmp_path, ("ES", "XX"))),
    )  # fmt: skip
    assert result.code == 0, result.err
    assert sum("zone xx matches none" in line for line in result.err.splitlines()) == 1
