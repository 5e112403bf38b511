"""The suggest table as a person sees it (issue 12): rendered in a real pseudo-terminal at
80, 100 and 120 columns, one row per instance and region with both markets' prices, ranks
that agree with the JSON, Pareto marks that agree with the ranking, warnings, and a baseline
compared on the same (or the closest same-architecture) instance."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import offer_row
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.cells import cell_len

from recommender.planner import Constraints, Job, Settings, pareto_mask, plan
from recommender.planner.core import (
    RANK_DIGITS,
    _baseline_columns,
    architecture,
    combine_markets,
    significant,
)
from recommender.reports.views import kg_cell, plan_warnings

CARBONPLAN = Path(sys.executable).with_name("carbonplan")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
ROW = re.compile(r"^ *(\d+) +(P?) +(aws|gcp|azure) +(\S+)")


def in_terminal(columns: int, *args: str) -> str:
    """``carbonplan ARGS`` run in a pseudo-terminal ``columns`` wide; its output, colour
    codes removed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["TERM"] = "xterm-256color"
    # as a new user sees it: the shipped prices are months old, so the stale-price warning
    # is printed too (the test session turns it off elsewhere)
    env["CARBONPLAN_PRICES_MAX_AGE_DAYS"] = "90"
    proc = subprocess.Popen(
        [str(CARBONPLAN), *args], stdin=slave, stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=60) == 0, b"".join(chunks).decode(errors="replace")
    return ANSI.sub("", b"".join(chunks).decode()).replace("\r\n", "\n")


def table_rows(text: str) -> dict[int, str]:
    return {int(m.group(1)): line for line in text.splitlines() if (m := ROW.match(line))}


@pytest.fixture(scope="module")
def every_option() -> dict[int, dict]:
    """Every option of ``suggest --gpu-hours 400`` by rank (JSON: one object per market)."""
    out = subprocess.run(
        [str(CARBONPLAN), "suggest", "--gpu-hours", "400", "--top", "0", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {o["rank"]: o for o in json.loads(out)["options"]}


def _partner(options: dict[int, dict], option: dict) -> dict | None:
    for other in options.values():
        if other["rank"] != option["rank"] and all(
            other[k] == option[k] for k in ("provider", "region", "instance_type")
        ):
            return other
    return None


@pytest.mark.parametrize("columns", [80, 100, 120])
def test_top_rows_show_whole_figures_and_fit_the_terminal(columns, every_option):
    text = in_terminal(columns, "suggest", "--gpu-hours", "400", "--top", "5")
    rows = table_rows(text)
    assert len(rows) == 5, text
    same = json.loads(
        subprocess.run(
            [str(CARBONPLAN), "suggest", "--gpu-hours", "400", "--top", "5", "--format", "json"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )["options"]
    assert {o["rank"] for o in same} <= set(rows) | {
        p["rank"] for r in rows if (p := _partner(every_option, every_option[r]))
    }
    for rank, line in rows.items():
        option = every_option[rank]
        kg = kg_cell(option["kgco2e"], option["kgco2e_low"], option["kgco2e_high"])
        assert f" {kg} " in f"{line} ", (kg, line)
        partner = _partner(every_option, option)
        prices = {option["market"]: option["cost_usd"]}
        if partner is not None:
            prices[partner["market"]] = partner["cost_usd"]
        pair = " / ".join(
            f"{prices[m]:,.0f}" if m in prices else "-" for m in ("spot", "on-demand")
        )
        assert f"  {pair}  " in f"{line}  ", (pair, line)
        assert f" {option['provider']} " in line and f" {option['region']}" in line
        gpus = f"{option['gpus_per_instance']:g}x{option['gpu']}"
        assert f" {gpus}" in line and f" {option['market']} " in line
        assert "…" not in line.split(option["region"])[0] + line[-30:]
    widths = [cell_len(line) for line in text.splitlines()]
    assert max(widths) <= columns, max(widths)
    assert "--wide" in text  # says how to see what was left out


def test_wide_keeps_every_column_past_the_terminal_edge(every_option):
    text = in_terminal(80, "suggest", "--gpu-hours", "400", "--top", "3", "--wide")
    assert "not shown at this width" not in text
    header = next(line for line in text.splitlines() if " cloud " in line)
    for name in ("instance", "hours", "kWh", "gCO2e/kWh", "intensity"):
        assert name in header, header
    assert every_option[1]["instance_type"] in text
    assert max(cell_len(line) for line in text.splitlines()) > 80


def test_split_markets_has_one_row_per_json_option(cli):
    table = cli("suggest", "--gpu-hours", "400", "--top", "6", "--markets", "split")
    document = json.loads(
        cli("suggest", "--gpu-hours", "400", "--top", "6", "--format", "json").out
    )
    rows = table_rows(table.out)
    assert sorted(rows) == [o["rank"] for o in document["options"]] == list(range(1, 7))
    for option in document["options"]:
        line = rows[option["rank"]]
        assert f" {option['market']} " in line
        assert f"  {option['cost_usd']:,.0f}  " in f"{line}  "


def test_table_ranks_are_the_json_ranks(cli):
    """A combined row carries its preferred market's JSON rank; every number it skips is the
    other market of a row above."""
    table = cli("suggest", "--gpu-hours", "400", "--top", "12")
    document = json.loads(
        cli("suggest", "--gpu-hours", "400", "--top", "0", "--format", "json").out
    )
    options = {o["rank"]: o for o in document["options"]}
    rows = table_rows(table.out)
    assert len(rows) == 12 and list(rows) == sorted(rows)
    assert re.search(r"\(ranks [\d, -]+; spot and on-demand", table.out)
    covered = set(rows)
    for rank, line in rows.items():
        option = options[rank]
        assert f" {option['market']} " in line and option["provider"] in line
        partner = _partner(options, option)
        if partner is not None:
            assert partner["rank"] > rank  # the row is at its better market's rank
            assert f"{partner['cost_usd']:,.0f}" in line
            covered.add(partner["rank"])
    skipped = set(range(1, max(rows) + 1)) - set(rows)
    assert skipped and skipped <= covered
    assert "missing number is the other market of a row above" in table.out


def test_markets_and_wide_are_refused_with_json(cli):
    cli("suggest", "--gpu-hours", "4", "--wide", "--format", "json").assert_one_clear_error(
        "--wide shapes the table"
    )
    result = cli("suggest", "--gpu-hours", "4", "--markets", "split", "--format", "csv")
    result.assert_one_clear_error("--markets shapes the table")


def test_combine_markets_keeps_the_best_rank_and_both_prices(tiny):
    result = plan(tiny.offers, tiny.regions, tiny.gpus, Job(400), top=None)
    combined = combine_markets(result.options)
    keys = ["provider", "region", "instance_type"]
    assert not combined.duplicated(keys).any()
    assert len(combined) == len(result.options.drop_duplicates(keys))
    for row in combined.itertuples():
        same = result.options[
            (result.options["provider"] == row.provider)
            & (result.options["region"] == row.region)
            & (result.options["instance_type"] == row.instance_type)
        ]
        assert row.rank == same["rank"].min()
        by_market = dict(zip(same["market"], same["cost_usd"], strict=True))
        assert by_market.get("spot", np.nan) == pytest.approx(row.spot_cost_usd, nan_ok=True)
        assert by_market["on-demand"] == pytest.approx(row.on_demand_cost_usd)


# --- Pareto marks at the ranking's precision --------------------------------------------------

# Figures that often tie at 3 significant figures (10.00 .. 11.00 round to 10.0 .. 11.0).
close = st.integers(1000, 1100).map(lambda n: n / 100)


@given(st.lists(st.tuples(close, close), min_size=1, max_size=30))
def test_pareto_at_rank_precision_matches_brute_force(points):
    cost = pd.Series([c for c, _ in points])
    kg = pd.Series([k for _, k in points])
    mask = pareto_mask(cost, kg, digits=RANK_DIGITS).to_numpy()
    c, k = significant(cost, RANK_DIGITS), significant(kg, RANK_DIGITS)
    for i in range(len(points)):
        beaten = ((c <= c[i]) & (k <= k[i]) & ((c < c[i]) | (k < k[i]))).any()
        assert mask[i] == (not beaten), (points[i], points)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.floats(0.5, 1.5), min_size=6, max_size=6),
    st.lists(st.sampled_from([20.0, 20.04, 20.02, 300.0, 700.0]), min_size=3, max_size=3),
    st.sampled_from(["carbon", "cost", "time", "balanced"]),
)
def test_marks_agree_with_the_ranking(tiny, scale, figures, objective):
    offers = tiny.offers.assign(usd_per_hour=tiny.offers["usd_per_hour"] * scale)
    regions = tiny.regions.assign(
        gco2_per_kwh=figures, gco2_per_kwh_low=figures, gco2_per_kwh_high=figures
    )
    options = plan(
        offers, regions, tiny.gpus, Job(100), Settings(objective=objective), top=None
    ).options
    c, k = significant(options["cost_usd"]), significant(options["kgco2e"])
    for i, marked in enumerate(options["pareto"].to_numpy()):
        beaten = ((c <= c[i]) & (k <= k[i]) & ((c < c[i]) | (k < k[i]))).any()
        assert marked == (not beaten)  # no row marked dominated is unbeaten, and vice versa
    if objective == "carbon":  # nothing is as clean and cheaper at that precision
        assert options["pareto"].iloc[0]


# --- warnings ---------------------------------------------------------------------------------


def test_warnings_are_one_line_per_kind_with_every_rank(cli):
    args = ("suggest", "--gpu-hours", "400", "--gpu", "T4,L4", "--objective", "cost")
    table = cli(*args, "--top", "8")
    document = json.loads(cli(*args, "--top", "8", "--format", "json").out)
    options = document["options"]
    codes = {w["code"]: w for w in document["warnings"]}
    long = [o["rank"] for o in options if o["wall_hours"] > 30 * 24]
    spot = [o["rank"] for o in options if o["market"] == "spot" and o["wall_hours"] > 24]
    estimated = [o["rank"] for o in options if o["throughput_basis"] == "estimated"]
    assert long and codes["long-run"]["ranks"] == long
    assert spot and codes["spot-long-run"]["ranks"] == spot
    assert estimated and codes["estimated-throughput"]["ranks"] == estimated
    lines = [line for line in table.out.splitlines() if line.startswith("warning: ")]
    assert len(lines) == 3, table.out  # one per kind, not one per row
    assert "longer than 30 days of wall time" in table.out
    assert "warning" not in table.err


def test_interruptible_plans_get_no_spot_warning(tiny):
    job = Job(4000)
    loose = plan(tiny.offers, tiny.regions, tiny.gpus, job, top=None)
    codes = {w["code"] for w in plan_warnings(loose.options, loose)}
    assert "spot-long-run" in codes
    resumable = plan(
        tiny.offers,
        tiny.regions,
        tiny.gpus,
        job,
        constraints=Constraints(interruptible=True),
        top=None,
    )
    assert "spot-long-run" not in {w["code"] for w in plan_warnings(resumable.options, resumable)}


# --- baseline -----------------------------------------------------------------------------------


def test_architecture_from_the_instance_name():
    frame = pd.DataFrame(
        {
            "provider": ["aws", "aws", "aws", "aws", "azure", "gcp"],
            "instance_type": [
                "g5g.xlarge",
                "g6e.xlarge",
                "gr6.4xlarge",
                "g4dn.xlarge",
                "Standard_ND128isr_NDR_GB200_v6",
                "g2-standard-4",
            ],
            "gpu": ["T4", "L40S", "L4", "T4", "GB200", "L4"],
        }
    )
    assert list(architecture(frame)) == ["arm64", "x86_64", "x86_64", "x86_64", "arm64", "x86_64"]


def test_baseline_is_the_same_instance_else_the_closest_same_architecture():
    def rows(region, *offers):
        frame = pd.DataFrame([offer_row("aws", region, *o) for o in offers])
        return frame.assign(market="on-demand", kgco2e=100.0, cost_usd=frame["usd_per_hour"])

    options = rows(
        "clean",
        ("g4dn.xlarge", "T4", 1, 4, 16, 0.5),
        ("g4dn.12xlarge", "T4", 4, 48, 192, 4.0),
        ("g5g.xlarge", "T4", 1, 4, 8, 0.4),
    )
    base = rows(
        "dirty",
        ("g5g.xlarge", "T4", 1, 4, 8, 0.3),  # cheapest, but Arm
        ("g4dn.2xlarge", "T4", 1, 8, 32, 0.75),
        ("g4dn.8xlarge", "T4", 1, 32, 128, 2.2),
        ("g4dn.12xlarge", "T4", 4, 48, 192, 3.9),
    )
    out = _baseline_columns(options, base)
    assert list(out["baseline_instance_type"]) == ["g4dn.2xlarge", "g4dn.12xlarge", "g5g.xlarge"]
    assert list(out["baseline_match"]) == ["same-gpus", "same-instance", "same-instance"]
    nothing = _baseline_columns(options.iloc[[2]], base.iloc[[1]])  # Arm has no x86 match
    assert nothing["baseline_match"].isna().all() and nothing["saves_kgco2e"].isna().all()


def test_baseline_on_real_data_names_its_instance_and_warns(cli):
    args = ("suggest", "--gpu-hours", "400", "--baseline", "aws:us-east-1", "--top", "20")
    document = json.loads(cli(*args, "--format", "json").out)
    options = pd.DataFrame(document["options"])
    other = options[options["baseline_match"] == "same-gpus"]
    assert not other.empty
    assert (options["baseline_match"] == "same-instance").sum() == (
        options["instance_type"] == options["baseline_instance_type"]
    ).sum()
    # never an Arm (Graviton, Grace) baseline for an x86 option, nor the reverse
    base = options.assign(instance_type=options["baseline_instance_type"], provider="aws")
    matched = options["baseline_instance_type"].notna()
    assert (architecture(options[matched]) == architecture(base[matched])).all()
    warning = next(w for w in document["warnings"] if w["code"] == "baseline-other-instance")
    assert warning["ranks"] == [int(r) for r in other["rank"]]
    assert "warning: " in cli(*args).out


@pytest.mark.parametrize("width", [80, 100, 120])
def test_jobs_table_fits_and_keeps_names_and_figures_whole(width):
    """`suggest --jobs`: at each width, every job's name, region, market, kg and $ are whole,
    columns that do not fit are named, and no line is wider than the terminal."""
    roadmap = Path(__file__).resolve().parents[1] / "samples" / "roadmap.csv"
    text = in_terminal(width, "suggest", "--jobs", str(roadmap), "--top", "2")
    document = json.loads(
        subprocess.run(
            [str(CARBONPLAN), "suggest", "--jobs", str(roadmap), "--top", "2", "--format", "json"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    lines = text.splitlines()
    assert max(cell_len(line) for line in lines) <= width
    assert "…" not in text
    for job in document["jobs"]:
        options = job["options"]
        head = next(line for line in lines if line.startswith(job["name"] + " "))
        rows = [head, *lines[lines.index(head) + 1 : lines.index(head) + len(options)]]
        for line, option in zip(rows, options, strict=True):
            cells = line.split()
            assert f"{option['provider']}:{option['region']}" in cells, line
            assert option["market"] in cells
            assert f"{option['kgco2e']:,.2f}" in cells and f"{option['cost_usd']:,.2f}" in cells
    if width < 120:
        assert "not shown at this width:" in text
