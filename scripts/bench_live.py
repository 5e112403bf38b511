"""Benchmark: `carbonplan suggest --gpu-hours 400 --intensity live` over every region against a
local fake Electricity Maps API that adds a fixed latency to every request.

    python scripts/bench_live.py [--latency-ms 200] [--runs 5]

Target (issue 3): concurrency and zone sharing keep the live suggest under
3 x one request's latency + the offline suggest's time. Each live run starts with an empty
cache (so every zone is fetched); a last run repeats with the warm cache (no request at all).
Every run is a fresh interpreter, output discarded; medians are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlparse
from urllib.request import Request, urlopen

KEY = "bench-key"


class FakeElectricityMaps(BaseHTTPRequestHandler):
    latency_s = 0.2
    lock = threading.Lock()
    count = 0
    zones: ClassVar[set[str]] = set()

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        time.sleep(self.latency_s)
        url = urlparse(self.path)
        zone = parse_qs(url.query).get("zone", ["LATLON"])[0]
        with self.lock:
            type(self).count += 1
            type(self).zones.add(zone)
        if self.headers.get("auth-token") != KEY:
            return self._send(401, {"error": "bad key"})
        # A value that differs from the annual figures: the ranking changes.
        value = 20 + (sum(map(ord, zone)) * 37) % 700
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        stamp = "%Y-%m-%dT%H:%M:%S.000Z"
        if url.path.endswith("/carbon-intensity/forecast"):
            points = [
                {"carbonIntensity": value, "datetime": (hour + timedelta(hours=h)).strftime(stamp)}
                for h in range(72)
            ]
            return self._send(
                200, {"zone": zone, "forecast": points, "updatedAt": hour.strftime(stamp)}
            )
        if url.path.endswith("/carbon-intensity/history"):
            points = [
                {"carbonIntensity": value, "datetime": (hour - timedelta(hours=h)).strftime(stamp)}
                for h in range(23, -1, -1)
            ]
            return self._send(200, {"zone": zone, "history": points})
        if url.path.endswith("/carbon-intensity/latest"):
            return self._send(
                200, {"zone": zone, "carbonIntensity": value, "datetime": hour.strftime(stamp)}
            )
        return self._send(404, {"status": "error", "message": "unknown"})

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def run(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True, env=env)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    FakeElectricityMaps.latency_s = args.latency_ms / 1000.0
    # A real API takes many connections at once; socketserver's default backlog (5) would
    # make concurrent clients wait a SYN retry (1 s), which measures the fake, not us.
    ThreadingHTTPServer.request_queue_size = 256
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeElectricityMaps)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/v3"

    one = []
    for _ in range(args.runs):
        request = Request(f"{base}/carbon-intensity/latest?zone=DE", headers={"auth-token": KEY})
        start = time.perf_counter()
        with urlopen(request) as response:
            response.read()
        one.append(time.perf_counter() - start)

    py = sys.executable
    script = Path(py).with_name("carbonplan")
    cmd = [str(script)] if script.exists() else [py, "-m", "recommender"]
    suggest = [*cmd, "suggest", "--gpu-hours", "400", "--format", "json"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(
        CARBONPLAN_ELECTRICITYMAPS_URL=base,
        CARBONPLAN_WATTTIME_URL="http://127.0.0.1:9",
        CARBONPLAN_UKGRID_URL="http://127.0.0.1:9",
        ELECTRICITYMAPS_API_KEY=KEY,
        CARBONPLAN_CONFIG=os.devnull + ".none",
    )
    for name in ("WATTTIME_USERNAME", "WATTTIME_PASSWORD", "CARBONPLAN_INTENSITY_SOURCES"):
        env.pop(name, None)

    with tempfile.TemporaryDirectory() as tmp:
        env["CARBONPLAN_CACHE_DIR"] = str(Path(tmp) / "warmup")
        run(suggest, env)  # page cache and the catalog pickle, as a user's second run
        offline = [run(suggest, env) for _ in range(args.runs)]
        live, requests_per_run = [], []
        for i in range(args.runs):
            env["CARBONPLAN_CACHE_DIR"] = str(Path(tmp) / f"live{i}")
            # the catalog pickle lives in the cache dir too: warm it without the live part
            run(suggest, env)
            before = FakeElectricityMaps.count
            live.append(run([*suggest, "--intensity", "live"], env))
            requests_per_run.append(FakeElectricityMaps.count - before)
        before = FakeElectricityMaps.count
        cached = run([*suggest, "--intensity", "live"], env)
        cached_requests = FakeElectricityMaps.count - before
    server.shutdown()

    m_one, m_off, m_live = (statistics.median(x) for x in (one, offline, live))
    target = 3 * m_one + m_off
    print(f"one request (latency {args.latency_ms:.0f} ms added): median {m_one * 1000:.0f} ms")
    print(f"offline suggest --gpu-hours 400:          median {m_off * 1000:.0f} ms")
    print(
        f"live suggest --intensity live:            median {m_live * 1000:.0f} ms "
        f"(min {min(live) * 1000:.0f}, max {max(live) * 1000:.0f}, n={args.runs}; "
        f"{statistics.median(requests_per_run):.0f} requests for "
        f"{len(FakeElectricityMaps.zones)} zones)"
    )
    print(
        f"live suggest again within the cache TTL:  {cached * 1000:.0f} ms, "
        f"{cached_requests} requests"
    )
    verdict = "meets" if m_live <= target else "MISSES"
    print(
        f"target 3 x one request + offline = {target * 1000:.0f} ms: {verdict} it "
        f"({m_live / target:.2f} of the budget)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
