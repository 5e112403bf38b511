"""One throughput model: a job stated as --params/--tokens and the same job stated in GPU-hours
rank hardware alike, and `size`, `estimate` and `suggest` give one GPU the same hours.

FLOPs become reference-GPU (A100-80GB) hours at its BF16 peak x MFU; every GPU then scales
by its benchmarked rel_throughput, exactly as a --gpu-hours job does. Before this model the
two ways disagreed (H100 3.17x vs 2.2x an A100, B200 7.2x vs 3.7x, L4 0.39x vs 0.23x), so
these tests fail whenever FLOP-sized jobs take speed from anything but rel_throughput.
"""

from __future__ import annotations

import json

import pytest

from recommender.catalog import load_catalog

GPUS = ["H100", "MI300X", "L4", "B200", "T4", "H100-NVL"]
PARAMS = ["--params", "7B", "--tokens", "100B"]


def _json(result):
    assert result.code == 0, result.err
    return json.loads(result.out)


def _top_gpu_hours(cli, sizing: list[str], gpu: str) -> float:
    doc = _json(
        cli("suggest", *sizing, "--gpu", gpu, "--on-demand", "--format", "json", "--top", "1")
    )
    (option,) = doc["options"]
    assert option["gpu"] == gpu
    return float(option["gpu_hours"])


@pytest.fixture(scope="module")
def rel():
    return load_catalog().gpus.set_index("gpu")["rel_throughput"]


@pytest.mark.parametrize("gpu", GPUS)
def test_params_and_gpu_hours_give_each_gpu_the_same_speed_vs_a100(cli, rel, gpu):
    by_params = _top_gpu_hours(cli, PARAMS, "A100") / _top_gpu_hours(cli, PARAMS, gpu)
    by_hours = _top_gpu_hours(cli, ["--gpu-hours", "400"], "A100") / _top_gpu_hours(
        cli, ["--gpu-hours", "400"], gpu
    )
    # The same ratio to rounding (JSON hours carry 6 decimals), and it is the benchmark
    # factor's ratio, not the peak-FLOPS ratio (H100 989/312 = 3.17, L4 121/312 = 0.39).
    assert by_params == pytest.approx(by_hours, rel=1e-6)
    assert by_params == pytest.approx(rel[gpu] / rel["A100"], rel=1e-6)


def test_a_flop_sized_job_equals_the_same_job_in_reference_gpu_hours(cli):
    # 6 x 100M x 74.88B = 4.4928e19 FLOPs: exactly 100 h on the A100-80GB (312 TF x 0.4).
    sizing = ["--params", "100M", "--tokens", "74.88B"]
    size = _json(cli("size", *sizing, "--format", "json"))
    ref, hours = size["ref_gpu"], size["total_ref_gpu_hours"]
    assert ref == "A100-80GB" and hours == pytest.approx(100.0)
    common = ["--format", "json", "--top", "0"]
    sized = _json(cli("suggest", *sizing, *common))
    given = _json(cli("suggest", "--gpu-hours", repr(hours), "--ref-gpu", ref, *common))
    assert sized["job"]["ref_gpu"] == given["job"]["ref_gpu"] == ref
    assert sized["job"]["total_ref_gpu_hours"] == pytest.approx(hours, rel=1e-9)
    key = ("rank", "provider", "region", "instance_type", "market", "instances", "gpu")
    a = [tuple(o[k] for k in key) for o in sized["options"]]
    b = [tuple(o[k] for k in key) for o in given["options"]]
    assert len(a) > 100 and a == b  # every option, in the same order
    for x, y in zip(sized["options"], given["options"], strict=True):
        for field in ("wall_hours", "gpu_hours", "energy_kwh", "kgco2e", "cost_usd"):
            assert x[field] == pytest.approx(y[field], rel=1e-6, abs=1e-6), (field, x)
    # And `size` gives each GPU the hours suggest plans for it (one instance, no deadline).
    for option in sized["options"]:
        assert option["gpu_hours"] == pytest.approx(size["gpu_hours"][option["gpu"]], rel=1e-5)


ESTIMATE = ["--count", "8", "--intensity", "100", "--pue", "1.1", "--format", "json"]


@pytest.mark.parametrize("gpu", ["A100", "A100-80GB", "H100", "L4", "T4", "K80", "MI300X"])
def test_estimate_params_uses_the_same_model_as_size_and_suggest(cli, rel, gpu):
    sizing = ["--params", "1B", "--tokens", "20B"]  # 16 GB of training state
    by_params = _json(cli("estimate", "--gpu", gpu, *sizing, *ESTIMATE))
    size = _json(cli("size", *sizing, "--format", "json"))
    # Campaign GPU-hours: reference hours x rel(ref) / rel(gpu), over 8 GPUs (K80 has no
    # BF16 peak and is sized all the same).
    assert by_params["gpu_hours"] == pytest.approx(size["gpu_hours"][gpu], rel=1e-5)
    assert by_params["gpu_hours"] == pytest.approx(
        size["total_ref_gpu_hours"] * rel["A100-80GB"] / rel[gpu], rel=1e-5
    )
    assert by_params["hours"] == pytest.approx(by_params["gpu_hours"] / 8, rel=1e-6)
    assert "MFU applies to the reference GPU" in by_params["sources"]["hours"]
    # The same job stated with --hours gives the same energy and kg.
    by_hours = _json(cli("estimate", "--gpu", gpu, "--hours", repr(by_params["hours"]), *ESTIMATE))
    for field in ("hours", "energy_kwh", "operational_kgco2e", "embodied_kgco2e", "kgco2e"):
        assert by_params[field] == pytest.approx(by_hours[field], rel=1e-6), field


def test_estimate_params_ranks_gpus_like_suggest_gpu_hours(cli, rel):
    sizing = ["--params", "1B", "--tokens", "20B"]
    hours = {
        g: _json(cli("estimate", "--gpu", g, *sizing, *ESTIMATE))["gpu_hours"]
        for g in ("A100", "H100", "L4")
    }
    for g in ("H100", "L4"):
        by_hours = _top_gpu_hours(cli, ["--gpu-hours", "400"], "A100") / _top_gpu_hours(
            cli, ["--gpu-hours", "400"], g
        )
        assert hours["A100"] / hours[g] == pytest.approx(by_hours, rel=1e-6)
