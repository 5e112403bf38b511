"""Each grid-API client against a real local HTTP server serving the real response shapes:
parsing, units, token handling, and every fault turning into a SourceFault with a safe reason."""

from __future__ import annotations

import base64
import math
import time
from datetime import timedelta
from pathlib import Path

import pytest
from test_intensity_support import (
    EM_KEY,
    FIXTURE_NOW,
    WT_PASSWORD,
    WT_USER,
    dead_base,
    fixture,
    settings_for,
)

from recommender.errors import BadInputError
from recommender.intensity import FetchContext, SourceFault, Target, get_source
from recommender.intensity.csvfile import CsvSource
from recommender.intensity.electricitymaps import ElectricityMaps
from recommender.intensity.ukgrid import UkGrid
from recommender.intensity.watttime import WattTime
from recommender.units import lbs_per_mwh_to_g_per_kwh

pytest_plugins = ["test_intensity_support"]  # its fixtures: grid, local_server, clean_env
pytestmark = pytest.mark.usefixtures("clean_env")


def ctx_for(settings, now=FIXTURE_NOW) -> FetchContext:
    return FetchContext(settings=settings, now=now)


def base_of(server) -> str:
    return server.url_for("").rstrip("/")


# -- Electricity Maps -------------------------------------------------------------------------


def test_em_forecast_is_parsed_and_sent_with_the_key_header(local_server):
    local_server.expect_request(
        "/em/carbon-intensity/forecast",
        query_string={"zone": "DE", "horizonHours": "72"},
        headers={"auth-token": EM_KEY},
    ).respond_with_json(fixture("electricitymaps/forecast_documented_shape.json"))
    source = ElectricityMaps(settings_for(base_of(local_server)))
    series = source.fetch("DE", ctx_for(source.settings))
    assert [p.gco2_per_kwh for p in series.forecast(FIXTURE_NOW)] == [300, 280, 260, 250, 240]
    assert series.observed_at.isoformat().startswith("2024-03-06T18:48:27")
    assert len(local_server.log) == 1  # a forecast is enough: no /latest request


def test_em_free_key_without_forecast_falls_back_to_latest(local_server):
    local_server.expect_request("/em/carbon-intensity/forecast").respond_with_json(
        {"status": "error", "message": "Endpoint not available for this key"}, status=403
    )
    local_server.expect_request("/em/carbon-intensity/latest").respond_with_json(
        fixture("electricitymaps/latest_carbon_intensity.json")
    )
    source = ElectricityMaps(settings_for(base_of(local_server)))
    series = source.fetch("US-CAR-DUK", ctx_for(source.settings))
    latest = series.latest(FIXTURE_NOW)
    assert latest is not None and latest.gco2_per_kwh == 216
    assert series.forecast(FIXTURE_NOW) == []


def test_em_history_reads_the_recorded_body(local_server):
    local_server.expect_request("/em/carbon-intensity/forecast").respond_with_json(
        fixture("electricitymaps/forecast_documented_shape.json")
    )
    local_server.expect_request("/em/carbon-intensity/history").respond_with_json(
        fixture("electricitymaps/carbon_intensity_history.json")
    )
    local_server.expect_request("/em/carbon-intensity/latest").respond_with_json(
        fixture("electricitymaps/latest_carbon_intensity.json")
    )
    source = ElectricityMaps(settings_for(base_of(local_server)))
    series = source.fetch("DE", ctx_for(source.settings), history=True)
    history = series.history(FIXTURE_NOW, 24)
    assert len(history) == 24
    assert history[0].gco2_per_kwh == 599 and history[0].time.hour == 20


def test_em_uses_lat_lon_without_a_zone(local_server):
    local_server.expect_request(
        "/em/carbon-intensity/forecast",
        query_string={"lat": "51.5000", "lon": "-0.1200", "horizonHours": "72"},
    ).respond_with_json(fixture("electricitymaps/forecast_documented_shape.json"))
    source = ElectricityMaps(settings_for(base_of(local_server)))
    zone = source.zone_for(Target("aws", "x", lat=51.5, lon=-0.12))
    assert zone == "@51.5000,-0.1200"
    assert source.fetch(zone, ctx_for(source.settings)).points


def test_em_past_range_is_chunked(local_server):
    local_server.expect_request("/em/carbon-intensity/past-range").respond_with_json(
        {
            "zone": "DE",
            "data": fixture("electricitymaps/carbon_intensity_history.json")["history"],
            "temporalGranularity": "hourly",
        }
    )
    source = ElectricityMaps(settings_for(base_of(local_server)))
    start = FIXTURE_NOW - timedelta(days=25)
    points = source.past_range("DE", ctx_for(source.settings), start, FIXTURE_NOW)
    assert len(local_server.log) == 3  # 25 days in chunks of at most 10
    assert len(points) == 24  # the same body each time: points are de-duplicated


FAULTS = [
    (401, {"error": "Invalid auth-token"}, "HTTP 401: API key rejected", "auth"),
    (
        403,
        {"status": "error", "message": "Token unauthorized for zoneKey DE"},
        "HTTP 403: no access to this zone",
        "access",
    ),
    (429, {"status": "error", "message": "Too many requests"}, "HTTP 429", None),
    (500, {"status": "error", "message": "boom"}, "HTTP 500", None),
    (503, "<html>Service Unavailable</html>", "HTTP 503", None),
    (200, "this is not json {", "malformed JSON", None),
    (200, {"zone": "DE", "forecast": []}, "no data", None),
    (
        200,
        {"zone": "DE", "forecast": [{"datetime": "x", "carbonIntensity": 3}]},
        "malformed JSON",
        None,
    ),
    (200, {}, "no data", None),
]


@pytest.mark.parametrize("status,body,reason,flag", FAULTS)
def test_em_faults_become_safe_reasons(grid, status, body, reason, flag):
    grid.fail("/em/carbon-intensity/forecast", status, body, times=5)
    source = ElectricityMaps(settings_for(grid.base, retry_after_max_s=0.0))
    with pytest.raises(SourceFault) as info:
        source.fetch("DE", ctx_for(source.settings))
    fault = info.value
    assert fault.reason == reason
    assert fault.auth == (flag == "auth") and fault.access == (flag == "access")
    assert EM_KEY not in str(fault)
    if status in (429, 500, 503):
        assert grid.calls["/em/carbon-intensity/forecast"] == 3  # bounded: 1 + 2 retries


def test_em_retries_429_after_retry_after_then_succeeds(grid):
    grid.fail(
        "/em/carbon-intensity/forecast", 429, {"message": "slow down"}, **{"Retry-After": "1"}
    )
    source = ElectricityMaps(settings_for(grid.base))
    started = time.monotonic()
    series = source.fetch("DE", ctx_for(source.settings, now=_now()))
    waited = time.monotonic() - started
    assert series.forecast(_now())
    assert grid.calls["/em/carbon-intensity/forecast"] == 2
    assert waited >= 0.9  # the Retry-After second was respected


def test_em_retries_a_5xx_then_succeeds(grid):
    grid.fail("/em/carbon-intensity/forecast", 502, "bad gateway")
    source = ElectricityMaps(settings_for(grid.base))
    assert source.fetch("DE", ctx_for(source.settings, now=_now())).points
    assert grid.calls["/em/carbon-intensity/forecast"] == 2


def test_em_timeout_and_connection_refused(local_server):
    def slow(_request):
        time.sleep(1.5)
        from werkzeug import Response

        return Response("{}", content_type="application/json")

    local_server.expect_request("/em/carbon-intensity/forecast").respond_with_handler(slow)
    source = ElectricityMaps(settings_for(base_of(local_server), timeout_s=0.3, retries=0))
    with pytest.raises(SourceFault, match=r"^timeout: 127\.0\.0\.1:\d+/em/carbon-intensity/fore"):
        source.fetch("DE", ctx_for(source.settings))
    refused = ElectricityMaps(settings_for(dead_base()))
    with pytest.raises(SourceFault, match=r"^connection refused$"):
        refused.fetch("DE", ctx_for(refused.settings))


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


# -- WattTime ---------------------------------------------------------------------------------


def _basic() -> str:
    return "Basic " + base64.b64encode(f"{WT_USER}:{WT_PASSWORD}".encode()).decode()


def test_watttime_login_forecast_and_lbs_conversion(local_server):
    local_server.expect_request("/wt/login", headers={"Authorization": _basic()}).respond_with_json(
        {"token": "abc"}
    )
    local_server.expect_request(
        "/wt/v3/forecast",
        query_string={"region": "CAISO_NORTH", "signal_type": "co2_aoer", "horizon_hours": "72"},
        headers={"Authorization": "Bearer abc"},
    ).respond_with_json(fixture("watttime/forecast_documented_shape.json"))
    source = WattTime(settings_for(base_of(local_server)))
    series = source.fetch("CAISO_NORTH", ctx_for(source.settings))
    values = [p.gco2_per_kwh for p in series.forecast(FIXTURE_NOW - timedelta(minutes=10))]
    assert values[0] == pytest.approx(453.59237)  # 1000 lbs/MWh
    assert values[-1] == pytest.approx(800 * 0.45359237)
    assert lbs_per_mwh_to_g_per_kwh(1000) == pytest.approx(453.59237)
    assert series.period_s == 300


def test_watttime_history_reads_the_recorded_body(local_server):
    local_server.expect_request("/wt/login").respond_with_json({"token": "abc"})
    local_server.expect_request("/wt/v3/forecast").respond_with_json(
        fixture("watttime/forecast_documented_shape.json")
    )
    local_server.expect_request("/wt/v3/historical").respond_with_json(
        fixture("watttime/historical_emissions_response.json")
    )
    source = WattTime(settings_for(base_of(local_server)))
    now = FIXTURE_NOW.replace(year=2022, month=7, day=15, hour=0)
    series = source.fetch("CAISO_NORTH", ctx_for(source.settings, now=now), history=True)
    history = series.history(now, 24)
    assert [round(p.gco2_per_kwh, 3) for p in history] == [
        round(870 * 0.45359237, 3),
        round(860 * 0.45359237, 3),
    ]


def test_watttime_token_is_reused_then_renewed_after_25_minutes(grid):
    source = WattTime(settings_for(grid.base))
    ctx = ctx_for(source.settings, now=_now())
    clock = [_now()]
    ctx.clock = lambda: clock[0]
    source.fetch("CAISO_NORTH", ctx)
    source.fetch("PJM_DC", ctx)
    assert grid.logins == 1
    clock[0] += timedelta(minutes=26)
    source.fetch("CAISO_NORTH", ctx)
    assert grid.logins == 2
    assert grid.tokens_seen == ["token-1", "token-1", "token-2"]


def test_watttime_expired_token_is_renewed_once_on_403_html(grid):
    source = WattTime(settings_for(grid.base))
    ctx = ctx_for(source.settings, now=_now())
    source.fetch("CAISO_NORTH", ctx)
    ctx.tokens["watttime"] = ("token-expired", ctx.clock())  # the server no longer accepts it
    series = source.fetch("CAISO_NORTH", ctx)
    assert series.points and grid.logins == 2
    assert grid.tokens_seen[-2:] == ["token-expired", "token-2"]


def test_watttime_concurrent_fetches_share_one_login(grid):
    from recommender.intensity.resolve import fetch_zones

    source = WattTime(settings_for(grid.base, workers=8))
    ctx = ctx_for(source.settings, now=_now())
    zones = [f"REGION_{i}" for i in range(20)]
    results = fetch_zones(source, zones, ctx, cache=None)
    assert all(not isinstance(r, SourceFault) for r in results.values())
    assert grid.logins == 1


@pytest.mark.parametrize(
    "status,body,reason,flag",
    [
        (
            403,
            fixture("watttime/invalid_scope_response.json"),
            "HTTP 403: no access to this region",
            "access",
        ),
        (
            404,
            fixture("watttime/coordinates_not_found_response.json"),
            "HTTP 404: no coverage here",
            "access",
        ),
        (
            200,
            fixture("watttime/realtime_emissions_response.json"),
            "unexpected units 'percentile'",
            None,
        ),
        (200, "<html>oops", "malformed JSON", None),
        (200, {"data": [], "meta": {}}, "no data", None),
        (500, {"error": "boom"}, "HTTP 500", None),
    ],
)
def test_watttime_faults(grid, status, body, reason, flag):
    grid.fail("/wt/v3/forecast", status, body, times=5)
    source = WattTime(settings_for(grid.base))
    with pytest.raises(SourceFault) as info:
        source.fetch("CAISO_NORTH", ctx_for(source.settings, now=_now()))
    assert info.value.reason == reason
    assert info.value.access == (flag == "access")
    assert WT_PASSWORD not in str(info.value)


def test_watttime_wrong_password_is_an_auth_fault_and_login_is_not_retried(grid):
    from recommender.intensity.resolve import fetch_zones

    source = WattTime(settings_for(grid.base, watttime_password="wrong", workers=8))
    with pytest.raises(SourceFault) as info:
        source.fetch("CAISO_NORTH", ctx_for(source.settings, now=_now()))
    assert info.value.auth and info.value.reason == "login failed (HTTP 401)"
    results = fetch_zones(source, [f"R{i}" for i in range(20)], ctx_for(source.settings), None)
    assert {r.reason for r in results.values()} == {"login failed (HTTP 401)"}
    assert grid.calls["/wt/login"] == 2  # once per run, not once per region


def test_watttime_region_from_location(grid):
    source = WattTime(settings_for(grid.base))
    zone = source.zone_for(Target("gcp", "x", lat=39.7, lon=-105.0))
    series = source.fetch(zone, ctx_for(source.settings, now=_now()))
    assert series.zone_name == "PSCO"
    assert grid.calls["/wt/v3/region-from-loc"] == 1


# -- GB Carbon Intensity API ------------------------------------------------------------------


def test_ukgrid_national_actuals_and_forecast(local_server):
    local_server.expect_request("/uk/intensity/2024-03-06T19:00Z/fw48h").respond_with_json(
        fixture("ukgrid/national_fw48h_documented_shape.json")
    )
    source = UkGrid(settings_for(base_of(local_server)))
    series = source.fetch("GB", ctx_for(source.settings))
    latest = series.latest(FIXTURE_NOW)
    assert latest is not None and latest.gco2_per_kwh == 185
    assert [p.gco2_per_kwh for p in series.forecast(FIXTURE_NOW)] == [180, 160, 140, 120]
    assert series.period_s == 1800


def test_ukgrid_regional_london(local_server):
    local_server.expect_request(
        "/uk/regional/intensity/2024-03-06T19:00Z/fw48h/regionid/13"
    ).respond_with_json(fixture("ukgrid/regional_fw48h_documented_shape.json"))
    source = UkGrid(settings_for(base_of(local_server)))
    london = Target("aws", "eu-west-2", location="London", country_code="GB")
    assert source.zone_for(london) == "GB-13"
    assert source.zone_for(Target("aws", "x", location="Cardiff", country_code="GB")) == "GB-7"
    assert source.zone_for(Target("aws", "x", location="Paris", country_code="FR")) is None
    series = source.fetch("GB-13", ctx_for(source.settings))
    assert [p.gco2_per_kwh for p in series.forecast(FIXTURE_NOW)] == [210, 200, 150, 100]


@pytest.mark.parametrize(
    "status,body,reason",
    [
        (200, {}, "no data"),
        (200, {"data": []}, "no data"),
        (
            400,
            {"error": {"code": "400 Bad Request", "message": "Please enter a valid date"}},
            "HTTP 400",
        ),
        (200, {"data": [{"from": "2024-03-06T19:00Z", "intensity": "x"}]}, "malformed JSON"),
    ],
)
def test_ukgrid_faults(grid, status, body, reason):
    from recommender.intensity.ukgrid import _stamp

    grid.fail(f"/uk/intensity/{_stamp(_now())}/fw48h", status, body)
    source = UkGrid(settings_for(grid.base))
    with pytest.raises(SourceFault) as info:
        source.fetch("GB", ctx_for(source.settings, now=_now()))
    assert info.value.reason == reason


# -- CSV --------------------------------------------------------------------------------------


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trace.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_with_zones_matches_regions_by_any_key(tmp_path):
    path = _csv(
        tmp_path,
        "datetime,gco2_per_kwh,zone\n"
        "2024-03-06T18:00:00Z,100,aws:eu-west-1\n"
        "2024-03-06T19:00:00Z,110,aws:eu-west-1\n"
        "2024-03-06T20:00:00Z,50,aws:eu-west-1\n"
        "2024-03-06T19:00,300,DE\n",
    )
    source = CsvSource(settings_for("http://unused", csv_file=path))
    assert source.zone_for(Target("aws", "eu-west-1", em_zone="IE")) == "aws:eu-west-1"
    assert source.zone_for(Target("gcp", "europe-west3", em_zone="DE")) == "de"
    assert source.zone_for(Target("gcp", "us-east1", em_zone="US-CAR-SC")) is None
    series = source.fetch("aws:eu-west-1", ctx_for(source.settings))
    assert series.latest(FIXTURE_NOW).gco2_per_kwh == 110
    assert [p.gco2_per_kwh for p in series.forecast(FIXTURE_NOW)] == [50]
    assert series.period_s == 3600


def test_csv_accepts_the_electricity_maps_export_header(tmp_path):
    path = _csv(
        tmp_path,
        "\ufeffDatetime (UTC),Country,Zone Name,Zone Id,Carbon Intensity gCO₂eq/kWh (direct),"
        "Carbon Intensity gCO₂eq/kWh (LCA)\n"
        "2024-03-06 18:00:00,Norway,Norway,NO,10,30\n"
        "2024-03-06 19:00:00,Norway,Norway,NO,12,32\n",
    )
    source = CsvSource(settings_for("http://unused", csv_file=path))
    assert source.zone_for(Target("azure", "norwayeast", em_zone="NO")) == "no"
    series = source.fetch("no", ctx_for(source.settings))
    assert series.latest(FIXTURE_NOW).gco2_per_kwh == 32  # the LCA column


@pytest.mark.parametrize(
    "text,message",
    [
        ("when,value\n2024-01-01,3\n", r"unknown trace format \(columns: when, value\)"),
        ("datetime,gco2_per_kwh\nyesterday,3\n", "line 2"),
        ("datetime,gco2_per_kwh\n2024-01-01T00:00Z,-5\n", "line 2: gco2_per_kwh=-5"),
        ("datetime,gco2_per_kwh\n", "no data rows"),
    ],
)
def test_csv_errors_name_the_line(tmp_path, text, message):
    source = CsvSource(settings_for("http://unused", csv_file=_csv(tmp_path, text)))
    with pytest.raises(BadInputError, match=message):
        source.trace()


def test_registry_names_and_did_you_mean():
    settings = settings_for("http://unused")
    assert isinstance(get_source("ElectricityMaps", settings), ElectricityMaps)
    with pytest.raises(BadInputError) as info:
        get_source("wattime", settings)
    assert "did you mean 'watttime'" in info.value.hint
    assert math.isfinite(1.0)


def test_settings_from_config_file_then_environment(tmp_path, monkeypatch):
    from recommender.intensity.settings import load_settings

    config = tmp_path / "config.toml"
    config.write_text(
        '[intensity]\nelectricitymaps_api_key = "from-file-SECRET"\n'
        'watttime_username = "u"\nwatttime_password = "p-SECRET"\n'
        'sources = ["ukgrid", "electricitymaps"]\nttl_s = 60\n'
    )
    monkeypatch.setenv("CARBONPLAN_CONFIG", str(config))
    settings = load_settings()
    assert settings.electricitymaps_api_key == "from-file-SECRET"
    assert settings.sources == ("ukgrid", "electricitymaps") and settings.ttl_s == 60
    assert "SECRET" not in repr(settings)
    monkeypatch.setenv("ELECTRICITYMAPS_API_KEY", "from-env")
    monkeypatch.setenv("CARBONPLAN_ELECTRICITYMAPS_URL", "http://127.0.0.1:1/v3/")
    settings = load_settings()
    assert settings.electricitymaps_api_key == "from-env"
    assert settings.electricitymaps_url == "http://127.0.0.1:1/v3"
    config.write_text('[intensity]\nelectricitymaps_api_ky = "x"\n')
    with pytest.raises(BadInputError, match="unknown \\[intensity\\] key 'electricitymaps_api_ky'"):
        load_settings()


def test_watttime_failed_login_is_not_repeated_per_region(grid):
    from recommender.intensity.resolve import fetch_zones

    grid.fail("/wt/login", 503, {"error": "down"}, times=100)
    source = WattTime(settings_for(grid.base, workers=8))
    results = fetch_zones(source, [f"R{i}" for i in range(20)], ctx_for(source.settings), None)
    assert {r.reason for r in results.values()} == {"login failed (HTTP 503)"}
    assert grid.calls["/wt/login"] == 3  # one login with its 2 bounded retries, for 20 regions
