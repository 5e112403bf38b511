"""Low/high ranges of hours, energy and kg CO2e (recommender/planner/ranges.py), and how the
outputs show them: JSON fields, the table's kg cell and its 'not clearly different' note."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from conftest import gpu_row, offer_row, region_row
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from recommender import assumptions as A
from recommender.catalog import Catalog
from recommender.errors import DataError
from recommender.planner import Constraints, Job, Settings, plan
from recommender.planner.ranges import (
    Spread,
    add_ranges,
    carbon_ties,
    not_clearly_different,
    power_spread,
    ranks_text,
    reference_spread,
)
from recommender.reports.views import plan_document, range_text, render_plan

# --- the arithmetic on tiny inline frames ------------------------------------------------


def _gpu(gpu: str, tdp: float, rel: float, low: float, high: float, basis: str = "measured"):
    row = gpu_row(gpu, tdp, 80, rel)
    row.update(rel_throughput_low=low, rel_throughput_high=high, throughput_basis=basis)
    return row


def _region(provider: str, region: str, g: float, low: float, high: float, zone: str = "XX"):
    row = region_row(provider, region, g)
    row.update(gco2_per_kwh_low=low, gco2_per_kwh_high=high, em_zone=zone)
    return row


def _options(**overrides) -> pd.DataFrame:
    """One option per row, as the planner hands them to add_ranges (after emissions)."""
    base = {
        "provider": "aws",
        "region": "r1",
        "em_zone": "XX",
        "gpu": "B",
        "rel_throughput": 1.0,
        "rel_throughput_low": 1.0,
        "rel_throughput_high": 1.0,
        "gco2_per_kwh": 100.0,
        "gco2_per_kwh_low": 100.0,
        "gco2_per_kwh_high": 100.0,
        "intensity_kind": "static",
        "gpu_power_kw": 2.0,
        "host_power_kw": 0.5,
        "wall_hours": 10.0,
        "energy_kwh": 30.0,  # (2.0 + 0.5) x 10 h x PUE 1.2
        "embodied_kgco2e": 1.0,
    }
    frame = pd.DataFrame([{**base, **row} for row in overrides.get("rows", [{}])])
    return frame.assign(
        operational_kgco2e=frame["energy_kwh"] * frame["gco2_per_kwh"] / 1000.0,
        kgco2e=frame["energy_kwh"] * frame["gco2_per_kwh"] / 1000.0 + frame["embodied_kgco2e"],
    )


def test_zero_spread_inputs_give_zero_width_ranges():
    out = add_ranges(_options(), Settings(gpu_utilisation=0.7), "A", Spread())
    for name in ("wall_hours", "energy_kwh", "kgco2e", "gco2_per_kwh"):
        assert out[f"{name}_low"].iloc[0] == out[name].iloc[0] == out[f"{name}_high"].iloc[0]


def test_corners_by_hand():
    rows = [
        {
            "rel_throughput": 2.0,
            "rel_throughput_low": 1.8,
            "rel_throughput_high": 2.2,
            "gco2_per_kwh_low": 80.0,
            "gco2_per_kwh_high": 150.0,
        }
    ]
    ref = Spread(0.95, 1.05)
    out = add_ranges(_options(rows=rows), Settings(), "A", ref).iloc[0]
    # wall: x the reference over the GPU's own factor, at opposite corners
    t_low, t_high = 0.95 / 1.1, 1.05 / 0.9
    assert out["wall_hours_low"] == pytest.approx(10 * t_low)
    assert out["wall_hours_high"] == pytest.approx(10 * t_high)
    # power: only the GPU share (2.0 of 2.5 kW) moves, from 0.6 to 1.0 of TDP around 0.8
    p_low = (2.0 * 0.6 / 0.8 + 0.5) / 2.5
    p_high = (2.0 * 1.0 / 0.8 + 0.5) / 2.5
    assert out["energy_kwh_low"] == pytest.approx(30 * p_low * t_low)
    assert out["energy_kwh_high"] == pytest.approx(30 * p_high * t_high)
    assert out["kgco2e_low"] == pytest.approx(30 * p_low * t_low * 80 / 1000 + 1.0 * t_low)
    assert out["kgco2e_high"] == pytest.approx(30 * p_high * t_high * 150 / 1000 + 1.0 * t_high)


def test_a_measured_gpus_range_is_narrower_than_an_estimated_ones():
    rows = [
        {"gpu": "M", "rel_throughput_low": 0.95, "rel_throughput_high": 1.05},
        {"gpu": "E", "rel_throughput_low": 0.7, "rel_throughput_high": 1.3},
    ]
    out = add_ranges(_options(rows=rows), Settings(), "A", Spread(0.97, 1.03))
    width = (out["kgco2e_high"] - out["kgco2e_low"]) / out["kgco2e"]
    assert width.iloc[0] < width.iloc[1]
    hours = out["wall_hours_high"] - out["wall_hours_low"]
    assert hours.iloc[0] < hours.iloc[1]


def test_the_reference_gpu_itself_has_no_throughput_spread():
    rows = [
        {"gpu": "A", "rel_throughput_low": 0.8, "rel_throughput_high": 1.2},  # the reference
        {"gpu": "B", "rel_throughput_low": 1.0, "rel_throughput_high": 1.0},  # exact factor
    ]
    out = add_ranges(_options(rows=rows), Settings(gpu_utilisation=0.5), "A", Spread(0.8, 1.2))
    on_ref, other = out.iloc[0], out.iloc[1]
    assert on_ref["wall_hours_low"] == on_ref["wall_hours_high"] == 10.0
    # measured against an uncertain reference, another GPU's speed is uncertain too
    assert other["wall_hours_low"] == pytest.approx(10 * 0.8)
    assert other["wall_hours_high"] == pytest.approx(10 * 1.2)


def test_a_user_set_utilisation_has_no_power_spread():
    assert power_spread(Settings()) == Spread(0.6 / 0.8, 1.0 / 0.8)
    assert power_spread(Settings(gpu_utilisation=0.65)) == Spread()
    out = add_ranges(_options(), Settings(gpu_utilisation=0.65), "A", Spread())
    assert out["energy_kwh_low"].iloc[0] == out["energy_kwh_high"].iloc[0] == 30.0


def test_the_power_range_is_sourced():
    assert A.GPU_UTILISATION_LOW.value < A.GPU_UTILISATION.value < A.GPU_UTILISATION_HIGH.value
    assert "arXiv" in A.GPU_UTILISATION_LOW.source and A.GPU_UTILISATION_LOW.estimated
    assert "BLOOM" in A.GPU_UTILISATION_HIGH.source


def test_live_intensity_drops_the_static_spread():
    rows = [
        {"intensity_kind": "live", "gco2_per_kwh": 300.0},  # bounds below are the static ones
        {"intensity_kind": "static"},
    ]
    frame = _options(rows=rows).assign(gco2_per_kwh_low=50.0, gco2_per_kwh_high=150.0)
    out = add_ranges(frame, Settings(gpu_utilisation=0.5), "B", Spread())
    live, static = out.iloc[0], out.iloc[1]
    assert live["gco2_per_kwh_low"] == live["gco2_per_kwh_high"] == 300.0
    assert live["kgco2e_low"] == live["kgco2e"] == live["kgco2e_high"]
    assert static["gco2_per_kwh_low"] == 50.0 and static["gco2_per_kwh_high"] == 150.0
    assert static["kgco2e_low"] < static["kgco2e"] < static["kgco2e_high"]


def test_live_intensity_through_the_planner_hook(tiny_ranged):
    t = tiny_ranged

    def live(frame: pd.DataFrame) -> pd.DataFrame:
        clean = (frame["region"] == "clean-1").to_numpy()
        return pd.DataFrame(
            {
                "gco2_per_kwh": np.where(clean, 44.0, frame["gco2_per_kwh"]),
                "intensity_kind": np.where(clean, "live", "static"),
            },
            index=frame.index,
        )

    result = plan(t.offers, t.regions, t.gpus, Job(400), top=None, intensity_fn=live)
    o = result.options
    clean = o[o["region"] == "clean-1"]
    assert (clean["gco2_per_kwh_low"] == 44.0).all()
    assert (clean["gco2_per_kwh_high"] == 44.0).all()
    dirty = o[o["region"] == "dirty-1"]
    assert (dirty["gco2_per_kwh_low"] == 600.0).all()
    assert (dirty["gco2_per_kwh_high"] == 800.0).all()


@pytest.mark.parametrize(
    "rows,message",
    [
        ([{"gco2_per_kwh_low": 120.0}], "gco2_per_kwh_low <= gco2_per_kwh"),
        ([{"rel_throughput_high": 0.9}], "rel_throughput_low <= rel_throughput"),
        ([{"rel_throughput_low": float("nan")}], "rel_throughput_low"),
    ],
)
def test_missing_or_inverted_bounds_are_refused(rows, message):
    with pytest.raises(DataError, match=message):
        add_ranges(_options(rows=rows), Settings(), "A", Spread())


def test_reference_spread_reads_the_catalog():
    gpus = pd.DataFrame([_gpu("A", 400, 0.9, 0.85, 0.99)])
    spread = reference_spread(gpus, "A")
    assert spread.low == pytest.approx(0.85 / 0.9) and spread.high == pytest.approx(1.1)
    with pytest.raises(DataError, match=r"not in gpus\.csv"):
        reference_spread(gpus, "H100")


# --- the invariant, over random catalogs and plans -----------------------------------------

spread_pct = st.floats(0.0, 0.5)


@given(
    ref_rel=st.floats(0.2, 3.0),
    other_rel=st.floats(0.2, 5.0),
    spreads=st.lists(spread_pct, min_size=6, max_size=6),
    g=st.one_of(st.just(0.0), st.floats(1.0, 1200.0)),
    gpu_hours=st.floats(0.5, 5000.0),
    deadline=st.one_of(st.none(), st.floats(1.0, 500.0)),
    embodied=st.sampled_from([0.0, A.EMBODIED_G_PER_GPU_HOUR.value, 40.0]),
    utilisation=st.sampled_from([A.GPU_UTILISATION.value, 0.3, 1.0]),
    spot=st.booleans(),
)
@settings(max_examples=120, suppress_health_check=[HealthCheck.too_slow])
def test_low_le_central_le_high_always(
    ref_rel, other_rel, spreads, g, gpu_hours, deadline, embodied, utilisation, spot
):
    r0, r1, r2, r3, g0, g1 = spreads
    gpus = pd.DataFrame(
        [
            _gpu("A100", 400, ref_rel, ref_rel * (1 - r0), ref_rel * (1 + r1)),
            _gpu("H100", 700, other_rel, other_rel * (1 - r2), other_rel * (1 + r3), "estimated"),
        ]
    )
    regions = pd.DataFrame(
        [
            _region("aws", "r1", g, g * (1 - g0), g * (1 + g1)),
            _region("gcp", "r2", g / 2, g / 2, g / 2, zone="YY"),
        ]
    )
    offers = pd.DataFrame(
        [
            offer_row("aws", "r1", "p4d", "A100", 8, 96, 1152, 30.0, 12.0 if spot else None),
            offer_row("aws", "r1", "p5", "H100", 8, 192, 2048, 90.0, 40.0 if spot else None),
            offer_row("gcp", "r2", "a2", "A100", 1, 12, 85, 3.7, 1.1 if spot else None),
        ]
    )
    s = Settings(gpu_utilisation=utilisation, embodied_g_per_gpu_hour=embodied)
    c = Constraints(deadline_hours=deadline, max_instances=1_000_000)
    result = plan(offers, regions, gpus, Job(gpu_hours), s, c, top=None, all_sizes=True)
    o = result.options
    assert len(o) == (6 if spot else 3)
    for name in ("wall_hours", "energy_kwh", "kgco2e", "gco2_per_kwh"):
        low, mid, high = (o[f"{name}_low"], o[name], o[f"{name}_high"])
        assert np.isfinite(low).all() and np.isfinite(high).all()
        assert (low <= mid).all() and (mid <= high).all(), (name, o[[f"{name}_low", name]])
    # the reference GPU's own rows never carry throughput spread
    on_ref = o[o["gpu"] == "A100"]
    assert (on_ref["wall_hours_low"] == on_ref["wall_hours"]).all()
    if not any(spreads) and utilisation != A.GPU_UTILISATION.value:
        assert (o["kgco2e_low"] == o["kgco2e"]).all() and (o["kgco2e_high"] == o["kgco2e"]).all()


# --- not clearly different on carbon --------------------------------------------------------


def _ranged(rows: list[dict]) -> pd.DataFrame:
    return add_ranges(_options(rows=rows), Settings(), "A", Spread(0.95, 1.05)).assign(
        rank=range(1, len(rows) + 1)
    )


def test_shared_gpu_uncertainty_cancels_in_a_comparison():
    # The same estimated GPU in two regions of fixed intensity: each kg range is wide and the
    # two overlap, but the GPU's speed is the same in both, so the cleaner one is always lower.
    gpu = {"gpu": "E", "rel_throughput_low": 0.6, "rel_throughput_high": 1.4}
    rows = [{**gpu, "region": "r1", "em_zone": "Z1"}]
    rows.append({**gpu, "region": "r2", "em_zone": "Z2", "gco2_per_kwh": 130.0})
    rows[1].update(gco2_per_kwh_low=130.0, gco2_per_kwh_high=130.0)
    o = _ranged(rows)  # rank 1 is the cleaner region
    assert o["kgco2e_high"].iloc[0] > o["kgco2e_low"].iloc[1]  # the shown ranges overlap
    assert not_clearly_different(o, Settings(), "A", Spread(0.95, 1.05)).tolist() == [True, False]
    # Two different GPUs with the same spreads do not share it: then they overlap for real.
    rows[1]["gpu"] = "F"
    o = _ranged(rows)
    assert not_clearly_different(o, Settings(), "A", Spread(0.95, 1.05)).tolist() == [True, True]


def test_disjoint_ranges_are_clearly_different_and_equal_options_are_not():
    rows = [{}, {"region": "r2", "em_zone": "Z2", "gco2_per_kwh": 900.0}]
    rows[1].update(gco2_per_kwh_low=900.0, gco2_per_kwh_high=900.0)
    rows.append({})  # the same option again (say, on another market): equal on carbon
    o = _ranged(rows)
    assert not_clearly_different(o, Settings(), "A", Spread(0.95, 1.05)).tolist() == [
        True,
        False,
        True,
    ]
    assert carbon_ties(o, Settings(), "A", Spread(0.95, 1.05)) == [1, 3]
    assert carbon_ties(o, Settings(objective="cost"), "A", Spread(0.95, 1.05)) == []


def test_ranks_text():
    assert ranks_text([1, 2, 3, 4]) == "1-4"
    assert ranks_text([1, 2, 5]) == "1-2, 5"
    assert ranks_text([1, 3]) == "1, 3"


# --- outputs --------------------------------------------------------------------------------


@pytest.fixture
def tiny_ranged(tiny):
    """The shared tiny catalog with spreads: measured GPUs +-5%, the T4 an estimate +-30%;
    each region's intensity -+15%."""
    gpus = tiny.gpus.assign(
        rel_throughput_low=tiny.gpus["rel_throughput"] * 0.95,
        rel_throughput_high=tiny.gpus["rel_throughput"] * 1.05,
    )
    t4 = gpus["gpu"] == "T4"
    gpus.loc[t4, "rel_throughput_low"] = 0.12 * 0.7
    gpus.loc[t4, "rel_throughput_high"] = 0.12 * 1.3
    regions = tiny.regions.assign(
        gco2_per_kwh_low=tiny.regions["gco2_per_kwh"] * 0.85,
        gco2_per_kwh_high=tiny.regions["gco2_per_kwh"] * 1.15,
    )
    regions.loc[regions["region"] == "dirty-1", ["gco2_per_kwh_low", "gco2_per_kwh_high"]] = [
        600.0,
        800.0,
    ]
    return type(tiny)(offers=tiny.offers, regions=regions, gpus=gpus)


def _catalog(t) -> Catalog:
    return Catalog(offers=t.offers, regions=t.regions, gpus=t.gpus, meta={})


def _table(t, regions: pd.DataFrame, width: int = 200) -> str:
    result = plan(t.offers, regions, t.gpus, Job(400), top=5)
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None)
    render_plan(result, _catalog(t), console, explain=False)
    return buffer.getvalue()


def test_table_notes_overlapping_top_ranges(tiny_ranged):
    t = tiny_ranged
    # Two clean regions 20 and 22 g/kWh, each +-15% from year to year: too close to call.
    regions = pd.concat(
        [t.regions, pd.DataFrame([_region("gcp", "clean-2", 22.0, 18.7, 25.3, zone="C2")])],
        ignore_index=True,
    )
    offers = pd.concat(
        [
            t.offers,
            pd.DataFrame([offer_row("gcp", "clean-2", "a2-8", "A100", 8, 96, 1152, 29.0)]),
        ],
        ignore_index=True,
    )
    out = _table(type(t)(offers=offers, regions=regions, gpus=t.gpus), regions)
    assert "not clearly different on carbon" in out
    assert "ranks 1-3: kg ranges overlap" in out  # clean-1 on-demand and spot, clean-2


def test_table_has_no_note_when_the_winner_is_clear(tiny_ranged):
    t = tiny_ranged
    # Only the clean region's A100 offer in one market: every other option is far dirtier.
    offers = t.offers.assign(spot_usd_per_hour=None)
    out = _table(type(t)(offers=offers, regions=t.regions, gpus=t.gpus), t.regions)
    assert "clean-1" in out
    assert "not clearly different" not in out


@pytest.mark.parametrize("width", [80, 100, 120])
def test_table_never_cuts_the_kg_figures(tiny_ranged, width):
    t = tiny_ranged
    result = plan(t.offers, t.regions, t.gpus, Job(400), top=5)
    buffer = io.StringIO()
    render_plan(result, _catalog(t), Console(file=buffer, width=width, color_system=None), False)
    text = buffer.getvalue()
    for row in result.options.itertuples():
        assert f"({range_text(row.kgco2e_low, row.kgco2e_high)})" in text, text
    assert max(len(line) for line in text.splitlines()) <= width


def test_json_document_carries_ranges_and_method(tiny_ranged):
    t = tiny_ranged
    result = plan(t.offers, t.regions, t.gpus, Job(400), top=5)
    document = plan_document(result, _catalog(t), set())
    first = document["options"][0]
    for name in ("kgco2e", "wall_hours", "energy_kwh", "gco2_per_kwh", "rel_throughput"):
        assert first[f"{name}_low"] <= first[name] <= first[f"{name}_high"], name
    ranges = document["assumptions"]["ranges"]
    assert "interval arithmetic" in ranges["method"]
    assert ranges["gpu_utilisation_low"] == 0.6 and ranges["gpu_utilisation_high"] == 1.0
    assert document["summary"]["carbon_not_clearly_different"]["ranks"] == [1, 2]


def test_cli_json_has_the_range_fields(cli):
    result = cli("suggest", "--gpu-hours", "400", "--top", "5", "--format", "json")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    for option in document["options"]:
        assert option["kgco2e_low"] < option["kgco2e"] < option["kgco2e_high"]
        assert option["wall_hours_low"] <= option["wall_hours"] <= option["wall_hours_high"]
        assert option["energy_kwh_low"] < option["energy_kwh"] < option["energy_kwh_high"]
    assert "ranges" in document["assumptions"]
    csv = cli("suggest", "--gpu-hours", "400", "--top", "2", "--format", "csv")
    assert "kgco2e_low" in csv.out.splitlines()[0].split(",")


def test_report_draws_error_bars_and_shows_ranges(tiny_ranged):
    from recommender.reports import charts
    from recommender.reports.markdown import render_markdown
    from recommender.reports.report import build_report

    t = tiny_ranged
    result = plan(t.offers, t.regions, t.gpus, Job(400), top=None)
    document = json.loads(json.dumps(plan_document(result, _catalog(t), set())))
    report = build_report(document, top=5, origin="test", command="carbonplan report")
    first = report.options.iloc[0]
    # the error bar of every option spans its kg range
    fig = charts.tradeoff_figure(report.options, recommended=None, baseline=None, title="t")
    bars = [c for c in fig.axes[0].collections if c.get_gid() == "kg-ranges"]
    assert len(bars) == 1
    segments = bars[0].get_segments()
    spans = sorted((float(s[0][1]), float(s[1][1])) for s in segments)
    o = report.options
    expected = sorted(zip(o["kgco2e_low"], o["kgco2e_high"], strict=True))
    assert [s for pair in spans for s in pair] == pytest.approx([e for p in expected for e in p])
    regions = charts.region_figure(report.regions, title="r")
    assert any(c.get_gid() == "kg-range-bars" for ax in regions.axes for c in ax.collections)
    markdown = render_markdown(report)
    assert f"({range_text(first['kgco2e_low'], first['kgco2e_high'])})" in markdown
    assert "kg CO2e (range)" in markdown and "### Ranges" in markdown
    assert any("not clearly different on carbon" in note for note in report.notes)


def test_a_plan_saved_before_ranges_still_reports(tiny_ranged):
    from recommender.reports import charts
    from recommender.reports.markdown import render_markdown
    from recommender.reports.report import build_report

    t = tiny_ranged
    result = plan(t.offers, t.regions, t.gpus, Job(400), top=None)
    document = json.loads(json.dumps(plan_document(result, _catalog(t), set())))
    for option in document["options"]:
        option.pop("kgco2e_low"), option.pop("kgco2e_high")
    document["assumptions"].pop("ranges")
    report = build_report(document, top=5, origin="test", command="carbonplan report")
    fig = charts.tradeoff_figure(report.options, recommended=None, baseline=None, title="t")
    assert not [c for c in fig.axes[0].collections if c.get_gid() == "kg-ranges"]
    assert "kg CO2e (range)" not in render_markdown(report)
