"""Two paths, one answer (issue 18), on the shipped catalog.

- `carbonplan suggest --format json` and the planner called in-process rank the same options in
  the same order with the same figures.
- Two regions on the same grid zone give the same gCO2e/kWh, and for the same instance and job
  the same kg (or, where their PUEs differ, kg in the ratio of their PUEs).

A job stated in GPU-hours vs the same job in parameters and tokens on the reference GPU is
tests/test_throughput_agreement.py (test_a_flop_sized_job_equals_the_same_job_in_reference_
gpu_hours: every option, same order, same figures); it is not repeated here.
"""

from __future__ import annotations

import itertools
import json

import pytest

from recommender.catalog import load_catalog
from recommender.planner import Constraints, Job, Settings, plan

FIGURES = ("wall_hours", "gpu_hours", "energy_kwh", "gco2_per_kwh", "kgco2e", "cost_usd")
KEY = ("provider", "region", "instance_type", "market", "instances", "gpu")


def _json(result) -> dict:
    assert result.code == 0, result.err
    return json.loads(result.out)


@pytest.mark.parametrize(
    ("flags", "job", "settings", "constraints"),
    [
        (
            ["--gpu-hours", "400", "--provider", "aws,gcp", "--spot"],
            Job(400, "A100"),
            Settings(),
            Constraints(providers=("aws", "gcp"), markets=("spot",)),
        ),
        (
            ["--gpu-hours", "1200", "--objective", "cost", "--on-demand", "--deadline", "24"],
            Job(1200, "A100"),
            Settings(objective="cost"),
            Constraints(markets=("on-demand",), deadline_hours=24.0),
        ),
        (
            ["--gpu-hours", "50", "--ref-gpu", "H100", "--gpu", "L4,H100", "--max-kg", "5"],
            Job(50, "H100"),
            Settings(),
            Constraints(gpus=("L4", "H100"), max_kgco2e=5.0),
        ),
    ],
    ids=["spot-aws-gcp", "cost-deadline", "ref-h100-max-kg"],
)
def test_cli_json_equals_the_planner_in_process(cli, flags, job, settings, constraints):
    doc = _json(cli("suggest", *flags, "--top", "0", "--format", "json"))
    catalog = load_catalog()
    direct = plan(
        catalog.offers, catalog.regions, catalog.gpus, job, settings, constraints, top=None
    ).options
    printed = doc["options"]
    assert len(printed) == len(direct) > 0
    assert [tuple(o[k] for k in KEY) for o in printed] == [
        tuple(row[k] for k in KEY) for _, row in direct.iterrows()
    ]
    assert [o["rank"] for o in printed] == list(range(1, len(printed) + 1))
    for option, (_, row) in zip(printed, direct.iterrows(), strict=True):
        for field in FIGURES:  # JSON figures are rounded to 6 significant digits or so
            assert option[field] == pytest.approx(float(row[field]), rel=1e-5, abs=1e-6), (
                field,
                option,
            )


def _same_zone_pairs() -> list[tuple[str, str, str]]:
    """(provider, region a, region b) on one grid zone that share an instance type (from
    the catalog, not a list copied from it)."""
    catalog = load_catalog()
    regions, offers = catalog.regions, catalog.offers
    pairs = []
    for (provider, _zone), group in regions.groupby(["provider", "em_zone"]):
        for a, b in itertools.combinations(sorted(group["region"]), 2):
            types_a = set(
                offers.loc[(offers.provider == provider) & (offers.region == a)].instance_type
            )
            types_b = set(
                offers.loc[(offers.provider == provider) & (offers.region == b)].instance_type
            )
            if types_a & types_b:
                pairs.append((provider, a, b))
    return pairs


def test_there_are_same_zone_pairs_to_compare():
    pairs = _same_zone_pairs()
    assert pairs  # the next test would pass vacuously without them


@pytest.mark.parametrize("pair", _same_zone_pairs(), ids=lambda p: f"{p[0]}:{p[1]}+{p[2]}")
def test_two_regions_on_one_grid_zone_agree(cli, pair):
    provider, a, b = pair
    regions = load_catalog().regions.set_index(["provider", "region"])
    pue_a, pue_b = regions.loc[(provider, a), "pue"], regions.loc[(provider, b), "pue"]
    doc = _json(
        cli(
            "suggest",
            "--gpu-hours",
            "300",
            "--region",
            f"{provider}:{a}",
            "--region",
            f"{provider}:{b}",
            "--on-demand",
            "--all-sizes",
            "--top",
            "0",
            "--format",
            "json",
        )
    )
    by = {(o["region"], o["instance_type"], o["instances"]): o for o in doc["options"]}
    common = sorted({k[1:] for k in by if k[0] == a} & {k[1:] for k in by if k[0] == b})
    assert common
    for rest in common:
        x, y = by[(a, *rest)], by[(b, *rest)]
        assert x["gco2_per_kwh"] == y["gco2_per_kwh"]
        assert x["wall_hours"] == pytest.approx(y["wall_hours"], rel=1e-9)
        assert x["embodied_kgco2e"] == pytest.approx(y["embodied_kgco2e"], rel=1e-9)
        # the same IT energy; the facility's overhead is each region's PUE
        assert x["energy_kwh"] / pue_a == pytest.approx(y["energy_kwh"] / pue_b, rel=1e-5)
        assert x["operational_kgco2e"] / pue_a == pytest.approx(
            y["operational_kgco2e"] / pue_b, rel=1e-5
        )
        if pue_a == pue_b:
            assert x["kgco2e"] == pytest.approx(y["kgco2e"], rel=1e-6)
