"""The fallback chain, the cache and the run-hour averages; ``suggest --intensity`` and
``carbonplan intensity`` end to end through the CLI against local servers."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from test_intensity_support import (
    EM_KEY,
    WT_PASSWORD,
    WT_USER,
    dead_base,
    point_env,
    settings_for,
)

from recommender.errors import BadInputError, ExitCode
from recommender.intensity import Point, Target, ZoneSeries, build_chain, window_means
from recommender.intensity.cache import IntensityCache
from recommender.intensity.resolve import resolve

pytest_plugins = ["test_intensity_support"]  # its fixtures: grid, local_server, clean_env
pytestmark = pytest.mark.usefixtures("clean_env")
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def series(points, period_s=3600, **kw) -> ZoneSeries:
    return ZoneSeries(
        source="test",
        label="test",
        zone="Z",
        period_s=period_s,
        points=tuple(points),
        fetched_at=NOW,
        observed_at=NOW,
        **kw,
    )


# -- averaging over the run's hours ----------------------------------------------------------


def test_window_mean_uses_forecast_then_latest():
    s = series(
        [Point(NOW - timedelta(hours=1), 500.0, "actual")]
        + [Point(NOW + timedelta(hours=h), v, "forecast") for h, v in enumerate([100, 200, 300])]
    )
    means, covered = window_means(s, NOW, np.array([1.0, 2.0, 3.0, 6.0, 0.5]))
    assert means.tolist() == pytest.approx([100, 150, 200, (600 + 3 * 500) / 6, 100])
    assert covered.tolist() == pytest.approx([1, 2, 3, 3, 0.5])


def test_window_mean_mid_period_start_and_half_hours():
    start = NOW + timedelta(minutes=15)
    s = series(
        [Point(NOW + timedelta(minutes=30 * i), v, "forecast") for i, v in enumerate([100, 200])],
        period_s=1800,
    )
    means, covered = window_means(s, start, np.array([0.75, 2.0]))
    # 15 min at 100, 30 min at 200, then the last forecast value persists (no observation)
    assert means[0] == pytest.approx((0.25 * 100 + 0.5 * 200) / 0.75)
    assert covered.tolist() == pytest.approx([0.75, 0.75])


def test_window_mean_without_any_forecast_is_the_latest_value():
    s = series([Point(NOW - timedelta(hours=2), 321.0)])
    means, covered = window_means(s, NOW, np.array([5.0, 100.0]))
    assert means.tolist() == [321.0, 321.0] and covered.tolist() == [0, 0]
    empty = series([])
    assert np.isnan(window_means(empty, NOW, np.array([1.0]))[0][0])


def test_hourly_series_for_time_shifting():
    s = series(
        [Point(NOW - timedelta(hours=1), 400.0)]
        + [Point(NOW + timedelta(hours=h), 100.0 + h, "forecast") for h in range(3)]
    )
    hours = s.hourly(NOW, 5)
    assert [(round(v), how) for _, v, how in hours] == [
        (100, "forecast"),
        (101, "forecast"),
        (102, "forecast"),
        (400, "latest"),
        (400, "latest"),
    ]


# -- the chain: fallback, warnings, credentials ------------------------------------------------


def targets() -> list[Target]:
    return [
        Target("aws", "eu-central-1", "Frankfurt", "DE", "DE", "DE", 50.1, 8.7, 380.0, "s", 2023),
        Target("gcp", "europe-west3", "Frankfurt", "DE", "DE", "DE", 50.1, 8.7, 275.0, "s", 2024),
        Target("aws", "eu-west-2", "London", "GB", "GB", "UK", 51.5, -0.1, 237.0, "s", 2023),
        Target(
            "aws",
            "us-west-1",
            "N. California",
            "US",
            "US-CAL-CISO",
            "CAISO_NORTH",
            37.4,
            -121.9,
            179.0,
            "s",
            2023,
        ),
    ]


def test_zones_are_shared_and_fetched_once(grid):
    chain = build_chain("electricitymaps", settings_for(grid.base))
    result = resolve(targets(), chain, now=datetime.now(UTC))
    assert grid.calls["/em/carbon-intensity/forecast"] == 3  # DE twice, GB, US-CAL-CISO
    assert all(s is not None and s.source == "electricitymaps" for s in result.answers.values())


def test_fallback_to_the_next_source_with_one_warning_per_reason(grid):
    grid.fail("/em/carbon-intensity/forecast", 500, {"status": "error"}, times=30)
    lines: list[str] = []
    chain = build_chain("electricitymaps,ukgrid", settings_for(grid.base))
    result = resolve(targets(), chain, now=datetime.now(UTC), warn=lines.append)
    assert result.answers["aws:eu-west-2"].source == "ukgrid"
    assert result.answers["aws:eu-central-1"] is None  # static
    assert lines == [
        "electricitymaps unavailable (HTTP 500; 3 zones: DE, GB, US-CAL-CISO): using static "
        "figures for 3 regions and ukgrid figures for 1 region"
    ]


def test_a_zone_the_key_cannot_access_is_named(grid):
    grid.fail(
        "/em/carbon-intensity/forecast",
        403,
        {"status": "error", "message": "Token unauthorized for zoneKey DE"},
        times=2,
    )
    lines: list[str] = []
    chain = build_chain("electricitymaps", settings_for(grid.base, workers=1))
    resolve(targets()[:2], chain, now=datetime.now(UTC), warn=lines.append)
    assert lines == [
        "electricitymaps unavailable (HTTP 403: no access to this zone; 1 zone: DE): "
        "using static figures for 2 regions"
    ]


def test_missing_credentials_error_only_when_the_source_is_named():
    settings = settings_for("http://127.0.0.1:9", electricitymaps_api_key=None)
    with pytest.raises(BadInputError, match="ELECTRICITYMAPS_API_KEY"):
        build_chain("electricitymaps", settings)
    assert build_chain("live", settings).names == ["watttime", "ukgrid"]
    assert build_chain("static", settings).is_static


def test_rejected_key_is_an_error_when_named_and_a_warning_under_live(grid):
    settings = settings_for(grid.base, electricitymaps_api_key="wrong-key")
    with pytest.raises(BadInputError, match="rejected the credentials"):
        resolve(targets(), build_chain("electricitymaps", settings), now=datetime.now(UTC))
    lines: list[str] = []
    live = build_chain("live", settings)
    result = resolve(targets(), live, now=datetime.now(UTC), warn=lines.append)
    assert lines[0].startswith("electricitymaps unavailable (HTTP 401: API key rejected")
    assert result.answers["aws:us-west-1"].source == "watttime"
    # after the first 401 the other zones are not asked again with the same key
    assert grid.calls["/em/carbon-intensity/forecast"] <= settings.workers


# -- cache -----------------------------------------------------------------------------------


def test_cache_hit_within_ttl_makes_no_request_and_a_miss_after(grid, tmp_path):
    cache_file = tmp_path / "c.sqlite3"
    chain = build_chain("electricitymaps", settings_for(grid.base, ttl_s=600))
    now = datetime.now(UTC)
    first = resolve(targets(), chain, now=now, cache=IntensityCache(cache_file))
    assert first.requests == 3 and first.cache_hits == 0
    second = resolve(
        targets(), chain, now=now + timedelta(minutes=5), cache=IntensityCache(cache_file)
    )
    assert second.requests == 0 and second.cache_hits == 3
    assert second.answers["aws:eu-central-1"].points == first.answers["aws:eu-central-1"].points
    third = resolve(
        targets(), chain, now=now + timedelta(minutes=11), cache=IntensityCache(cache_file)
    )
    assert third.requests == 3 and third.cache_misses >= 3


def test_source_down_uses_recent_cache_marked_cached(grid, tmp_path):
    cache_file = tmp_path / "c.sqlite3"
    settings = settings_for(grid.base, ttl_s=0)
    now = datetime.now(UTC)
    resolve(
        targets(),
        build_chain("electricitymaps", settings),
        now=now,
        cache=IntensityCache(cache_file),
    )
    down = settings_for(dead_base(), ttl_s=0)
    lines: list[str] = []
    result = resolve(
        targets(),
        build_chain("electricitymaps", down),
        now=now + timedelta(hours=1),
        cache=IntensityCache(cache_file),
        warn=lines.append,
    )
    assert all(s is not None and s.stale for s in result.answers.values())
    assert lines == [
        "electricitymaps unavailable (connection refused; 3 zones: DE, GB, US-CAL-CISO): "
        "using cached electricitymaps figures for 4 regions"
    ]


def test_corrupt_cache_is_rebuilt_with_a_warning(grid, tmp_path):
    cache_file = tmp_path / "c.sqlite3"
    cache_file.write_bytes(b"this is not a database" * 100)
    lines: list[str] = []
    chain = build_chain("electricitymaps", settings_for(grid.base))
    result = resolve(
        targets(),
        chain,
        now=datetime.now(UTC),
        cache=IntensityCache(cache_file, warn=lines.append),
        warn=lines.append,
    )
    assert any("was corrupt: rebuilt it" in line for line in lines)
    assert all(s is not None for s in result.answers.values())
    with sqlite3.connect(cache_file) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*) FROM fetches").fetchone()[0] == 3


def _writer(path: str, worker: int, rounds: int) -> None:
    cache = IntensityCache(Path(path))
    for i in range(rounds):
        points = tuple(Point(NOW + timedelta(hours=h), float(worker * 1000 + i)) for h in range(48))
        cache.store(
            [
                ZoneSeries(
                    source="test",
                    label="t",
                    zone=f"Z{worker}-{i % 5}",
                    period_s=3600,
                    points=points,
                    fetched_at=NOW,
                    observed_at=NOW,
                    signal="s",
                )
            ]
        )
        assert cache.load("test", f"Z{worker}-{i % 5}", "s", NOW, 60) is not None
    assert not cache.disabled
    cache.close()


def test_concurrent_processes_do_not_corrupt_the_cache(tmp_path):
    path = tmp_path / "shared.sqlite3"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(str(path), w, 30)) for w in range(4)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(60)
    assert [p.exitcode for p in workers] == [0, 0, 0, 0]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*) FROM fetches").fetchone()[0] == 20
        assert conn.execute("SELECT COUNT(*) FROM points").fetchone()[0] == 20 * 48


def test_secrets_never_reach_the_cache_or_warnings(grid, tmp_path):
    cache_file = tmp_path / "c.sqlite3"
    lines: list[str] = []
    chain = build_chain("live", settings_for(grid.base))
    grid.fail("/wt/login", 500, {"error": EM_KEY}, times=3)  # even an API echoing a secret
    resolve(
        targets(), chain, now=datetime.now(UTC), cache=IntensityCache(cache_file), warn=lines.append
    )
    blob = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("c.sqlite3"))
    for secret in (EM_KEY, WT_USER, WT_PASSWORD, "token-1"):
        assert secret.encode() not in blob
        assert all(secret not in line for line in lines)


# -- the CLI ---------------------------------------------------------------------------------

# Regions that are cleanest on the shipped annual figures become dirty "now", and vice versa.
DIRTY_NOW = ["FR", "SE-SE3", "CA-QC", "NO-NO1", "NO-NO2", "CH", "FI", "BR-CS", "CA-ON"]


def _options(result):
    assert result.code == 0, result.err
    return json.loads(result.out)["options"]


def test_suggest_live_changes_the_ranking_and_says_where_figures_came_from(cli, grid, monkeypatch):
    static = _options(cli("suggest", "--gpu-hours", "400", "--format", "json"))
    point_env(monkeypatch, grid.base)
    grid.em_default = 20.0
    grid.em_values = {zone: 900.0 for zone in DIRTY_NOW}
    result = cli("suggest", "--gpu-hours", "400", "--intensity", "live", "--format", "json")
    live = _options(result)
    assert result.err == ""  # no warnings: every zone answered
    assert static[0]["region"] != live[0]["region"]
    top = live[0]
    assert top["intensity_kind"] == "forecast"
    assert top["gco2_per_kwh"] == pytest.approx(20.0)
    assert "Electricity Maps" in top["intensity_source"]
    observed = datetime.fromisoformat(top["intensity_observed_at"])
    assert abs(observed - datetime.now(UTC)) < timedelta(hours=2)
    assert {o["intensity_kind"] for o in live} == {"forecast"}
    assert all(o["intensity_observed_at"] for o in live)


def test_suggest_live_with_every_server_down_succeeds_on_static_with_a_warning(cli, monkeypatch):
    static = _options(cli("suggest", "--gpu-hours", "400", "--format", "json"))
    point_env(monkeypatch, dead_base())
    result = cli("suggest", "--gpu-hours", "400", "--intensity", "live", "--format", "json")
    live = _options(result)  # stdout is still one JSON document
    assert [o["region"] for o in live] == [o["region"] for o in static]
    assert {o["intensity_kind"] for o in live} == {"static"}
    warnings = result.err.strip().splitlines()
    assert warnings[0].startswith(
        "warning: electricitymaps unavailable (connection refused): using "
    )
    assert {w.split(" unavailable")[0] for w in warnings} == {
        "warning: electricitymaps",
        "warning: watttime",
        "warning: ukgrid",
    }
    assert EM_KEY not in result.err + result.out and WT_PASSWORD not in result.err + result.out


def test_suggest_named_source_without_key_is_a_clear_error(cli, monkeypatch):
    result = cli("suggest", "--gpu-hours", "400", "--intensity", "electricitymaps")
    assert result.code == ExitCode.BAD_INPUT
    assert result.err.startswith("error: electricitymaps needs an API key")
    assert "hint: " in result.err
    bad = cli("suggest", "--gpu-hours", "400", "--intensity", "electricitymap")
    assert bad.code == ExitCode.BAD_INPUT and "did you mean 'electricitymaps'" in bad.err


def test_suggest_named_source_with_a_rejected_key_is_a_clear_error(cli, grid, monkeypatch):
    point_env(monkeypatch, grid.base)
    monkeypatch.setenv("ELECTRICITYMAPS_API_KEY", "not-the-right-key")
    result = cli("suggest", "--gpu-hours", "40", "--intensity", "electricitymaps")
    assert result.code == ExitCode.BAD_INPUT
    assert "electricitymaps rejected the credentials (HTTP 401" in result.err
    assert "not-the-right-key" not in result.err


def test_suggest_with_an_intensity_file(cli, tmp_path):
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    rows = "\n".join(
        f"{(hour + timedelta(hours=h)).isoformat()},5,aws:ap-south-1" for h in range(-2, 200)
    )
    path = tmp_path / "trace.csv"
    path.write_text("datetime,gco2_per_kwh,zone\n" + rows + "\n")
    result = cli(
        "suggest",
        "--gpu-hours",
        "400",
        "--intensity-file",
        str(path),
        "--provider",
        "aws",
        "--format",
        "json",
    )
    options = _options(result)
    assert options[0]["region"] == "ap-south-1"  # Mumbai at 5 g beats everything
    assert options[0]["intensity_kind"] == "forecast"
    assert "intensity file trace.csv" in options[0]["intensity_source"]
    others = [o for o in options if o["region"] != "ap-south-1"]
    assert {o["intensity_kind"] for o in others} == {"static"}


def test_suggest_static_default_does_not_load_the_intensity_package():
    import subprocess
    import sys

    code = (
        "import io, sys, contextlib\n"
        "from recommender.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['suggest', '--gpu-hours', '40', '--intensity', 'static']) == 0\n"
        "print(sorted(m for m in sys.modules if m.startswith(('recommender.intensity', "
        "'requests', 'sqlite3'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_intensity_command_json_and_table(cli, grid, monkeypatch):
    point_env(monkeypatch, grid.base)
    grid.em_values = {"GB": 123.0}
    result = cli("intensity", "aws:eu-west-2", "gcp:europe-west9", "--format", "json")
    assert result.code == 0, result.err
    records = json.loads(result.out)
    london = records[0]
    assert london["zone"] == "GB" and london["intensity_kind"] == "live"
    assert london["latest_gco2_per_kwh"] == 123.0
    assert len(london["history"]) == 24 and len(london["forecast"]) == 24
    assert london["forecast_mean_gco2_per_kwh"] == 123.0
    table = cli("intensity", "aws:eu-west-2", "--hours", "12")
    assert table.code == 0, table.err
    assert "next 12 h" in table.out and "▁" in table.out
    csv_out = cli("intensity", "aws:eu-west-2", "--format", "csv")
    assert csv_out.out.splitlines()[0].startswith("provider,region,location,zone")


def test_intensity_command_ukgrid_without_keys(cli, grid, monkeypatch):
    point_env(monkeypatch, grid.base, keys=False)
    grid.uk_value = 88.0
    records = json.loads(cli("intensity", "azure:uksouth", "aws:eu-west-1", "--format", "json").out)
    assert records[0]["zone"] == "GB-13" and records[0]["intensity_kind"] == "live"
    assert len(records[0]["history"]) == 24
    assert records[0]["latest_gco2_per_kwh"] == 88.0
    assert records[1]["intensity_kind"] == "static"
    bad = cli("intensity", "aws:eu-west-9")
    assert bad.code == ExitCode.BAD_INPUT


def test_suggest_live_names_the_sources_left_out_for_lack_of_credentials(cli, monkeypatch):
    point_env(monkeypatch, dead_base())
    for name in ("ELECTRICITYMAPS_API_KEY", "WATTTIME_USERNAME", "WATTTIME_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    result = cli("suggest", "--gpu-hours", "400", "--intensity", "live", "--format", "json")
    assert result.code == 0
    first = result.err.strip().splitlines()[0]
    assert first.startswith("warning: live: electricitymaps, watttime not configured")
    assert {o["intensity_kind"] for o in _options(result)} == {"static"}
