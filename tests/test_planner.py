"""The planner core on tiny inline catalogs: formulas, constraints, ranking, Pareto."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recommender.errors import ExitCode, NoOptionError
from recommender.planner import Constraints, Job, Settings, pareto_mask, plan
from recommender.planner.core import significant


def _row(p, provider: str, region: str, instance: str, market: str) -> pd.Series:
    o = p.options
    hit = o[
        (o["provider"] == provider)
        & (o["region"] == region)
        & (o["instance_type"] == instance)
        & (o["market"] == market)
    ]
    assert len(hit) == 1, hit
    return hit.iloc[0]


def test_formulas_match_a_hand_computation(tiny):
    s = Settings()
    result = plan(
        tiny.offers, tiny.regions, tiny.gpus, Job(400, "A100"), s, top=None, all_sizes=True
    )
    row = _row(result, "aws", "clean-1", "p4d.24xlarge", "on-demand")
    # 8 A100s at speed 1.0 -> 400 / 8 = 50 h
    assert row["wall_hours"] == pytest.approx(50.0)
    gpu_kw = 8 * 400 * 0.8 / 1000  # 2.56
    host_kw = (96 * 2.12 + 1152 * 0.392) / 1000  # 0.65510
    energy = (gpu_kw + host_kw) * 50 * 1.2
    assert row["energy_kwh"] == pytest.approx(energy)
    assert row["operational_kgco2e"] == pytest.approx(energy * 20 / 1000)
    assert row["embodied_kgco2e"] == pytest.approx(400 * 10.35 / 1000)
    assert row["kgco2e"] == pytest.approx(energy * 20 / 1000 + 4.14)
    assert row["cost_usd"] == pytest.approx(50 * 30.0)
    assert row["gpu_hours"] == pytest.approx(400)
    # A faster GPU needs fewer hours: H100 at 2.0 vs ref A100 at 0.9
    h100 = _row(result, "gcp", "mid-1", "a3-highgpu-8g", "on-demand")
    assert h100["wall_hours"] == pytest.approx(400 / (2.0 / 0.9 * 8))


def test_clean_region_beats_dirty_one_by_its_intensity_ratio(tiny):
    result = plan(tiny.offers, tiny.regions, tiny.gpus, Job(400), top=None)
    clean = _row(result, "aws", "clean-1", "p4d.24xlarge", "on-demand")
    dirty = _row(result, "aws", "dirty-1", "p4d.24xlarge", "on-demand")
    assert dirty["operational_kgco2e"] / clean["operational_kgco2e"] == pytest.approx(700 / 20)
    assert result.options.iloc[0]["region"] == "clean-1"


def test_spot_rows_exist_only_where_spot_is_priced(tiny):
    result = plan(tiny.offers, tiny.regions, tiny.gpus, Job(10), top=None, all_sizes=True)
    a2 = result.options[result.options["instance_type"] == "a2-highgpu-1g"]
    assert a2["market"].tolist() == ["on-demand"]
    assert len(result.options) == 2 * len(tiny.offers) - 1


def test_deadline_uses_fewest_instances_and_drops_the_rest(tiny):
    c = Constraints(deadline_hours=20, max_instances=4)
    result = plan(tiny.offers, tiny.regions, tiny.gpus, Job(400), constraints=c, top=None)
    p4d = _row(result, "aws", "clean-1", "p4d.24xlarge", "on-demand")
    # one instance takes 50 h; at 90% scaling, 3 instances take 50/(3*0.9) = 18.5 h
    assert p4d["instances"] == 3
    assert p4d["wall_hours"] == pytest.approx(50 / (3 * 0.9))
    assert (result.options["wall_hours"] <= 20 + 1e-9).all()
    assert "T4" not in set(result.options["gpu"])  # would need far more than 4 instances
    h100 = _row(result, "gcp", "mid-1", "a3-highgpu-8g", "on-demand")
    assert h100["instances"] == 2


def test_no_option_names_the_binding_constraint(tiny):
    c = Constraints(deadline_hours=1, max_instances=2)
    with pytest.raises(NoOptionError) as info:
        plan(tiny.offers, tiny.regions, tiny.gpus, Job(400), constraints=c)
    assert "--deadline" in info.value.message
    assert "raise --deadline or --max-instances" in info.value.hint
    assert info.value.exit_code == ExitCode.NO_OPTION
    with pytest.raises(NoOptionError) as info:
        plan(
            tiny.offers,
            tiny.regions,
            tiny.gpus,
            Job(400),
            constraints=Constraints(max_cost_usd=1.0),
        )
    assert "--max-cost" in info.value.message and "$" in info.value.hint


def test_constraints_filter(tiny):
    c = Constraints(providers=("gcp",), markets=("on-demand",))
    result = plan(tiny.offers, tiny.regions, tiny.gpus, Job(100), constraints=c, top=None)
    assert set(result.options["provider"]) == {"gcp"}
    assert set(result.options["market"]) == {"on-demand"}
    c = Constraints(min_gpu_memory_gb=80)
    result = plan(tiny.offers, tiny.regions, tiny.gpus, Job(100), constraints=c, top=None)
    assert set(result.options["gpu"]) == {"H100"}
    c = Constraints(exclude_regions=(("aws", "clean-1"),), gpus=("A100",))
    result = plan(tiny.offers, tiny.regions, tiny.gpus, Job(100), constraints=c, top=None)
    assert ("aws", "clean-1") not in set(
        zip(result.options["provider"], result.options["region"], strict=True)
    )
    assert set(result.options["gpu"]) == {"A100"}
    assert [s.name for s in result.steps] == ["exclude-region", "gpu"]


def test_objectives_order(tiny):
    for objective, column in [("cost", "cost_usd"), ("time", "wall_hours"), ("carbon", "kgco2e")]:
        result = plan(
            tiny.offers, tiny.regions, tiny.gpus, Job(100), Settings(objective=objective), top=None
        )
        values = significant(result.options[column]).tolist()
        assert values == sorted(values), objective
        assert result.options["rank"].tolist() == list(range(1, len(values) + 1))


def test_balanced_objective_prices_carbon(tiny):
    cheap_carbon = plan(
        tiny.offers,
        tiny.regions,
        tiny.gpus,
        Job(400),
        Settings(objective="balanced", carbon_price_usd_per_t=0.0),
        top=None,
    )
    cost_rank = plan(
        tiny.offers, tiny.regions, tiny.gpus, Job(400), Settings(objective="cost"), top=None
    )
    keys = ["provider", "region", "instance_type", "market"]
    assert cheap_carbon.options[keys].equals(cost_rank.options[keys])
    dear = plan(
        tiny.offers,
        tiny.regions,
        tiny.gpus,
        Job(400),
        Settings(objective="balanced", carbon_price_usd_per_t=1e6),
        top=None,
    )
    carbon = plan(tiny.offers, tiny.regions, tiny.gpus, Job(400), top=None)
    assert dear.options.iloc[0][keys].tolist() == carbon.options.iloc[0][keys].tolist()


def test_other_sizes_of_the_same_gpu_are_hidden_unless_asked(tiny):
    shown = plan(tiny.offers, tiny.regions, tiny.gpus, Job(10), top=None)
    assert "g4dn.2xlarge" not in set(shown.options["instance_type"])
    assert shown.hidden_sizes == 2  # on-demand and spot
    everything = plan(tiny.offers, tiny.regions, tiny.gpus, Job(10), top=None, all_sizes=True)
    assert "g4dn.2xlarge" in set(everything.options["instance_type"])


def test_baseline_savings_match_the_same_instance_type(tiny):
    result = plan(
        tiny.offers, tiny.regions, tiny.gpus, Job(400), baseline=("aws", "dirty-1"), top=None
    )
    clean = _row(result, "aws", "clean-1", "p4d.24xlarge", "spot")
    dirty = _row(result, "aws", "dirty-1", "p4d.24xlarge", "spot")
    assert clean["baseline_instance_type"] == "p4d.24xlarge"
    assert clean["saves_kgco2e"] == pytest.approx(dirty["kgco2e"] - clean["kgco2e"])
    assert clean["saves_usd"] == pytest.approx(dirty["cost_usd"] - clean["cost_usd"])
    # An A100 x1 offer in gcp has no same-size counterpart in the baseline region
    gcp = _row(result, "gcp", "mid-1", "a2-highgpu-1g", "on-demand")
    assert math.isnan(gcp["saves_kgco2e"])


def test_top_limits_rows_but_not_pareto(tiny):
    full = plan(tiny.offers, tiny.regions, tiny.gpus, Job(100), top=None)
    top2 = plan(tiny.offers, tiny.regions, tiny.gpus, Job(100), top=2)
    assert len(top2.options) == 2
    pd.testing.assert_frame_equal(top2.options, full.options.head(2))


def test_inputs_are_not_mutated(tiny):
    before = tiny.offers.copy()
    plan(tiny.offers, tiny.regions, tiny.gpus, Job(100), baseline=("aws", "dirty-1"))
    pd.testing.assert_frame_equal(tiny.offers, before)


# --- properties -------------------------------------------------------------------------------

points = st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=1, max_size=40)


@given(points)
def test_pareto_matches_brute_force(pts):
    cost = pd.Series([float(c) for c, _ in pts])
    kg = pd.Series([float(k) for _, k in pts])
    mask = pareto_mask(cost, kg)
    for i, (c, k) in enumerate(pts):
        dominated = any((c2 <= c and k2 <= k) and (c2 < c or k2 < k) for c2, k2 in pts)
        assert bool(mask.iloc[i]) == (not dominated)


prices = st.floats(min_value=0.1, max_value=100, allow_nan=False)
intensities = st.floats(min_value=0, max_value=900, allow_nan=False)


# The fixture is never mutated (test_inputs_are_not_mutated), so sharing it is safe.
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.permutations(range(6)),
    prices,
    intensities,
    st.sampled_from(["carbon", "cost", "time", "balanced"]),
)
def test_ranking_ignores_row_order_and_outputs_are_sane(tiny, order, price, intensity, objective):
    offers = tiny.offers.assign(usd_per_hour=tiny.offers["usd_per_hour"] * (1 + price / 100)).iloc[
        list(order)
    ]
    figures = [intensity, 700.0, 300.0]
    regions = tiny.regions.assign(
        gco2_per_kwh=figures, gco2_per_kwh_low=figures, gco2_per_kwh_high=figures
    )
    keys = ["provider", "region", "instance_type", "market"]
    a = plan(offers, regions, tiny.gpus, Job(100), Settings(objective=objective), top=None)
    b = plan(
        offers.sort_index(), regions, tiny.gpus, Job(100), Settings(objective=objective), top=None
    )
    assert a.options[keys].values.tolist() == b.options[keys].values.tolist()
    numbers = a.options[["wall_hours", "energy_kwh", "kgco2e", "cost_usd"]]
    assert (numbers >= 0).all().all() and numbers.notna().all().all()
    if objective == "cost":  # cheapest first, to the ranking's 3 significant figures
        cheapest = significant(a.options["cost_usd"])
        assert cheapest[0] == cheapest.min()
    # the frontier is judged at the ranking's precision (3 significant figures)
    cost, kg = significant(a.options["cost_usd"]), significant(a.options["kgco2e"])
    for i in np.flatnonzero(a.options["pareto"].to_numpy()):
        better = (cost <= cost[i]) & (kg <= kg[i]) & ((cost < cost[i]) | (kg < kg[i]))
        assert not better.any()


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.sampled_from(["carbon", "cost", "time", "balanced"]), st.permutations(range(6)))
def test_one_row_per_region_gpu_market_is_its_best(tiny, objective, order):
    offers = tiny.offers.iloc[list(order)]
    s = Settings(objective=objective)
    shown = plan(offers, tiny.regions, tiny.gpus, Job(50), s, top=None).options
    everything = plan(offers, tiny.regions, tiny.gpus, Job(50), s, top=None, all_sizes=True)
    keys = ["provider", "region", "gpu", "market"]
    assert not shown.duplicated(keys).any()
    full = everything.options
    for _, row in shown.iterrows():
        group = full[(full[keys] == row[keys]).all(axis=1)]
        assert group.iloc[0]["instance_type"] == row["instance_type"]
    assert set(map(tuple, full[keys].values.tolist())) == set(
        map(tuple, shown[keys].values.tolist())
    )
    assert shown["rank"].tolist() == list(range(1, len(shown) + 1))


def test_significant_rounding():
    values = significant(pd.Series([0.0, 4.1449, 4.1351, 12345.0, 0.0012345]))
    assert values.tolist() == [0.0, 4.14, 4.14, 12300.0, 0.00123]


def test_near_ties_are_broken_by_the_next_criterion(tiny):
    # Half the GPUs, 1 GiB less memory and a hair cheaper: strictly lower kg and $ than the
    # full size, but equal to 3 significant figures, so the twice-as-fast size ranks first.
    half = tiny.offers.iloc[0].to_dict() | {
        "instance_type": "p4d.half",
        "gpu_count": 4.0,
        "vcpus": 48.0,
        "memory_gib": 575.0,
        "usd_per_hour": 14.999,
        "spot_usd_per_hour": 5.999,
    }
    offers = pd.concat([tiny.offers, pd.DataFrame([half])], ignore_index=True)
    result = plan(offers, tiny.regions, tiny.gpus, Job(400), top=None, all_sizes=True)
    clean = result.options[result.options["region"] == "clean-1"]
    by_type = clean.set_index(["instance_type", "market"])
    assert (
        by_type.loc[("p4d.half", "spot"), "kgco2e"]
        < by_type.loc[("p4d.24xlarge", "spot"), "kgco2e"]
    )
    assert clean.iloc[0]["instance_type"] == "p4d.24xlarge"


def test_intensity_hook_replaces_figures_per_row_and_reranks(tiny):
    seen_wall = []

    def live(frame: pd.DataFrame) -> pd.DataFrame:
        seen_wall.append(frame["wall_hours"].notna().all())
        flipped = frame["region"].map({"clean-1": 900.0, "dirty-1": 5.0, "mid-1": 300.0})
        return pd.DataFrame(
            {"gco2_per_kwh": flipped, "intensity_source": "test-live", "intensity_kind": "live"},
            index=frame.index,
        )

    static = plan(tiny.offers, tiny.regions, tiny.gpus, Job(400), top=None)
    hooked = plan(tiny.offers, tiny.regions, tiny.gpus, Job(400), top=None, intensity_fn=live)
    assert seen_wall == [True]
    assert static.options.iloc[0]["region"] == "clean-1"
    assert hooked.options.iloc[0]["region"] == "dirty-1"
    assert set(hooked.options["intensity_kind"]) == {"live"}
    row = _row(hooked, "aws", "dirty-1", "p4d.24xlarge", "spot")
    assert row["operational_kgco2e"] == pytest.approx(row["energy_kwh"] * 5.0 / 1000)


def _fractional_catalog() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """One region: a 1/8 L4 (3 GB share), a 1/2 L4 (12 GB), one L4 (24 GB), 2x L4 (48 GB)."""
    from conftest import gpu_row, offer_row, region_row

    regions = pd.DataFrame([region_row("aws", "r-1", 100.0)])
    gpus = pd.DataFrame([gpu_row("A100", 400, 40, 1.0), gpu_row("L4", 72, 24, 0.25)])
    offers = pd.DataFrame(
        [
            offer_row("aws", "r-1", "l4.eighth", "L4", 0.125, 2, 8, 0.1),
            offer_row("aws", "r-1", "l4.half", "L4", 0.5, 8, 32, 0.4),
            offer_row("aws", "r-1", "l4.one", "L4", 1, 16, 64, 0.8),
            offer_row("aws", "r-1", "l4.two", "L4", 2, 32, 128, 1.6),
        ]
    )
    return offers, regions, gpus


@pytest.mark.parametrize(
    ("min_gb", "kept"),
    [
        (2, {"l4.eighth", "l4.half", "l4.one", "l4.two"}),
        (4, {"l4.half", "l4.one", "l4.two"}),  # 24 GB x 1/8 = 3 GB < 4
        (16, {"l4.one", "l4.two"}),  # 24 GB x 1/2 = 12 GB < 16
        (24, {"l4.one", "l4.two"}),  # per GPU: two GPUs do not make 48 GB "per GPU"
    ],
)
def test_min_gpu_memory_counts_a_fractional_gpu_share(min_gb, kept):
    offers, regions, gpus = _fractional_catalog()
    c = Constraints(min_gpu_memory_gb=min_gb)
    result = plan(offers, regions, gpus, Job(400), constraints=c, top=None, all_sizes=True)
    assert set(result.options["instance_type"]) == kept


def test_min_gpu_memory_above_every_share_names_the_flag():
    offers, regions, gpus = _fractional_catalog()
    with pytest.raises(NoOptionError, match="min-gpu-memory"):
        plan(offers, regions, gpus, Job(400), constraints=Constraints(min_gpu_memory_gb=25))


def test_memory_fit_uses_the_memory_an_instance_gets():
    offers, regions, gpus = _fractional_catalog()
    job = Job(400, memory_gb_required=10)  # 1/8 L4 holds 3 GB, 1/2 L4 12 GB
    result = plan(offers, regions, gpus, job, top=None, all_sizes=True)
    assert set(result.options["instance_type"]) == {"l4.half", "l4.one", "l4.two"}
    job = Job(400, memory_gb_required=30)  # only 2x L4 (48 GB) holds it
    result = plan(offers, regions, gpus, job, top=None, all_sizes=True)
    assert set(result.options["instance_type"]) == {"l4.two"}
