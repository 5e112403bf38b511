"""`carbonplan size`, and the sizing flags of `suggest` and `estimate`, as users meet them."""

from __future__ import annotations

import json

import pytest

from recommender.catalog import load_catalog
from recommender.errors import ExitCode


def _json(result):
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_size_json_has_the_contract_fields_and_the_hand_computed_hours(cli):
    doc = _json(cli("size", "--params", "350M", "--tokens", "20B", "--format", "json"))
    assert {"flops", "mfu", "trials", "gpu_hours", "memory_gb_required"} <= set(doc)
    assert doc["flops"] == pytest.approx(4.2e19)  # 6 x 3.5e8 x 2e10
    assert doc["mfu"] == 0.4 and doc["trials"] == 1
    # The reference A100-80GB: 4.2e19 / (312e12 x 0.4 x 3600) = 93.4829 h. Every other GPU:
    # that x rel(A100-80GB) / rel(gpu), the factor --gpu-hours uses (not its peak FLOPS).
    assert doc["ref_gpu"] == "A100-80GB" and doc["ref_gpu_peak_tflops"] == 312
    assert doc["total_ref_gpu_hours"] == pytest.approx(93.4829, abs=1e-3)
    assert doc["gpu_hours"]["A100-80GB"] == pytest.approx(93.4829, abs=1e-3)
    rel = load_catalog().gpus.set_index("gpu")["rel_throughput"]
    for gpu, hours in doc["gpu_hours"].items():
        assert hours == pytest.approx(93.4829 / rel[gpu], rel=1e-5), gpu
    assert doc["gpu_hours"]["A100"] == pytest.approx(93.4829 / 0.9, rel=1e-5)  # same peak
    assert doc["gpu_hours"]["H100"] == pytest.approx(93.4829 / 2.0, rel=1e-5)  # not / 3.17
    assert doc["memory_gb_required"] == pytest.approx(5.6)  # 350M x 16 bytes
    # GPUs without a BF16/FP16 peak are sized too: only the reference GPU needs one.
    assert set(doc["gpu_hours"]) == set(rel.index)
    assert doc["gpu_hours"]["K80"] == pytest.approx(93.4829 / rel["K80"], rel=1e-5)
    assert "gpus_left_out" not in doc
    assert "rel_throughput" in doc["gpu_hours_basis"]
    assert doc["assumptions"]["mfu"]["source"].startswith("middle of published")
    assert "A100-80GB" in doc["assumptions"]["mfu"]["unit"]


def test_size_reproduces_bloom_at_its_implied_mfu(cli):
    # BLOOM-176B: 366B tokens in 1,082,990 A100-80GB GPU-hours -> MFU = 6ND / (h x 3600 x 312e12)
    implied = 6 * 176e9 * 366e9 / (1_082_990 * 3600 * 312e12)
    assert implied == pytest.approx(0.3177, abs=1e-4)
    doc = _json(
        cli(
            "size",
            "--params",
            "176B",
            "--tokens",
            "366B",
            "--mfu",
            "0.3177",
            "--gpu",
            "A100-80GB",
            "--format",
            "json",
        )
    )
    assert doc["gpu_hours"] == {"A100-80GB": pytest.approx(1_082_990, rel=2e-4)}
    # At the default 0.40 the same run would take proportionally fewer hours.
    default = _json(
        cli(
            "size", "--params", "176B", "--tokens", "366B", "--gpu", "a100 80gb", "--format", "json"
        )
    )
    ratio = default["gpu_hours"]["A100-80GB"] / doc["gpu_hours"]["A100-80GB"]
    assert ratio == pytest.approx(0.3177 / 0.40)
    # 16 bytes x 176B = 2,816 GB: at least 36 A100-80GBs just to hold the training state.
    assert doc["memory_gb_required"] == pytest.approx(2816)
    assert doc["gpus"][0]["min_gpus_for_memory"] == 36


def test_size_table_prints_the_derivation(cli):
    result = cli(
        "size",
        "--params",
        "200M",
        "--tokens",
        "4B",
        "--trials",
        "20",
        "--grid",
        "lr=4,batch=3",
        "--grid",
        "warmup=3",
        "--early-stop",
        "0.5",
    )
    assert result.code == 0, result.err
    out = result.out
    assert "6 x 200M x 4B" in out and "4.8e+18" in out
    assert "lr 4 x batch 3 x warmup 3 = 36 trials" in out
    assert "36 trials x 0.5 of a run each" in out
    assert "GPU-hours, grid (36 trials)" in out and "GPU-hours, random (20 trials)" in out
    assert "3.2 GB" in out  # 200M x 16 bytes
    assert "on the reference GPU (A100-80GB)" in out  # what the MFU applies to
    assert "A100-80GB GPU-hours x rel. throughput(A100-80GB) / rel. throughput(gpu)" in out
    assert "MFU applies to the reference GPU only" in out
    assert "K80" in out and "no BF16/FP16" not in out  # sized like every GPU


def test_size_shows_grid_and_random_side_by_side(cli):
    doc = _json(
        cli(
            "size",
            "--params",
            "200M",
            "--tokens",
            "4B",
            "--trials",
            "20",
            "--grid",
            "4,3,3",
            "--format",
            "json",
        )
    )
    assert doc["search"] == "grid" and doc["trials"] == 36 and doc["random_trials"] == 20
    grid, random = doc["campaigns"]
    assert (grid["search"], grid["trials"], random["search"], random["trials"]) == (
        "grid",
        36,
        "random",
        20,
    )
    assert grid["gpu_hours"]["A100"] / random["gpu_hours"]["A100"] == pytest.approx(36 / 20)
    assert doc["gpu_hours"] == grid["gpu_hours"]  # the planned search is the grid
    one = _json(cli("size", "--params", "200M", "--tokens", "4B", "--format", "json"))
    assert doc["gpu_hours"]["A100"] == pytest.approx(36 * one["gpu_hours"]["A100"], rel=1e-5)


def test_size_csv_has_one_row_per_gpu(cli):
    result = cli("size", "--params", "1.3B", "--tokens", "2e10", "--format", "csv", "--gpu", "H100")
    assert result.code == 0, result.err
    lines = result.out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("gpu,rel_throughput,throughput_basis,bf16_tflops,gpu_hours_per_run")


def test_finetune_and_peft_through_the_cli(cli):
    full = _json(
        cli(
            "size",
            "--params",
            "7B",
            "--finetune",
            "--examples",
            "50k",
            "--seq-len",
            "512",
            "--epochs",
            "3",
            "--format",
            "json",
        )
    )
    assert full["tokens_per_run"] == 50_000 * 512 * 3
    assert full["flops"] == pytest.approx(6 * 7e9 * 7.68e7)
    lora = _json(
        cli(
            "size",
            "--params",
            "7B",
            "--finetune",
            "--peft",
            "--tokens",
            "76.8M",
            "--format",
            "json",
        )
    )
    assert lora["flops"] == pytest.approx(full["flops"] * 4 / 6)
    assert lora["memory_gb_required"] < full["memory_gb_required"] / 5
    assert "peft_flops_factor" in lora["assumptions"]


def test_suggest_sized_from_the_model_carries_the_sizing_in_its_job(cli):
    doc = _json(
        cli(
            "suggest",
            "--params",
            "350M",
            "--tokens",
            "20B",
            "--trials",
            "4",
            "--format",
            "json",
            "--top",
            "3",
        )
    )
    job = doc["job"]
    assert job["ref_gpu"] == "A100-80GB" and job["trials"] == 4
    assert job["gpu_hours"] == pytest.approx(93.4829, abs=1e-3)
    assert job["total_ref_gpu_hours"] == pytest.approx(4 * 93.4829, abs=1e-2)
    assert job["flops"] == pytest.approx(4 * 4.2e19) and job["mfu"] == 0.4
    assert job["memory_gb_required"] == pytest.approx(5.6)
    assert "mfu" in doc["assumptions"]["defaults_used"]
    assert "rel_throughput" in job["gpu_hours_basis"]
    rel = load_catalog().gpus.set_index("gpu")["rel_throughput"]
    for option in doc["options"]:
        # GPU-hours = the campaign's A100-80GB hours / that GPU's relative throughput.
        expected = 4 * 93.4829 / rel[option["gpu"]]
        assert option["instances"] == 1
        assert option["gpu_hours"] == pytest.approx(expected, rel=1e-5), option["gpu"]


def test_suggest_drops_a_70b_full_finetune_from_80gb_gpus(cli):
    result = cli("suggest", "--params", "70B", "--finetune", "--tokens", "100M", "--gpu", "H100")
    assert result.code == ExitCode.NO_OPTION, result.err
    first = result.err.splitlines()[0]
    assert "memory-fit" in first and "1,120.0 GB" in first
    assert "largest instance left has 640 GB" in result.err  # 8 x 80 GB
    # Unfiltered, only instances whose GPUs together hold 1,120 GB remain.
    doc = _json(
        cli(
            "suggest",
            "--params",
            "70B",
            "--finetune",
            "--tokens",
            "100M",
            "--format",
            "json",
            "--top",
            "0",
        )
    )
    memory = {g["gpu"]: g["memory_gb"] for g in doc["data"]["gpus"]}
    assert doc["options"]
    for option in doc["options"]:
        assert memory[option["gpu"]] * option["gpus_per_instance"] >= 1120
    steps = {s["constraint"]: s for s in doc["summary"]["constraint_steps"]}
    assert steps["memory-fit"]["remaining"] < doc["summary"]["candidates"]
    assert "peak-flops" not in steps  # GPUs without a peak are planned like the rest


def test_estimate_derives_hours_from_flops(cli):
    doc = _json(
        cli(
            "estimate",
            "--gpu",
            "A100-80GB",
            "--count",
            "384",
            "--params",
            "176B",
            "--tokens",
            "366B",
            "--mfu",
            "0.3177",
            "--intensity",
            "57",
            "--gpu-power-w",
            "400",
            "--host-power-w",
            "0",
            "--pue",
            "1",
            "--format",
            "json",
        )
    )
    assert doc["gpu_hours"] == pytest.approx(1_082_990, rel=2e-4)
    assert doc["hours"] == pytest.approx(1_082_990 / 384, rel=2e-4)
    assert doc["operational_kgco2e"] == pytest.approx(24_692, rel=1e-3)  # BLOOM: 24.7 t
    assert "FLOPs" in doc["sources"]["hours"]


def test_estimate_multiplies_hours_by_trials(cli):
    base = ["estimate", "--gpu", "A100", "--intensity", "100", "--format", "json"]
    one = _json(cli(*base, "--hours", "10"))
    many = _json(
        cli(
            "estimate",
            "--gpu",
            "A100",
            "--hours",
            "10",
            "--trials",
            "8",
            "--early-stop",
            "0.25",
            "--intensity",
            "100",
            "--format",
            "json",
        )
    )
    assert many["hours"] == 20 and many["kgco2e"] == pytest.approx(2 * one["kgco2e"])


BAD = [
    (["suggest", "--gpu-hours", "400", "--params", "1B", "--tokens", "1B"], "both size the job"),
    (["suggest", "--params", "1B", "--tokens", "1B", "--ref-gpu", "H100"], "--ref-gpu"),
    (["suggest", "--params", "0", "--tokens", "1B"], "--params must be at least 1"),
    (["suggest", "--params", "1B", "--tokens", "20 B tokens"], "is not a count"),
    (["suggest", "--params", "1B", "--tokens", "0.1"], "--tokens must be at least 1"),
    (["suggest", "--params", "1B", "--tokens", "1B", "--mfu", "0"], "--mfu must be in (0, 1]"),
    (["suggest", "--params", "1B", "--tokens", "1B", "--mfu", "1.5"], "--mfu must be in"),
    (["suggest", "--gpu-hours", "10", "--mfu", "0.5"], "needs --params"),
    (["suggest", "--gpu-hours", "10", "--search", "grid"], "--search grid needs the grid"),
    (["suggest", "--gpu-hours", "10", "--early-stop", "0.5"], "--early-stop scales"),
    (["size", "--tokens", "1B"], "needs --params"),
    (["size"], "size needs the model"),
    (["size", "--params", "1B", "--examples", "5k", "--seq-len", "128"], "describes a fine-tune"),
    (["size", "--params", "1B", "--tokens", "1B", "--precision", "fp8"], "is not one of"),
    (["estimate", "--gpu", "A100", "--intensity", "50"], "Missing option '--hours'"),
    (
        [
            "estimate",
            "--gpu",
            "A100",
            "--hours",
            "5",
            "--params",
            "1B",
            "--tokens",
            "1B",
            "--intensity",
            "50",
        ],
        "both size the job",
    ),
    (
        ["estimate", "--gpu", "H100", "--params", "70B", "--tokens", "1B", "--intensity", "50"],
        "needs 1,120.0 GB",
    ),
]


@pytest.mark.parametrize("args,message", BAD)
def test_bad_sizing_input_is_one_clear_error(cli, args, message):
    result = cli(*args)
    result.assert_one_clear_error(message)


def test_estimate_memory_hint_names_the_gpu_count(cli):
    result = cli(
        "estimate", "--gpu", "H100", "--params", "70B", "--tokens", "1B", "--intensity", "50"
    )
    assert "--count 14 or more" in result.err  # 1,120 GB / 80 GB


def test_trials_multiply_a_gpu_hours_job_too(cli):
    base = ["suggest", "--gpu-hours", "10", "--format", "json", "--top", "0", "--gpu", "H100"]
    base += ["--all-sizes"]  # the best size may differ between 10 and 30 h; compare like for like
    one = _json(cli(*base))
    doc = _json(cli(*base, "--trials", "6", "--early-stop", "0.5"))
    assert doc["job"]["total_ref_gpu_hours"] == pytest.approx(30.0)
    assert doc["job"]["search"] == "random" and doc["job"]["early_stop"] == 0.5

    def key(o):
        return (o["provider"], o["region"], o["instance_type"], o["market"])

    single = {key(o): o["kgco2e"] for o in one["options"]}
    assert len(single) == len(doc["options"]) > 10
    for option in doc["options"]:
        assert option["kgco2e"] == pytest.approx(3 * single[key(option)], rel=1e-4, abs=1e-5)
    assert "flops" not in doc["job"]  # not sized from the model
