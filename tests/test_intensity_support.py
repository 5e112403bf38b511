"""Local fake grid APIs for the intensity tests (no tests here; imported by test_intensity_*).

``FakeGrid`` serves Electricity Maps (under /em), WattTime (/wt) and the GB Carbon Intensity
API (/uk) from one threaded pytest-httpserver on 127.0.0.1, in the real response shapes (see
tests/fixtures/intensity/README.md), with times relative to the current hour so the planner
sees a current forecast. Faults are queued per path.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from recommender.intensity.settings import IntensitySettings

logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise

FIXTURES = Path(__file__).parent / "fixtures" / "intensity"
#: The instant the recorded fixture bodies describe (their latest point is 19:00 UTC).
FIXTURE_NOW = datetime(2024, 3, 6, 19, 10, tzinfo=UTC)
EM_KEY = "em-SECRET-key-0123456789"
WT_USER = "wt-user-SECRET"
WT_PASSWORD = "wt-password-SECRET-987"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def settings_for(base: str, **overrides: Any) -> IntensitySettings:
    """Settings pointing every client at a local server, with fast failure."""
    values: dict[str, Any] = {
        "electricitymaps_url": f"{base}/em",
        "watttime_url": f"{base}/wt",
        "ukgrid_url": f"{base}/uk",
        "electricitymaps_api_key": EM_KEY,
        "watttime_username": WT_USER,
        "watttime_password": WT_PASSWORD,
        "timeout_s": 2.0,
        "retries": 2,
        "backoff_s": 0.0,
        "retry_after_max_s": 1.0,
        "workers": 16,
    }
    values.update(overrides)
    return IntensitySettings(**values)


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass
class FakeGrid:
    """Three grid APIs on one local server; values and faults set per test."""

    server: HTTPServer
    em_default: float = 400.0
    em_values: dict[str, float] = field(default_factory=dict)  # zone -> gCO2/kWh
    em_forecast: bool = True  # False: a free key (forecast "not available")
    wt_lbs: float = 1000.0  # lbs/MWh for every region
    uk_value: float = 150.0
    latency_s: float = 0.0
    faults: dict[str, list[tuple[int, Any, dict[str, str]]]] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    logins: int = 0
    tokens_seen: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        return self.server.url_for("").rstrip("/")

    def fail(self, path: str, status: int, body: Any = None, times: int = 1, **headers: str):
        """Answer the next ``times`` requests to ``path`` (e.g. "/em/carbon-intensity/forecast")
        with ``status`` and ``body`` (a str is sent as is: not JSON)."""
        self.faults.setdefault(path, []).extend([(status, body, headers)] * times)

    def handle(self, request: Request) -> Response:
        if self.latency_s:
            time.sleep(self.latency_s)
        path = request.path
        with self._lock:
            self.calls[path] += 1
            queued = self.faults.get(path)
            fault = queued.pop(0) if queued else None
        if fault is not None:
            status, body, headers = fault
            text = body if isinstance(body, str) else json.dumps(body or {})
            return Response(text, status=status, headers=headers, content_type="application/json")
        if path.startswith("/em/"):
            return self._em(request, path[len("/em/") :])
        if path.startswith("/wt/"):
            return self._wt(request, path[len("/wt/") :])
        if path.startswith("/uk/"):
            return self._uk(path[len("/uk/") :])
        return _json({"error": "not found"}, 404)

    def _em(self, request: Request, path: str) -> Response:
        if request.headers.get("auth-token") != EM_KEY:
            return _json({"error": "Invalid auth-token"}, 401)
        zone = request.args.get("zone") or "LATLON"
        value = self.em_values.get(zone, self.em_default)
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        point = {
            "zone": zone,
            "carbonIntensity": value,
            "datetime": _iso(hour),
            "updatedAt": _iso(hour),
            "createdAt": _iso(hour),
            "emissionFactorType": "lifecycle",
            "isEstimated": True,
            "estimationMethod": "TIME_SLICER_AVERAGE",
        }
        if path == "carbon-intensity/forecast":
            if not self.em_forecast:
                return _json({"status": "error", "message": "Endpoint not available"}, 403)
            horizon = int(request.args.get("horizonHours", "24"))
            forecast = [
                {"carbonIntensity": value, "datetime": _iso(hour + timedelta(hours=h))}
                for h in range(horizon)
            ]
            return _json({"zone": zone, "forecast": forecast, "updatedAt": _iso(hour)})
        if path == "carbon-intensity/latest":
            return _json(point)
        if path == "carbon-intensity/history":
            history = [
                {**point, "datetime": _iso(hour - timedelta(hours=h)), "carbonIntensity": value}
                for h in range(23, -1, -1)
            ]
            return _json({"zone": zone, "history": history})
        return _json({"status": "error", "message": "unknown endpoint"}, 404)

    def _wt(self, request: Request, path: str) -> Response:
        if path == "login":
            expected = base64.b64encode(f"{WT_USER}:{WT_PASSWORD}".encode()).decode()
            if request.headers.get("Authorization") != f"Basic {expected}":
                return _json({"error": "Unauthorized"}, 401)
            with self._lock:
                self.logins += 1
                token = f"token-{self.logins}"
            return _json({"token": token})
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ")
        with self._lock:
            self.tokens_seen.append(token)
            valid = token == f"token-{self.logins}"
        if not valid:
            return Response("<html>403 Forbidden</html>", status=403, content_type="text/html")
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        data = [
            {"point_time": (start + timedelta(minutes=5 * i)).isoformat(), "value": self.wt_lbs}
            for i in range(12 * 72)
        ]
        meta = {
            "data_point_period_seconds": 300,
            "region": request.args.get("region"),
            "signal_type": request.args.get("signal_type"),
            "units": "lbs_co2_per_mwh",
            "generated_at": start.isoformat(),
            "warnings": [],
        }
        if path == "v3/forecast":
            return _json({"data": data, "meta": meta})
        if path == "v3/historical":
            past = [{"point_time": (start - timedelta(hours=1)).isoformat(), "value": self.wt_lbs}]
            return _json({"data": past, "meta": meta})
        if path == "v3/region-from-loc":
            return _json(fixture("watttime/grid_region_response.json"))
        return _json({"error": "not found"}, 404)

    def _uk(self, path: str) -> Response:
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        periods = [start + timedelta(minutes=30 * i) for i in range(96)]
        if "/pt24h" in path:
            periods = [start - timedelta(minutes=30 * i) for i in range(48, 0, -1)]
        stamp = "%Y-%m-%dT%H:%MZ"
        if re.match(r"regional/intensity/[^/]+/(fw48h|pt24h)/regionid/\d+$", path):
            region_id = int(path.rsplit("/", 1)[1])
            items = [
                {
                    "from": p.strftime(stamp),
                    "to": (p + timedelta(minutes=30)).strftime(stamp),
                    "intensity": {"forecast": self.uk_value, "index": "moderate"},
                    "generationmix": [{"fuel": "gas", "perc": 40.0}],
                }
                for p in periods
            ]
            return _json({"data": {"regionid": region_id, "shortname": "x", "data": items}})
        if re.match(r"intensity/[^/]+/(fw48h|pt24h)$", path):
            items = [
                {
                    "from": p.strftime(stamp),
                    "to": (p + timedelta(minutes=30)).strftime(stamp),
                    "intensity": {"forecast": self.uk_value, "actual": None, "index": "low"},
                }
                for p in periods
            ]
            return _json({"data": items})
        return _json({"error": {"code": "400 Bad Request", "message": "bad"}}, 400)


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


@pytest.fixture(scope="session")
def _shared_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    try:
        yield server
    finally:
        if server.is_running():
            server.stop()


@pytest.fixture
def local_server(_shared_server: HTTPServer) -> Iterator[HTTPServer]:
    """A threaded local HTTP server with no handlers (cleared after each test)."""
    _shared_server.clear()
    yield _shared_server
    _shared_server.clear()


@pytest.fixture
def grid(local_server: HTTPServer) -> FakeGrid:
    fake = FakeGrid(local_server)
    local_server.expect_request(re.compile(".*")).respond_with_handler(fake.handle)
    return fake


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No credentials or config from the machine running the tests; a private cache."""
    for name in (
        "ELECTRICITYMAPS_API_KEY",
        "WATTTIME_USERNAME",
        "WATTTIME_PASSWORD",
        "CARBONPLAN_INTENSITY_SOURCES",
        "CARBONPLAN_WATTTIME_SIGNAL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CARBONPLAN_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.setenv("CARBONPLAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CARBONPLAN_HTTP_BACKOFF", "0")
    monkeypatch.setenv("CARBONPLAN_HTTP_TIMEOUT", "2")
    return tmp_path


def point_env(monkeypatch: pytest.MonkeyPatch, base: str, *, keys: bool = True) -> None:
    """Point the CLI's clients at ``base`` (a FakeGrid or a dead port)."""
    monkeypatch.setenv("CARBONPLAN_ELECTRICITYMAPS_URL", f"{base}/em")
    monkeypatch.setenv("CARBONPLAN_WATTTIME_URL", f"{base}/wt")
    monkeypatch.setenv("CARBONPLAN_UKGRID_URL", f"{base}/uk")
    if keys:
        monkeypatch.setenv("ELECTRICITYMAPS_API_KEY", EM_KEY)
        monkeypatch.setenv("WATTTIME_USERNAME", WT_USER)
        monkeypatch.setenv("WATTTIME_PASSWORD", WT_PASSWORD)


def dead_base() -> str:
    """A 127.0.0.1 URL nothing listens on (connection refused)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
