"""Shared fixtures: a tiny inline catalog for planner tests, and a CLI runner."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass

import pandas as pd
import pytest
from hypothesis import settings as hypothesis_settings

from recommender.cli import main
from recommender.errors import ExitCode

# Shared CI machines are noisy: no per-example deadlines, and in CI the same examples every run
# (a property failure then reproduces; locally hypothesis keeps exploring).
hypothesis_settings.register_profile("carbonplan", deadline=None)
hypothesis_settings.register_profile("carbonplan-ci", deadline=None, derandomize=True)
hypothesis_settings.load_profile("carbonplan-ci" if os.environ.get("CI") else "carbonplan")


def region_row(provider: str, region: str, gco2: float, pue: float = 1.1) -> dict[str, object]:
    return {
        "provider": provider,
        "region": region,
        "location": region.title(),
        "country": "X",
        "country_code": "XX",
        "subdivision": None,
        "lat": 0.0,
        "lon": 0.0,
        "em_zone": "XX",
        "watttime_region": None,
        "gco2_per_kwh": gco2,
        "gco2_per_kwh_low": gco2,
        "gco2_per_kwh_high": gco2,
        "intensity_source": "test",
        "intensity_year": 2024,
        "intensity_basis": "grid",
        "intensity_method": "zone",
        "pue": pue,
        "pue_source": "test",
        "pue_year": "2024",
    }


def offer_row(
    provider: str,
    region: str,
    instance: str,
    gpu: str,
    count: float,
    vcpus: float,
    mem: float,
    price: float,
    spot: float | None = None,
) -> dict[str, object]:
    return {
        "provider": provider,
        "region": region,
        "instance_type": instance,
        "gpu": gpu,
        "gpu_count": count,
        "vcpus": vcpus,
        "memory_gib": mem,
        "usd_per_hour": price,
        "spot_usd_per_hour": spot,
        "zones": 1,
        "price_as_of": "2026-01-01",
        "price_source": "test",
        "spot_source": None,
        "note": None,
    }


def gpu_row(gpu: str, tdp: float, mem: float, rel: float) -> dict[str, object]:
    return {
        "gpu": gpu,
        "aliases": "",
        "vendor": "NVIDIA",
        "tdp_w": tdp,
        "memory_gb": mem,
        "bf16_tflops": None,
        "fp32_tflops": None,
        "mem_bw_gbs": None,
        "rel_throughput": rel,
        "rel_throughput_low": rel,
        "rel_throughput_high": rel,
        "throughput_basis": "measured",
        "throughput_source": "test",
        "spec_source": "test",
    }


@dataclass
class Tiny:
    offers: pd.DataFrame
    regions: pd.DataFrame
    gpus: pd.DataFrame


@pytest.fixture
def tiny() -> Tiny:
    regions = pd.DataFrame(
        [
            region_row("aws", "clean-1", 20.0, 1.2),
            region_row("aws", "dirty-1", 700.0, 1.2),
            region_row("gcp", "mid-1", 300.0, 1.1),
        ]
    )
    gpus = pd.DataFrame(
        [
            gpu_row("A100", 400, 40, 0.9),
            gpu_row("A100-80GB", 400, 80, 1.0),
            gpu_row("H100", 700, 80, 2.0),
            gpu_row("T4", 70, 16, 0.12),
        ]
    )
    offers = pd.DataFrame(
        [
            offer_row("aws", "clean-1", "p4d.24xlarge", "A100", 8, 96, 1152, 30.0, 12.0),
            offer_row("aws", "dirty-1", "p4d.24xlarge", "A100", 8, 96, 1152, 25.0, 10.0),
            offer_row("aws", "dirty-1", "g4dn.xlarge", "T4", 1, 4, 16, 0.5, 0.2),
            offer_row("aws", "dirty-1", "g4dn.2xlarge", "T4", 1, 8, 32, 0.75, 0.3),
            offer_row("gcp", "mid-1", "a3-highgpu-8g", "H100", 8, 208, 1872, 88.0, 25.0),
            offer_row("gcp", "mid-1", "a2-highgpu-1g", "A100", 1, 12, 85, 3.7, None),
        ]
    )
    return Tiny(offers=offers, regions=regions, gpus=gpus)


@dataclass
class Result:
    code: int
    out: str
    err: str

    def assert_one_clear_error(self, message: str) -> None:
        """Bad input: exit 2, one `error:` line naming the problem, a `hint:`, no traceback,
        nothing on stdout."""
        assert self.code == ExitCode.BAD_INPUT, (self.code, self.err)
        lines = self.err.strip().splitlines()
        assert lines[0].startswith("error: ") and message in lines[0], lines
        assert lines[1].startswith("hint: ")
        assert "Traceback" not in self.err and self.out == ""


@pytest.fixture
def cli() -> Callable[..., Result]:
    """Run the real entry point in-process, capturing stdout/stderr and the exit code."""

    def run(*args: str) -> Result:
        out, err = io.StringIO(), io.StringIO()
        os.environ.pop("CARBONPLAN_DEBUG", None)
        with redirect_stdout(out), redirect_stderr(err):
            code = main(list(args))
        return Result(code, out.getvalue(), err.getvalue())

    return run


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Tests never touch the user's cache directory, nor read the user's config file or
    planning settings from the environment (a developer's own defaults would change the
    answers); a test that needs a config sets CARBONPLAN_CONFIG itself."""
    monkeypatch.setenv("CARBONPLAN_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setenv("CARBONPLAN_CONFIG", str(tmp_path_factory.getbasetemp() / "no-config.toml"))
    # nor the user's refreshed prices (carbonplan data refresh); and the shipped prices age
    # with the calendar, so the stale-price warning is off unless a test turns it on
    monkeypatch.setenv("CARBONPLAN_OVERLAY_DIR", str(tmp_path_factory.getbasetemp() / "no-overlay"))
    monkeypatch.setenv("CARBONPLAN_PRICES_MAX_AGE_DAYS", "0")
    from recommender import config

    for name, key in config.PLAN_KEYS.items():
        monkeypatch.delenv(key.env(name), raising=False)
