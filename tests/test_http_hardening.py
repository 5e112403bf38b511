"""The grid-API client against hostile local servers: credentials never follow a redirect to
another host, bodies are bounded, and unusable keys degrade instead of crashing. Real HTTP on
127.0.0.1 and localhost (two host names, so a redirect between them crosses hosts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pytest_httpserver import HTTPServer
from test_intensity_support import EM_KEY, FIXTURE_NOW, fixture, settings_for
from werkzeug import Request, Response

from recommender.intensity.electricitymaps import ElectricityMaps
from recommender.intensity.model import SourceFault
from recommender.intensity.registry import FetchContext

FORECAST = "/em/carbon-intensity/forecast"


@pytest.fixture
def two_hosts():
    """Two servers: the API on 127.0.0.1 and an elsewhere on localhost."""
    api, elsewhere = HTTPServer(host="127.0.0.1"), HTTPServer(host="localhost")
    api.start()
    elsewhere.start()
    yield api, elsewhere
    api.clear()
    elsewhere.clear()
    api.stop()
    elsewhere.stop()


def _fetch(base: str):
    source = ElectricityMaps(settings_for(base, retries=0))
    return source.fetch("DE", FetchContext(settings=source.settings, now=FIXTURE_NOW))


def test_a_redirect_to_another_host_never_carries_the_key(two_hosts):
    api, elsewhere = two_hosts
    seen: list[dict[str, str]] = []

    def record(request: Request) -> Response:
        seen.append({k.lower(): v for k, v in request.headers.items()})
        body = json.dumps(fixture("electricitymaps/forecast_documented_shape.json"))
        return Response(body, content_type="application/json")

    elsewhere.expect_request(FORECAST).respond_with_handler(record)
    target = f"http://localhost:{elsewhere.port}{FORECAST}?zone=DE"
    api.expect_request(FORECAST).respond_with_response(
        Response(status=302, headers={"Location": target})
    )
    series = _fetch(f"http://127.0.0.1:{api.port}")
    assert series.points  # the redirect was followed and answered...
    assert len(seen) == 1 and "auth-token" not in seen[0]  # ...without the key
    assert all(EM_KEY not in value for value in seen[0].values())
    assert api.log[0][0].headers.get("auth-token") == EM_KEY  # the API itself got it


def test_a_redirect_on_the_same_host_keeps_the_key(two_hosts):
    api, _ = two_hosts
    api.expect_request("/moved" + FORECAST, headers={"auth-token": EM_KEY}).respond_with_json(
        fixture("electricitymaps/forecast_documented_shape.json")
    )
    api.expect_request(FORECAST).respond_with_response(
        Response(status=301, headers={"Location": f"/moved{FORECAST}?zone=DE"})
    )
    assert _fetch(f"http://127.0.0.1:{api.port}").points


class _Huge(BaseHTTPRequestHandler):
    """Streams a 90 MB JSON-looking body without a Content-Length (chunked), slowly enough
    to matter, and records how much the client took before hanging up."""

    sent = 0

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b'{"x":"' + b"a" * (1024 * 1024 - 8) + b'"},'
        try:
            for _ in range(90):
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                type(self).sent += len(chunk)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def huge_server():
    _Huge.sent = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Huge)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_huge_answer_is_refused_in_the_client(huge_server):
    with pytest.raises(SourceFault, match="answer too large"):
        _fetch(huge_server)
    assert _Huge.sent < 40 * 1024 * 1024  # the client hung up long before the end


def _cli(env_extra: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """carbonplan in a child process that reports its own peak memory (MB) on stderr."""
    code = (
        "import resource, sys\n"
        "from recommender.cli import main\n"
        "rc = main(sys.argv[1:])\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "sys.stderr.write(f'PEAK_MB {peak:.0f}\\n')\n"
        "sys.exit(rc)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ELECTRICITYMAPS", "WATTTIME"))}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_a_90_mb_answer_degrades_with_a_warning_and_little_memory(huge_server, tmp_path):
    result = _cli(
        {
            "CARBONPLAN_ELECTRICITYMAPS_URL": f"{huge_server}/em",
            "ELECTRICITYMAPS_API_KEY": "k",
            "CARBONPLAN_CACHE_DIR": str(tmp_path),
            "CARBONPLAN_HTTP_RETRIES": "0",
        },
        "suggest", "--gpu-hours", "10", "--intensity", "electricitymaps",
        "--region", "aws:eu-west-1", "--top", "1", "--format", "json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "too large" in result.stderr and "static" in result.stderr
    option = json.loads(result.stdout)["options"][0]
    assert option["intensity_kind"] == "static"
    # Against the same plan on static figures (same fresh cache state): every zone's answer is
    # 90 MB, read by up to 64 threads at once. Unbounded, that is gigabytes; bounded, the
    # answers share a 48 MB budget, plus each thread's socket buffer (the server's 1 MB chunks)
    # and allocator slack: measured +20 MB with one worker, +150 MB with 64.
    baseline = _cli(
        {"CARBONPLAN_CACHE_DIR": str(tmp_path / "static")},
        "suggest", "--gpu-hours", "10", "--region", "aws:eu-west-1", "--top", "1",
        "--format", "json",
    )  # fmt: skip
    peak, base = (int(r.stderr.split("PEAK_MB ")[1].split()[0]) for r in (result, baseline))
    assert peak - base < 250, (peak, base)


@pytest.mark.parametrize("key", ["clé-€-key", "key\nwith-newline"])
def test_an_unusable_key_degrades_with_a_warning_and_never_prints(key, tmp_path):
    env = {"ELECTRICITYMAPS_API_KEY": key, "CARBONPLAN_CACHE_DIR": str(tmp_path)}
    env |= {
        "CARBONPLAN_ELECTRICITYMAPS_URL": "http://127.0.0.1:9/em",
        "CARBONPLAN_INTENSITY_SOURCES": "electricitymaps",
    }
    live = _cli(env, "suggest", "--gpu-hours", "10", "--intensity", "live", "--top", "1")
    assert live.returncode == 0, live.stderr
    assert "ELECTRICITYMAPS_API_KEY" in live.stderr and "electricitymaps is skipped" in live.stderr
    assert "Traceback" not in live.stderr and key not in live.stderr + live.stdout
    named = _cli(env, "suggest", "--gpu-hours", "10", "--intensity", "electricitymaps")
    assert named.returncode == 2
    first = named.stderr.splitlines()[0]
    assert first.startswith("error: ELECTRICITYMAPS_API_KEY") and key not in named.stderr
