"""The intensity cache shared by concurrent processes: one fetch per (source, zone, signal)
among them (single-flight through a lease in the cache), a crashed holder's lease expires,
warnings of the cache reach the user on the prefetch path too, old entries are pruned, and
``carbonplan cache info|clear``."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_intensity_support import EM_KEY, FakeGrid, settings_for
from werkzeug import Request, Response

from recommender.intensity import build_chain
from recommender.intensity.cache import IntensityCache, Lease
from recommender.intensity.model import Point, Target, ZoneSeries
from recommender.intensity.resolve import resolve

pytest_plugins = ["test_intensity_support"]  # its fixtures: grid, local_server, clean_env
pytestmark = pytest.mark.usefixtures("clean_env")
PROCESSES = 10


@pytest.fixture
def counted(local_server, grid: FakeGrid) -> tuple[FakeGrid, Counter[str]]:
    """The fake grid, and how many requests it saw per zone (any endpoint)."""
    per_zone: Counter[str] = Counter()
    lock = threading.Lock()

    def handle(request: Request) -> Response:
        with lock:
            per_zone[request.args.get("zone") or request.path] += 1
        return grid.handle(request)

    local_server.clear()
    local_server.expect_request(re.compile(".*")).respond_with_handler(handle)
    return grid, per_zone


def _suggest_env(base: str, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARBONPLAN_")}
    env.update(
        CARBONPLAN_CACHE_DIR=str(cache),
        CARBONPLAN_CONFIG=str(cache.parent / "no-config.toml"),
        CARBONPLAN_OVERLAY_DIR=str(cache.parent / "no-overlay"),
        CARBONPLAN_PRICES_MAX_AGE_DAYS="0",
        CARBONPLAN_ELECTRICITYMAPS_URL=f"{base}/em",
        ELECTRICITYMAPS_API_KEY=EM_KEY,
        CARBONPLAN_HTTP_BACKOFF="0",
        CARBONPLAN_HTTP_TIMEOUT="10",
    )
    return env


def _run_suggest(n: int, env: dict[str, str]) -> list[subprocess.CompletedProcess[str]]:
    command = [
        sys.executable,
        "-m",
        "recommender",
        "suggest",
        "--gpu-hours",
        "400",
        "--intensity",
        "electricitymaps",
        "--format",
        "json",
    ]
    procs = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(n)
    ]
    done = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        done.append(subprocess.CompletedProcess(command, proc.returncode, out, err))
    return done


def test_concurrent_processes_share_one_fetch_per_zone(counted, tmp_path):
    grid, per_zone = counted
    grid.latency_s = 0.2  # every process is still starting while the first fetches
    # What one process alone asks for (its own cache directory).
    alone = _run_suggest(1, _suggest_env(grid.base, tmp_path / "alone"))
    assert alone[0].returncode == 0, alone[0].stderr
    single = Counter(per_zone)
    assert len(single) > 10 and max(single.values()) == 1
    per_zone.clear()
    results = _run_suggest(PROCESSES, _suggest_env(grid.base, tmp_path / "shared"))
    for result in results:
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        assert {o["intensity_kind"] for o in json.loads(result.stdout)["options"]} == {"forecast"}
    # Every zone was asked once among all the processes, not once per process.
    assert per_zone == single


# -- the lease, in one process ---------------------------------------------------------------


def _series(zone: str, fetched: datetime, source: str = "test") -> ZoneSeries:
    return ZoneSeries(
        source=source,
        label="t",
        zone=zone,
        period_s=3600,
        points=tuple(Point(fetched + timedelta(hours=h), 100.0) for h in range(3)),
        fetched_at=fetched,
        observed_at=fetched,
        signal="s",
    )


def test_a_lease_is_exclusive_until_released_or_expired(tmp_path):
    path = tmp_path / "c.sqlite3"
    first, second = IntensityCache(path), IntensityCache(path)
    keys = [("test", "A", "s"), ("test", "B", "s")]
    assert first.claim(keys, lease_s=60) == set(keys)
    assert second.claim(keys, lease_s=60) == set()  # held by the first
    first.release([keys[0]])
    assert second.claim(keys, lease_s=60) == {keys[0]}
    # A holder that died: its lease lapses and another process takes the key.
    third = IntensityCache(path)
    assert third.claim([("test", "C", "s")], lease_s=0.05) == {("test", "C", "s")}
    assert second.claim([("test", "C", "s")], lease_s=60) == set()
    time.sleep(0.1)
    assert second.claim([("test", "C", "s")], lease_s=60) == {("test", "C", "s")}


def test_a_failed_fetch_is_shared_with_the_waiters(tmp_path):
    path = tmp_path / "c.sqlite3"
    holder, waiter = IntensityCache(path), IntensityCache(path)
    key = ("test", "A", "s")
    assert holder.claim([key], lease_s=60) == {key}
    assert waiter.lease_state(key) == Lease("held")
    holder.release([key], failures={key: ("HTTP 503", False, False)}, hold_s=60)
    assert waiter.lease_state(key) == Lease("failed", "HTTP 503")
    assert waiter.claim([key], lease_s=60) == set()  # the failure stands for a while


def test_a_crashed_holder_does_not_block_the_next_process(grid, tmp_path):
    path = tmp_path / "c.sqlite3"
    settings = settings_for(grid.base, timeout_s=0.5, retries=0)
    target = Target(provider="aws", region="eu-central-1", em_zone="DE")
    crashed = IntensityCache(path)
    assert crashed.claim([("electricitymaps", "DE", "lifecycle")], lease_s=0.3)
    crashed.close()  # never released: the process died
    chain = build_chain("electricitymaps", settings)
    result = resolve([target], chain, now=datetime.now(UTC), cache=IntensityCache(path))
    answer = result.answers[target.key]
    assert answer is not None and not answer.stale
    assert grid.calls["/em/carbon-intensity/forecast"] == 1


# -- pruning and warnings --------------------------------------------------------------------


def test_entries_older_than_the_limit_are_pruned_on_write(tmp_path):
    path = tmp_path / "c.sqlite3"
    now = datetime.now(UTC)
    cache = IntensityCache(path, keep_s=3600)
    cache.store([_series("OLD", now - timedelta(hours=3))])
    cache.store([_series("NEW", now)])
    with sqlite3.connect(path) as conn:
        zones = {row[0] for row in conn.execute("SELECT zone FROM fetches")}
        point_zones = {row[0] for row in conn.execute("SELECT DISTINCT zone FROM points")}
    assert zones == {"NEW"} and point_zones == {"NEW"}


def test_cache_warnings_reach_the_user_on_the_prefetch_path(grid, tmp_path, monkeypatch):
    from recommender.intensity.planner import LiveIntensity

    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    (cache_dir / "intensity.sqlite3").write_bytes(b"this is not a database" * 100)
    monkeypatch.setenv("CARBONPLAN_CACHE_DIR", str(cache_dir))
    lines: list[str] = []
    fn = LiveIntensity(build_chain("electricitymaps", settings_for(grid.base)), warn=lines.append)
    import pandas as pd

    regions = pd.DataFrame(
        [{"provider": "aws", "region": "eu-central-1", "em_zone": "DE", "gco2_per_kwh": 300.0}]
    )
    fn.prefetch(regions)
    resolution = fn.resolve(regions)
    assert any("was corrupt: rebuilt it" in line for line in lines), lines
    assert any("was corrupt" in line for line in resolution.warnings)


# -- carbonplan cache ------------------------------------------------------------------------


def test_cache_info_and_clear(cli, tmp_path, monkeypatch):
    cache_dir = tmp_path / "cache"
    monkeypatch.setenv("CARBONPLAN_CACHE_DIR", str(cache_dir))
    now = datetime.now(UTC)
    cache = IntensityCache(cache_dir / "intensity.sqlite3")
    cache.store([_series("A", now - timedelta(hours=1), "electricitymaps"), _series("B", now)])
    cache.store([_series("C", now, "electricitymaps")])
    cache.close()
    from recommender.catalog import load

    monkeypatch.setattr(load, "_CACHE", {})  # not this process's memo: through the disk cache
    assert cli("suggest", "--gpu-hours", "10").code == 0  # writes the catalog cache
    catalogs = sorted(p.name for p in cache_dir.glob("catalog-*.npz"))
    assert catalogs

    info = cli("cache", "info", "--format", "json")
    assert info.code == 0, info.err
    doc = json.loads(info.out)
    assert doc["path"] == str(cache_dir)
    assert doc["intensity"]["sources"] == {"electricitymaps": 2, "test": 1}
    assert doc["intensity"]["oldest"] < doc["intensity"]["newest"]
    assert doc["intensity"]["bytes"] > 0
    assert [f["name"] for f in doc["catalog"]] == catalogs
    table = cli("cache", "info")
    assert table.code == 0 and "electricitymaps" in table.out and catalogs[0] in table.out

    cleared = cli("cache", "clear")
    assert cleared.code == 0, cleared.err
    assert "intensity.sqlite3" in cleared.out and catalogs[0] in cleared.out
    assert not (cache_dir / "intensity.sqlite3").exists()
    assert not list(cache_dir.glob("catalog-*"))
    again = cli("cache", "clear")
    assert again.code == 0 and "nothing to remove" in again.out
    empty = json.loads(cli("cache", "info", "--format", "json").out)
    assert empty["intensity"]["entries"] == 0 and empty["catalog"] == []
