"""Fractional GPUs on the shipped data: a GPU share counts only the memory it gets.

AWS g6f/gr6f (1/8 L4 and up), Azure NVads A10 v5 (1/6, 1/3, 1/2 A10) and NCv6 (1/4, 1/2 RTX
PRO 6000) sell part of one GPU; `gpu_count` < 1 in offers.csv. `--min-gpu-memory` is per GPU, so
such an instance offers `memory_gb x gpu_count` of it.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from recommender.catalog import load_catalog


def _share_gb(options: list[dict], memory: pd.Series) -> list[float]:
    return [float(memory[o["gpu"]]) * min(float(o["gpus_per_instance"]), 1.0) for o in options]


def test_the_shipped_data_has_fractional_shares_below_16_gb():
    """Keeps the CLI test below meaningful: there is something for the flag to remove."""
    catalog = load_catalog()
    memory = catalog.gpus.set_index("gpu")["memory_gb"]
    offers = catalog.offers
    share = offers["gpu"].map(memory) * offers["gpu_count"].clip(upper=1.0)
    small = offers[share < 16]
    assert {"L4", "A10"} <= set(small.loc[small["gpu_count"] < 1, "gpu"])


@pytest.mark.parametrize("extra", [[], ["--all-sizes"]])
def test_min_gpu_memory_16_leaves_no_share_under_16_gb(cli, extra):
    args = ["suggest", "--gpu-hours", "400", "--min-gpu-memory", "16", "--format", "json"]
    result = cli(*args, "--top", "0", *extra)
    assert result.code == 0, result.err
    options = json.loads(result.out)["options"]
    memory = load_catalog().gpus.set_index("gpu")["memory_gb"]
    shares = _share_gb(options, memory)
    assert options and min(shares) >= 16, sorted(
        {
            (o["instance_type"], o["gpu"], o["gpus_per_instance"])
            for o, s in zip(options, shares, strict=True)
            if s < 16
        }
    )
    if extra:  # every size is listed: whole-GPU L4/A10 instances (24 GB) are still there
        whole = {o["gpu"] for o in options if o["gpus_per_instance"] >= 1}
        assert {"L4", "A10"} <= whole


def test_a_quarter_rtx_pro_6000_passes_16_gb_but_not_32(cli):
    def sizes(min_gb: str) -> set[float]:
        result = cli(
            "suggest",
            "--gpu-hours",
            "400",
            "--gpu",
            "RTX-PRO-6000",
            "--min-gpu-memory",
            min_gb,
            "--all-sizes",
            "--format",
            "json",
            "--top",
            "0",
        )
        assert result.code == 0, result.err
        return {o["gpus_per_instance"] for o in json.loads(result.out)["options"]}

    assert {0.25, 0.5, 1, 2} <= sizes("16")  # 1/4 of 96 GB = 24 GB
    assert 0.25 not in sizes("32") and {0.5, 1, 2} <= sizes("32")
