"""The command line as users and scripts meet it: output contracts, exit codes, bad input."""

from __future__ import annotations

import itertools
import json
import math
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from recommender.catalog.load import default_data_dir
from recommender.errors import ExitCode
from recommender.planner.core import significant

OPTION_KEYS = {
    "rank",
    "provider",
    "region",
    "location",
    "instance_type",
    "gpu",
    "gpus_per_instance",
    "instances",
    "market",
    "start",
    "wall_hours",
    "gpu_hours",
    "energy_kwh",
    "gco2_per_kwh",
    "intensity_source",
    "intensity_year",
    "pue",
    "operational_kgco2e",
    "embodied_kgco2e",
    "kgco2e",
    "usd_per_hour",
    "cost_usd",
    "pareto",
}


def _json(result):
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_suggest_default_table_spans_three_clouds(cli):
    result = cli("suggest", "--gpu-hours", "400", "--top", "0")
    assert result.code == 0, result.err
    assert "ranked by carbon" in result.out
    rows = re.findall(r"^ *\d+ +P? +(aws|gcp|azure) ", result.out, flags=re.M)
    assert len(rows) >= 100
    for provider in ("aws", "gcp", "azure"):
        assert provider in rows, provider
    assert "prices as of" in result.out and "assumptions:" in result.out


def test_suggest_json_follows_the_contract(cli):
    doc = _json(cli("suggest", "--gpu-hours", "400", "--format", "json"))
    assert set(doc) >= {"job", "assumptions", "options", "data"}
    assert doc["job"] == {
        "gpu_hours": 400.0,
        "ref_gpu": "A100",
        "trials": 1,
        "total_ref_gpu_hours": 400.0,
    }
    assert doc["assumptions"]["objective"] == "carbon"
    assert doc["assumptions"]["gpu_utilisation"] == 0.8
    assert "gpu_utilisation" in doc["assumptions"]["defaults_used"]
    assert all(d["source"] for d in doc["assumptions"]["details"])
    options = doc["options"]
    assert len(options) == 20  # the default --top
    every = _json(cli("suggest", "--gpu-hours", "400", "--format", "json", "--top", "0"))
    assert {o["provider"] for o in every["options"]} == {"aws", "gcp", "azure"}
    for i, option in enumerate(options, start=1):
        assert set(option) >= OPTION_KEYS
        assert option["rank"] == i
        assert option["market"] in ("on-demand", "spot")
        assert option["start"] is None
        assert isinstance(option["pareto"], bool)
        assert isinstance(option["gpus_per_instance"], int | float)
        for key in ("wall_hours", "energy_kwh", "kgco2e", "cost_usd", "gco2_per_kwh"):
            assert (
                isinstance(option[key], float) and math.isfinite(option[key]) and option[key] >= 0
            )
        assert option["kgco2e"] == pytest.approx(
            option["operational_kgco2e"] + option["embodied_kgco2e"], rel=1e-5
        )
    kg = [o["kgco2e"] for o in options]
    assert kg == sorted(kg)
    assert doc["data"]["prices_as_of"]
    assert doc["data"]["sources"] and doc["data"]["gpus"]


def test_suggest_csv_has_one_row_per_option(cli):
    result = cli("suggest", "--gpu-hours", "400", "--format", "csv", "--top", "7")
    assert result.code == 0
    lines = result.out.strip().splitlines()
    assert lines[0].startswith("rank,provider,region,location")
    assert len(lines) == 8


def test_montreal_beats_mumbai_tenfold_for_the_same_aws_instance(cli):
    doc = _json(
        cli(
            "suggest",
            "--gpu-hours",
            "400",
            "--provider",
            "aws",
            "--top",
            "0",
            "--all-sizes",
            "--format",
            "json",
        )
    )
    by_key = {(o["region"], o["instance_type"], o["market"]): o for o in doc["options"]}
    pairs = [
        (k, by_key[("ap-south-1", k[1], k[2])])
        for k in by_key
        if k[0] == "ca-central-1" and ("ap-south-1", k[1], k[2]) in by_key
    ]
    assert pairs, "no instance type offered in both regions"
    for (_, _instance, _), mumbai in pairs:
        montreal = by_key[("ca-central-1", _instance, _)]
        assert mumbai["operational_kgco2e"] / montreal["operational_kgco2e"] >= 10
    ranks = {o["region"]: o["rank"] for o in reversed(doc["options"])}  # best rank per region
    assert ranks["ca-central-1"] < ranks["ap-south-1"]
    regions_in_order = list(dict.fromkeys(o["region"] for o in doc["options"]))
    assert regions_in_order.index("ca-central-1") < 3
    assert regions_in_order.index("ap-south-1") > len(regions_in_order) - 6


def test_baseline_adds_savings(cli):
    doc = _json(
        cli(
            "suggest",
            "--gpu-hours",
            "400",
            "--baseline",
            "aws:us-east-1",
            "--provider",
            "aws",
            "--format",
            "json",
        )
    )
    same = [o for o in doc["options"] if o["saves_kgco2e"] is not None]
    assert same, "no option shares a GPU with the baseline"
    assert all(o["saves_kgco2e"] > 0 for o in same[:3])


def test_constraints_are_applied(cli):
    doc = _json(
        cli(
            "suggest",
            "--gpu-hours",
            "400",
            "--gpu",
            "h100",
            "--spot",
            "--deadline",
            "10",
            "--max-instances",
            "4",
            "--format",
            "json",
            "--top",
            "0",
        )
    )
    assert {o["gpu"] for o in doc["options"]} == {"H100"}
    assert {o["market"] for o in doc["options"]} == {"spot"}
    assert all(o["wall_hours"] <= 10 + 1e-9 and o["instances"] <= 4 for o in doc["options"])
    assert any(o["instances"] > 1 for o in doc["options"])
    steps = [s["constraint"] for s in doc["summary"]["constraint_steps"]]
    assert steps == ["gpu", "market", "deadline"]


@pytest.mark.parametrize(
    "objective,key", [("cost", "cost_usd"), ("time", "wall_hours"), ("carbon", "kgco2e")]
)
def test_objectives(cli, objective, key):
    doc = _json(
        cli(
            "suggest",
            "--gpu-hours",
            "100",
            "--objective",
            objective,
            "--format",
            "json",
            "--top",
            "0",
        )
    )
    raw = [o[key] for o in doc["options"]]
    values = significant(pd.Series(raw)).tolist()
    # Equal to 3 significant figures counts as a tie. The JSON rounds to 6 decimals, so a
    # figure just above a rounding boundary (418.5000001) can read as just on it (418.5): such
    # neighbours are within one unit of the third significant digit of each other.
    for (a, sa), (b, sb) in itertools.pairwise(zip(raw, values, strict=True)):
        unit = 10 ** (math.floor(math.log10(max(abs(a), abs(b), 1e-12))) - 2)
        assert sb >= sa or abs(b - a) <= unit, (a, b)


def test_explain_shows_sources(cli):
    result = cli("suggest", "--gpu-hours", "400", "--explain", "--top", "5")
    assert result.code == 0
    for text in (
        "Assumptions",
        "Cloud Carbon Footprint",
        "BLOOM",
        "GPU throughput",
        "price sources",
        "PUE",
    ):
        assert text in result.out, text
    assert "[estimated]" in result.out  # printed literally, not eaten as markup


def test_estimate_reproduces_bloom(cli):
    # BLOOM's final training run: 1,082,990 A100 GPU-hours at 400 W, 57 gCO2e/kWh, no PUE
    # -> ~433 MWh and ~24.7 t operational (Luccioni et al. 2023).
    doc = _json(
        cli(
            "estimate",
            "--gpu",
            "A100-80GB",
            "--hours",
            "1082990",
            "--gpu-power-w",
            "400",
            "--host-power-w",
            "0",
            "--pue",
            "1",
            "--intensity",
            "57",
            "--format",
            "json",
        )
    )
    assert doc["energy_kwh"] == pytest.approx(433_196, rel=1e-6)
    assert doc["operational_kgco2e"] == pytest.approx(24_692, rel=1e-3)
    # BLOOM's embodied estimate (11.2 t) follows from the default 10.35 g/GPU-hour
    assert doc["embodied_kgco2e"] == pytest.approx(11_200, rel=0.01)
    assert doc["equivalents"]["car_km"]["value"] > 0
    assert doc["sources"]["gpu_power_w"] == "--gpu-power-w"


def test_estimate_with_region_uses_its_intensity_and_pue(cli):
    doc = _json(
        cli(
            "estimate",
            "--gpu",
            "V100",
            "--count",
            "8",
            "--hours",
            "10",
            "--region",
            "aws:ca-central-1",
            "--format",
            "json",
        )
    )
    assert doc["gco2_per_kwh"] < 50
    assert doc["pue"] > 1.0
    assert doc["gpu_power_w"] == pytest.approx(300 * 0.8)
    assert doc["host_power_w"] > 0 and "median host" in doc["sources"]["host_power_w"]
    expected = (8 * 240 + doc["host_power_w"]) * 10 * doc["pue"] / 1000
    assert doc["energy_kwh"] == pytest.approx(expected)
    flat = cli(
        "estimate",
        "--gpu",
        "V100",
        "--hours",
        "1",
        "--intensity",
        "100",
        "--power-w",
        "1000",
        "--no-embodied",
        "--format",
        "json",
    )
    doc = _json(flat)
    assert doc["energy_kwh"] == pytest.approx(1.0) and doc["embodied_kgco2e"] == 0
    assert doc["gpu_power_w"] is None and doc["pue"] == 1.0


def test_estimate_table_shows_equivalents(cli):
    result = cli("estimate", "--gpu", "a100", "--hours", "100", "--region", "gcp:us-central1")
    assert result.code == 0
    assert "km driven" in result.out and "EPA" in result.out


def test_regions_and_gpus_json(cli):
    regions = _json(cli("regions", "--format", "json"))
    assert {r["provider"] for r in regions} == {"aws", "gcp", "azure"}
    for r in regions:
        assert {
            "provider",
            "region",
            "location",
            "country",
            "gco2_per_kwh",
            "intensity_source",
            "intensity_year",
            "pue",
            "gpus",
        } <= set(r)
        assert r["gpus"]
    values = [r["gco2_per_kwh"] for r in regions]
    assert values == sorted(values)
    only = _json(cli("regions", "--provider", "gcp", "--gpu", "L4", "--format", "json"))
    assert only and all(r["provider"] == "gcp" and "L4" in r["gpus"] for r in only)
    gpus = _json(cli("gpus", "--format", "json"))
    names = {g["gpu"] for g in gpus}
    assert {"A100", "H100", "T4", "L4"} <= names
    for g in gpus:
        assert {"gpu", "tdp_w", "memory_gb", "rel_throughput", "throughput_source"} <= set(g)
    csv_out = cli("gpus", "--format", "csv")
    assert csv_out.out.splitlines()[0].startswith("gpu,aliases,vendor,tdp_w")


BAD_INPUT = [
    (["suggest", "--gpu-hours", "0"], "--gpu-hours must be > 0"),
    (["suggest", "--gpu-hours", "-5"], "--gpu-hours must be > 0"),
    (["suggest", "--gpu-hours", "nan"], "finite"),
    (["suggest", "--gpu-hours", "inf"], "finite"),
    (["suggest", "--gpu-hours", "1e12"], "implausibly large"),
    (["suggest", "--gpu-hours", "abc"], "not a valid float"),
    (["suggest"], "Missing option '--gpu-hours'"),
    (["suggest", "--gpu-hours", "400", "--gpu", "A1000"], "unknown GPU 'A1000'"),
    (["suggest", "--gpu-hours", "400", "--ref-gpu", "X9"], "unknown GPU 'X9'"),
    (["suggest", "--gpu-hours", "400", "--provider", "awz"], "unknown provider 'awz'"),
    (["suggest", "--gpu-hours", "400", "--region", "aws:ca-centrl-1"], "unknown aws region"),
    (["suggest", "--gpu-hours", "400", "--region", "nowhere-1"], "unknown region"),
    (
        ["suggest", "--gpu-hours", "400", "--provider", "gcp", "--region", "aws:us-east-1"],
        "is not in --provider",
    ),
    (
        [
            "suggest",
            "--gpu-hours",
            "400",
            "--region",
            "aws:us-east-1",
            "--exclude-region",
            "aws:us-east-1",
        ],
        "also excluded",
    ),
    (["suggest", "--gpu-hours", "400", "--max-instances", "0"], "--max-instances"),
    (["suggest", "--gpu-hours", "400", "--utilisation", "1.5"], "implausibly large"),
    (["suggest", "--gpu-hours", "400", "--format", "xml"], "'xml' is not one of"),
    (["suggest", "--gpu-hours", "400", "--objective", "happiness"], "is not one of"),
    (["suggest", "--gpu-hours", "400", "--embodied", "5", "--no-embodied"], "contradict"),
    (["estimate", "--gpu", "A100", "--hours", "10"], "needs a grid intensity"),
    (
        [
            "estimate",
            "--gpu",
            "A100",
            "--hours",
            "10",
            "--intensity",
            "100",
            "--power-w",
            "500",
            "--gpu-power-w",
            "300",
        ],
        "--power-w replaces",
    ),
    (["estimate", "--gpu", "A100", "--hours", "10", "--intensity", "-1"], "--intensity"),
    (["estimate", "--gpu", "A100", "--hours", "10", "--intensity", "100", "--pue", "0.5"], "--pue"),
    (["regions", "--provider", "oracle"], "unknown provider"),
    (["frobnicate"], "No such command"),
]


@pytest.mark.parametrize("args,message", BAD_INPUT)
def test_bad_input_is_one_clear_error(cli, args, message):
    result = cli(*args)
    result.assert_one_clear_error(message)


@pytest.mark.parametrize(
    "args,message",
    [
        (["--deadline", "0.5", "--max-instances", "2"], "--deadline"),
        (["--max-cost", "1"], "--max-cost"),
        (["--max-kg", "0.001"], "--max-kg"),
        (["--gpu", "T4", "--min-gpu-memory", "80"], "--min-gpu-memory"),
    ],
)
def test_unsatisfiable_constraints_exit_4_and_name_the_constraint(cli, args, message):
    result = cli("suggest", "--gpu-hours", "400", *args)
    assert result.code == ExitCode.NO_OPTION
    first, hint = result.err.strip().splitlines()
    assert first.startswith("error: no option satisfies") and message in first
    assert hint.startswith("hint: ")


def _copy_data(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(default_data_dir(), target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda p: p.write_bytes(b"\xef\xbb\xbf" + p.read_bytes()), "byte-order mark"),
        (
            lambda p: p.write_text(p.read_text().replace("usd_per_hour,", "price,", 1)),
            "lacks column",
        ),
        (
            lambda p: p.write_text(p.read_text().replace(",gpu,", ",gpu,", 1) + "aws,x\n"),
            "offers.csv",
        ),
        (lambda p: p.write_text(p.read_text().splitlines()[0] + "\n"), "no rows"),
        (lambda p: p.write_bytes(b"\x00\xff\xfe garbage"), "offers.csv"),
    ],
)
def test_corrupt_data_gives_a_clear_error(cli, tmp_path, monkeypatch, mutate, message):
    data = _copy_data(tmp_path)
    mutate(data / "offers.csv")
    monkeypatch.setenv("CARBONPLAN_DATA_DIR", str(data))
    result = cli("suggest", "--gpu-hours", "400")
    assert result.code == ExitCode.BAD_INPUT
    assert result.err.startswith("error: ") and message in result.err.splitlines()[0]
    assert "Traceback" not in result.err


def test_negative_price_in_data_is_rejected(cli, tmp_path, monkeypatch):
    data = _copy_data(tmp_path)
    lines = (data / "offers.csv").read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[1].split(",")
    cells[header.index("usd_per_hour")] = "-1"
    lines[1] = ",".join(cells)
    (data / "offers.csv").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("CARBONPLAN_DATA_DIR", str(data))
    result = cli("suggest", "--gpu-hours", "400")
    assert result.code == ExitCode.BAD_INPUT
    assert "line 2: usd_per_hour=-1" in result.err


def test_corrupt_cache_is_rebuilt(cli, tmp_path, monkeypatch):
    from recommender.catalog import load

    monkeypatch.setenv("CARBONPLAN_CACHE_DIR", str(tmp_path / "cache"))
    load._CACHE.clear()
    assert cli("gpus", "--format", "json").code == 0
    caches = list((tmp_path / "cache").glob("catalog-*.npz"))
    assert len(caches) == 1
    caches[0].write_bytes(b"not a cache")
    load._CACHE.clear()
    result = cli("suggest", "--gpu-hours", "10", "--format", "json")
    assert result.code == 0 and json.loads(result.out)["options"]
    assert caches[0].read_bytes() != b"not a cache"


def test_the_catalog_cache_holds_data_not_code(tmp_path, monkeypatch):
    """The cached catalog reads back equal to a fresh validation, from a file numpy opens with
    allow_pickle=False: a cache file cannot run code (a pickle planted there would)."""
    import pickle

    import numpy as np

    from recommender.catalog import load

    monkeypatch.setenv("CARBONPLAN_CACHE_DIR", str(tmp_path / "cache"))
    load._CACHE.clear()
    fresh = load.load_catalog()
    (path,) = (tmp_path / "cache").glob("catalog-*.npz")
    with np.load(path, allow_pickle=False) as arrays:
        assert all(arrays[name].dtype != object for name in arrays.files)
    load._CACHE.clear()
    cached = load.load_catalog()
    for name in ("offers", "regions", "gpus", "region_intensity"):
        pd.testing.assert_frame_equal(getattr(cached, name), getattr(fresh, name))
    assert cached.meta == fresh.meta and cached.data_dir == fresh.data_dir
    # A pickle planted under the cache's name is refused and rebuilt, never loaded.
    path.write_bytes(pickle.dumps(fresh))
    load._CACHE.clear()
    assert load._read_cached(path) is None
    pd.testing.assert_frame_equal(load.load_catalog().offers, fresh.offers)
    assert not list((tmp_path / "cache").glob(".catalog-*"))  # no temporary file left


def test_version_and_help(cli):
    assert cli("--version").out.strip().startswith("carbonplan ")
    result = cli("suggest", "--help")
    assert result.code == 0 and "--gpu-hours" in result.out


def test_suggest_imports_no_cloud_sdk_or_plotting():
    """suggest must stay light: no boto3, google-cloud-compute, matplotlib or pydantic."""
    import subprocess
    import sys

    code = (
        "import io, sys, contextlib\n"
        "from recommender.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['suggest', '--gpu-hours', '400']) == 0\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        "('boto3', 'botocore', 'google', 'matplotlib', 'pydantic', 'requests')]\n"
        "print(','.join(sorted(heavy)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize(("top", "counted"), [("1", "1 row (rank 1;"), ("3", "3 rows (ranks ")])
def test_the_table_footer_counts_rows_in_words_that_agree(cli, top, counted):
    result = cli("suggest", "--gpu-hours", "400", "--top", top)
    assert result.code == 0, result.err
    assert counted in " ".join(result.out.split())
