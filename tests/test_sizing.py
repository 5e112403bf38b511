"""Job sizing arithmetic (6ND, fine-tunes, PEFT, MoE, memory, trials) and how the planner uses
it, checked against hand computations and published training runs."""

from __future__ import annotations

import pandas as pd
import pytest

from recommender.errors import BadInputError, NoOptionError
from recommender.planner import Job, plan
from recommender.planner.sizing import (
    MFU,
    MFU_REF_GPU,
    Campaign,
    Model,
    Search,
    from_flags,
    grid_trials,
    job_for,
    memory,
    parse_count,
)

A100_PEAK = 312.0  # dense BF16 TFLOPS, NVIDIA A100 datasheet


@pytest.mark.parametrize(
    "text,value",
    [
        ("350M", 350e6),
        ("1.3B", 1.3e9),
        ("2e9", 2e9),
        ("20B", 20e9),
        ("50k", 50e3),
        ("1.5T", 1.5e12),
        ("7b", 7e9),
        ("1000", 1000.0),
        (".5M", 5e5),
    ],
)
def test_counts_accept_suffixes_and_exponents(text, value):
    assert parse_count("--tokens", text) == pytest.approx(value)


@pytest.mark.parametrize(
    "text,message",
    [
        ("20 B tokens", "is not a count"),
        ("20 B", "is not a count"),
        ("20BB", "is not a count"),
        ("twenty", "is not a count"),
        ("-5B", "is not a count"),
        ("0", "must be at least 1"),
        ("0.5", "must be at least 1"),
        ("1e30", "implausibly large"),
    ],
)
def test_counts_reject_words_spaces_and_impossible_sizes(text, message):
    with pytest.raises(BadInputError, match=message):
        parse_count("--tokens", text)


def test_6nd_matches_a_hand_computation():
    # 350M parameters on 20B tokens: 6 x 3.5e8 x 2e10 = 4.2e19 FLOPs. An A100 at 40% MFU does
    # 312e12 x 0.4 = 1.248e14 FLOP/s = 4.4928e17 FLOP per hour -> 93.4829 GPU-hours.
    model = Model(params=350e6, tokens=20e9)
    assert model.flops == pytest.approx(4.2e19)
    assert model.gpu_hours(A100_PEAK) == pytest.approx(4.2e19 / 4.4928e17)
    assert model.gpu_hours(A100_PEAK) == pytest.approx(93.4829, abs=1e-4)
    # Twice the peak halves the hours; three runs triple them.
    assert model.gpu_hours(2 * A100_PEAK) == pytest.approx(93.4829 / 2, abs=1e-4)
    assert model.gpu_hours(A100_PEAK, runs=3) == pytest.approx(3 * 93.4829, abs=1e-3)


# Published runs where both the size and the GPU-hours are known (A100, 312 TF dense BF16):
# BLOOM-176B: 366B tokens, 1,082,990 A100-80GB GPU-hours (Luccioni et al. 2023);
# Llama 2 7B and 70B: 2T tokens, 184,320 and 1,720,320 A100-80GB GPU-hours (Touvron et al.
# 2023, table 2).
PUBLISHED = [
    ("BLOOM-176B", 176e9, 366e9, 1_082_990, 0.3177),
    ("Llama-2-7B", 7e9, 2e12, 184_320, 0.4057),
    ("Llama-2-70B", 70e9, 2e12, 1_720_320, 0.4347),
]


@pytest.mark.parametrize("name,params,tokens,hours,implied", PUBLISHED)
def test_published_runs_imply_an_mfu_near_the_default(name, params, tokens, hours, implied):
    mfu = 6 * params * tokens / (hours * 3600 * A100_PEAK * 1e12)
    assert mfu == pytest.approx(implied, abs=5e-5), name
    # The default sits inside the published range, so it is a middle figure, not an outlier.
    assert 0.3 < mfu < 0.45 and abs(mfu - MFU.value) < 0.1
    # And at that MFU the model reproduces the published hours.
    reproduced = Model(params=params, tokens=tokens, mfu=implied).gpu_hours(A100_PEAK)
    assert reproduced == pytest.approx(hours, rel=2e-4)


def test_finetune_tokens_are_examples_x_seq_len_x_epochs():
    campaign = from_flags(params="7B", finetune=True, examples="50k", seq_len=512, epochs=3)
    assert campaign.model is not None
    assert campaign.model.tokens == 50_000 * 512 * 3
    assert campaign.model.flops == pytest.approx(6 * 7e9 * 50_000 * 512 * 3)
    one_epoch = from_flags(params="7B", finetune=True, examples="50k", seq_len=512)
    assert one_epoch.model is not None and one_epoch.model.tokens == 50_000 * 512


def test_peft_saves_the_weight_gradient_third_of_the_flops_and_most_memory():
    full = Model(params=7e9, tokens=1e9, finetune=True)
    lora = Model(params=7e9, tokens=1e9, finetune=True, peft=True)
    assert lora.flops == pytest.approx(full.flops * 4 / 6)
    # Full: 16 bytes/param x 7B = 112 GB. LoRA: 2-byte frozen weights (14 GB) + 1% adapters
    # at 16 bytes (1.12 GB).
    assert full.memory.gb_required == pytest.approx(112.0)
    assert lora.memory.gb_required == pytest.approx(14.0 + 1.12)


def test_moe_flops_use_active_parameters_and_memory_uses_all():
    moe = Model(params=47e9, active_params=13e9, tokens=1e9)
    dense = Model(params=47e9, tokens=1e9)
    assert moe.flops == pytest.approx(6 * 13e9 * 1e9)
    assert moe.flops < dense.flops
    assert moe.memory.gb_required == dense.memory.gb_required == pytest.approx(47 * 16)


@pytest.mark.parametrize(
    "precision,optimizer,bytes_per_param",
    [
        ("mixed", "adam", 16),  # ZeRO: 2 + 2 + (4 master + 4 m + 4 v)
        ("fp32", "adam", 16),  # 4 + 4 + 8
        ("bf16", "adam", 8),  # 2 + 2 + 4
        ("mixed", "sgd", 12),  # 2 + 2 + (4 master + 4 momentum)
        ("fp32", "sgd", 12),
        ("bf16", "sgd", 6),
    ],
)
def test_bytes_per_parameter(precision, optimizer, bytes_per_param):
    m = memory(1e9, precision, optimizer)
    assert m.bytes_per_trainable_param == bytes_per_param
    assert m.gb_required == pytest.approx(bytes_per_param)  # 1e9 params -> GB = bytes/param


def test_grid_is_the_product_of_levels_and_random_is_the_users_n():
    assert grid_trials([4, 3, 3]) == 36
    grid = from_flags(grid=["lr=4", "batch=3", "warmup=3"]).search
    assert (grid.kind, grid.trials, grid.runs) == ("grid", 36, 36)
    random = from_flags(trials=20).search
    assert (random.kind, random.trials) == ("random", 20)
    both = from_flags(trials=20, grid=["4", "3", "3"], early_stop=0.5).search
    assert both.kind == "grid" and both.trials == 36 and both.runs == 18
    assert both.alternatives() == [("grid", 36), ("random", 20)]
    picked = from_flags(trials=20, grid=["4", "3", "3"], search="random").search
    assert (picked.kind, picked.trials, picked.runs) == ("random", 20, 20)
    single = from_flags().search
    assert (single.kind, single.trials, single.runs) == ("single", 1, 1)


@pytest.mark.parametrize(
    "flags,message",
    [
        ({"params": "0", "tokens": "1B"}, "--params must be at least 1"),
        ({"params": "1B", "tokens": "0.5"}, "--tokens must be at least 1"),
        ({"params": "1B", "tokens": "1B", "mfu": 0.0}, r"--mfu must be in \(0, 1\]"),
        ({"params": "1B", "tokens": "1B", "mfu": 1.01}, r"--mfu must be in \(0, 1\]"),
        ({"params": "1B", "tokens": "1B", "mfu": float("nan")}, r"--mfu must be in"),
        ({"params": "1B"}, "needs the number of training tokens"),
        ({"tokens": "1B"}, "--tokens describes a job sized from the model"),
        ({"params": "1B", "tokens": "1B", "active_params": "2B"}, "exceeds --params"),
        ({"params": "1B", "examples": "5k", "seq_len": 512}, "describes a fine-tune"),
        ({"params": "1B", "tokens": "1B", "peft": True}, "--peft adapts a pre-trained"),
        ({"params": "1B", "finetune": True}, "--finetune needs the data size"),
        ({"params": "1B", "finetune": True, "examples": "5k"}, "--finetune needs the data"),
        (
            {"params": "1B", "finetune": True, "tokens": "1B", "examples": "5k"},
            "both size the data",
        ),
        ({"search": "grid"}, "--search grid needs the grid"),
        ({"search": "random"}, "--search random needs --trials"),
        ({"early_stop": 0.5}, "--early-stop scales the trials"),
        ({"trials": 10, "early_stop": 0.0}, r"--early-stop must be in \(0, 1\]"),
        ({"trials": 0}, "--trials must be between"),
        ({"grid": ["lr=0"]}, "is not a dimension"),
        ({"grid": ["lr=x"]}, "is not a dimension"),
        ({"grid": ["lr=2", "lr=3"]}, "twice"),
        ({"grid": ["1000", "1000", "1000"]}, "combinations"),
    ],
)
def test_impossible_or_contradictory_sizing_is_refused(flags, message):
    with pytest.raises(BadInputError, match=message):
        from_flags(**flags)


# --- the planner with a model-sized job -------------------------------------------------


def _with_peaks(tiny) -> pd.DataFrame:
    peaks = {"A100": 312.0, "A100-80GB": 312.0, "H100": 989.0, "T4": None}
    return tiny.gpus.assign(bf16_tflops=tiny.gpus["gpu"].map(peaks))


def test_planner_scales_a_flop_sized_job_by_relative_throughput(tiny):
    gpus = _with_peaks(tiny)
    campaign = from_flags(params="350M", tokens="20B")
    job = job_for(campaign, None, "A100", gpus)
    # FLOPs -> hours on the reference A100-80GB at its peak x MFU: 4.2e19 / 4.4928e17.
    assert MFU_REF_GPU == "A100-80GB" and job.ref_gpu == MFU_REF_GPU
    assert job.gpu_hours == pytest.approx(93.4829, abs=1e-4)
    assert job.speed_column == "rel_throughput"
    result = plan(tiny.offers, tiny.regions, gpus, job, top=None, all_sizes=True)
    by_type = result.options.drop_duplicates("instance_type").set_index("instance_type")
    # Then every GPU scales by rel_throughput / rel_throughput(A100-80GB = 1.0), never by its
    # peak: 8 x H100 (2.0) take 93.48 / 16 h, not 93.48 x 312 / (8 x 989) h; 1 x A100 (0.9).
    assert by_type.loc["a3-highgpu-8g", "wall_hours"] == pytest.approx(93.4829 / 16, abs=1e-4)
    assert by_type.loc["a3-highgpu-8g", "gpu_hours"] == pytest.approx(93.4829 / 2, abs=1e-4)
    assert by_type.loc["a2-highgpu-1g", "wall_hours"] == pytest.approx(93.4829 / 0.9, abs=1e-4)
    # T4 has no peak figure in this catalog and is planned all the same (rel 0.12).
    assert by_type.loc["g4dn.xlarge", "wall_hours"] == pytest.approx(93.4829 / 0.12, abs=1e-3)
    assert not any(s.name == "peak-flops" for s in result.steps)
    assert result.candidates == len(tiny.offers) + tiny.offers["spot_usd_per_hour"].notna().sum()


def test_a_flop_sized_job_equals_the_same_job_in_reference_gpu_hours(tiny):
    gpus = _with_peaks(tiny)
    sized = job_for(from_flags(params="350M", tokens="20B"), None, "A100", gpus)
    given = Job(gpu_hours=sized.gpu_hours, ref_gpu=sized.ref_gpu)
    a = plan(tiny.offers, tiny.regions, gpus, sized, top=None, all_sizes=True).options
    b = plan(tiny.offers, tiny.regions, gpus, given, top=None, all_sizes=True).options
    key = ["provider", "region", "instance_type", "market", "instances"]
    assert a[key].values.tolist() == b[key].values.tolist()  # the same ranking
    for column in ("wall_hours", "gpu_hours", "energy_kwh", "kgco2e", "cost_usd"):
        assert a[column].to_numpy() == pytest.approx(b[column].to_numpy(), rel=1e-12), column


def test_only_the_reference_gpu_needs_a_peak(tiny):
    no_ref_peak = _with_peaks(tiny).assign(
        bf16_tflops=lambda g: g["bf16_tflops"].where(g["gpu"] != MFU_REF_GPU)
    )
    with pytest.raises(BadInputError, match="A100-80GB has no BF16 peak"):
        job_for(from_flags(params="350M", tokens="20B"), None, "A100", no_ref_peak)
    without_ref = tiny.gpus[tiny.gpus["gpu"] != MFU_REF_GPU]
    with pytest.raises(BadInputError, match=r"not in gpus\.csv"):
        job_for(from_flags(params="350M", tokens="20B"), None, "A100", without_ref)


def test_trials_and_early_stopping_scale_the_planned_work(tiny):
    gpus = _with_peaks(tiny)
    one = job_for(from_flags(params="350M", tokens="20B"), None, "A100", gpus)
    search = job_for(
        from_flags(params="350M", tokens="20B", trials=20, early_stop=0.5), None, "A100", gpus
    )
    assert search.total_ref_gpu_hours == pytest.approx(10 * one.total_ref_gpu_hours)
    a = plan(tiny.offers, tiny.regions, gpus, one, top=None, all_sizes=True).options
    b = plan(tiny.offers, tiny.regions, gpus, search, top=None, all_sizes=True).options
    key = ["provider", "region", "instance_type", "market"]
    merged = a.merge(b, on=key, suffixes=("_one", "_search"))
    assert len(merged) == len(a)
    assert (merged["kgco2e_search"] / merged["kgco2e_one"]).to_numpy() == pytest.approx(10.0)


def test_gpu_hours_jobs_still_use_relative_throughput(tiny):
    job = Job(gpu_hours=100, ref_gpu="A100-80GB")
    result = plan(tiny.offers, tiny.regions, tiny.gpus, job, top=None, all_sizes=True)
    t4 = result.options[result.options["instance_type"] == "g4dn.xlarge"].iloc[0]
    assert t4["wall_hours"] == pytest.approx(100 / 0.12)  # rel_throughput 0.12, no peak needed
    assert not any(s.name == "peak-flops" for s in result.steps)


def test_memory_check_drops_a_70b_full_finetune_from_single_80gb_gpus(tiny):
    gpus = _with_peaks(tiny)
    # Only one-GPU instances: 1 x A100 40GB and 1 x A100 80GB.
    offers = tiny.offers[tiny.offers["gpu_count"] == 1].copy()
    offers.loc[offers["instance_type"] == "a2-highgpu-1g", "gpu"] = "A100-80GB"
    campaign = from_flags(params="70B", finetune=True, tokens="100M")
    job = job_for(campaign, None, "A100", gpus)
    assert job.memory_gb_required == pytest.approx(70 * 16)  # 1,120 GB of training state
    with pytest.raises(NoOptionError, match="memory-fit") as err:
        plan(offers, tiny.regions, gpus, job)
    assert "largest instance left has 80 GB" in err.value.hint
    # With LoRA the frozen weights alone (140 GB) still need two 80 GB GPUs: still no option.
    lora_campaign = from_flags(params="70B", finetune=True, tokens="100M", peft=True)
    lora = job_for(lora_campaign, None, "A100", gpus)
    assert lora.memory_gb_required == pytest.approx(140 + 0.7 * 16)
    with pytest.raises(NoOptionError, match="memory-fit"):
        plan(offers, tiny.regions, gpus, lora)
    # A 7B LoRA (14 GB + 1.1 GB) fits on one 80 GB GPU.
    small_campaign = from_flags(params="7B", finetune=True, tokens="100M", peft=True)
    small = job_for(small_campaign, None, "A100", gpus)
    kept = plan(offers, tiny.regions, gpus, small, top=None, all_sizes=True)
    step = next(s for s in kept.steps if s.name == "memory-fit")
    assert step.remaining == len(kept.options) > 0
    # 15.1 GB fits one 80 GB A100 and one 16 GB T4 (which needs no peak figure to be planned).
    assert set(kept.options["gpu"]) == {"A100-80GB", "T4"}


def test_memory_fit_keeps_only_instances_whose_gpus_hold_the_model(tiny):
    gpus = _with_peaks(tiny)
    job = job_for(from_flags(params="30B", tokens="1B"), None, "A100", gpus)  # 480 GB
    result = plan(tiny.offers, tiny.regions, gpus, job, top=None, all_sizes=True)
    held = result.options["gpu_memory_gb"] * result.options["gpu_count"]
    assert (held >= 480).all()
    assert set(result.options["instance_type"]) == {"a3-highgpu-8g"}  # 8 x 80 GB = 640 GB


def test_campaign_gpu_hours_by_gpu_scale_the_reference_hours_by_relative_throughput(tiny):
    gpus = _with_peaks(tiny)
    campaign = Campaign(Model(params=350e6, tokens=20e9), Search("random", 20))
    hours = campaign.gpu_hours_by_gpu(gpus)
    assert campaign.ref_gpu_hours(gpus) == pytest.approx(20 * 93.4829, abs=1e-2)
    assert hours["A100-80GB"] == pytest.approx(20 * 93.4829, abs=1e-2)
    assert hours["A100"] == pytest.approx(20 * 93.4829 / 0.9, abs=1e-2)  # same peak, rel 0.9
    assert hours["H100"] == pytest.approx(20 * 93.4829 / 2.0, abs=1e-2)
    assert hours["T4"] == pytest.approx(20 * 93.4829 / 0.12, abs=1e-1)  # no peak needed
    assert not hours.isna().any()
    # A filtered selection still takes its reference from the whole catalog.
    only_h100 = gpus[gpus["gpu"] == "H100"]
    assert campaign.gpu_hours_by_gpu(only_h100, catalog=gpus)["H100"] == hours["H100"]
    assert campaign.min_gpus_for_memory(gpus)["A100"] == 1
