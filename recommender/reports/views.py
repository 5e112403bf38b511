"""Documents (for JSON/CSV) and rich renderings (for people) of each command's result."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from recommender import __version__
from recommender import assumptions as A
from recommender.catalog import Catalog, schema
from recommender.planner import Estimate, Plan
from recommender.planner import ranges as R
from recommender.reports.records import frame_records, option_records, plain

_SETTING_SOURCES = {
    "gpu_utilisation": A.GPU_UTILISATION,
    "cpu_w_per_vcpu": A.CPU_W_PER_VCPU,
    "memory_w_per_gib": A.MEMORY_W_PER_GIB,
    "embodied_g_per_gpu_hour": A.EMBODIED_G_PER_GPU_HOUR,
    "scaling_efficiency": A.SCALING_EFFICIENCY,
    "carbon_price_usd_per_t": A.CARBON_PRICE_USD_PER_T,
}


def _fmt(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _sig(value: float) -> str:
    """Few significant digits, for quantities that span orders of magnitude."""
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:,.1f}"
    return f"{value:,.2f}"


def _align(text: str, width: int, justify: str) -> str:
    """Pad ``text`` to ``width`` terminal cells (wide characters count double)."""
    gap = max(width - cell_len(text), 0)
    if justify == "right":
        return " " * gap + text
    if justify == "center":
        return " " * (gap // 2) + text + " " * (gap - gap // 2)
    return text + " " * gap


def _savings(kg: float, usd: float) -> str:
    """``-31 kg, +$91``: what an option changes against the baseline (minus = less)."""
    return f"{-kg:+,.0f} kg, {'+' if usd <= 0 else '-'}${abs(usd):,.0f}"


def assumption_rows(
    settings: dict[str, Any], defaults_used: set[str], configured: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    rows = []
    for name, value in settings.items():
        figure = _SETTING_SOURCES.get(name)
        default = name in defaults_used
        rows.append(
            {
                "name": name,
                "value": plain(value),
                "unit": figure.unit if figure else "",
                "default": default,
                # default (built in), flag, or "config file PATH" / "environment VAR"
                "origin": (configured or {}).get(name, "default" if default else "flag"),
                "estimated": bool(figure and figure.estimated),
                "source": figure.source if figure else "",
            }
        )
    return rows


def data_section(catalog: Catalog, options: pd.DataFrame | None = None) -> dict[str, Any]:
    section: dict[str, Any] = {
        "prices_as_of": catalog.prices_as_of,
        "schema_version": catalog.meta.get("schema_version"),
        "built": catalog.meta.get("built"),
        "sources": catalog.meta.get("sources", []),
    }
    if options is not None and not options.empty:
        gpus = catalog.gpus[catalog.gpus["gpu"].isin(options["gpu"])]
        section["gpus"] = frame_records(
            gpus,
            [
                "gpu",
                "tdp_w",
                "memory_gb",
                "rel_throughput",
                "throughput_basis",
                "throughput_source",
            ],
        )
    return section


def _bound(value: float, up: bool, digits: int = 2) -> float:
    """``value`` to ``digits`` significant figures, rounded outwards (down for a low end, up
    for a high end), so that a shown range never claims less than the computed one."""
    if not value > 0:
        return 0.0
    step = 10.0 ** (math.floor(math.log10(value)) - (digits - 1))
    scaled = round(value / step, 9)  # 0.3 / 0.01 is 29.999999999999996
    return (math.ceil(scaled) if up else math.floor(scaled)) * step


def range_bound(value: float, up: bool = False) -> str:
    """One end of a range, to two significant figures: ``3.2``, ``36``, ``1,200``."""
    bound = _bound(value, up)
    if bound == 0:
        return "0"
    decimals = max(0, 1 - math.floor(math.log10(bound)))
    return f"{bound:,.{decimals}f}"


def range_text(low: float, high: float) -> str:
    """``3.2-5.6`` (low rounded down, high rounded up)."""
    return f"{range_bound(low)}-{range_bound(high, up=True)}"


def kg_cell(kg: float, low: float, high: float) -> str:
    """``4.10 (3.2-5.6)``: the central figure and its range; the figure alone when the range
    has no width (every input known exactly) or is missing (a plan saved before ranges)."""
    if not (math.isfinite(low) and math.isfinite(high)) or low == high:
        return _sig(kg)
    return f"{_sig(kg)} ({range_text(low, high)})"


def carbon_ties(plan: Plan, catalog: Catalog) -> list[int]:
    """Ranks of the shown options whose kg CO2e cannot be told apart from rank 1's
    (:func:`recommender.planner.ranges.carbon_ties`); empty unless ranked by carbon."""
    if plan.options.empty or "kgco2e_low" not in plan.options:
        return []
    ref = R.reference_spread(catalog.gpus, plan.job.ref_gpu)
    return R.carbon_ties(plan.options, plan.settings, plan.job.ref_gpu, ref)


def ranges_section(plan: Plan) -> dict[str, Any]:
    """How the options' low/high ranges were made, for the JSON document's assumptions."""
    low, high = R.utilisation_bounds(plan.settings)
    user_set = plan.settings.gpu_utilisation != A.GPU_UTILISATION.value
    return {
        "method": R.METHOD,
        "comparison": R.COMPARISON,
        "gpu_utilisation_low": plain(low),
        "gpu_utilisation_high": plain(high),
        "gpu_utilisation_range_source": (
            "none: the utilisation was set (--utilisation, config or environment) and is "
            "taken as known"
            if user_set
            else f"low: {A.GPU_UTILISATION_LOW.source} [estimated]; "
            f"high: {A.GPU_UTILISATION_HIGH.source}"
        ),
        "throughput": "each GPU's rel_throughput_low/high (gpus.csv) and the reference GPU's "
        f"({plan.job.ref_gpu}); none for options on {plan.job.ref_gpu} itself",
        "intensity": "static rows: the region's gco2_per_kwh_low/high (regions.csv); live, "
        "forecast or cached rows: none (low = high = the figure used)",
    }


def plan_document(plan: Plan, catalog: Catalog, defaults_used: set[str]) -> dict[str, Any]:
    settings = plan.settings.as_dict()
    objective = settings.pop("objective")
    assumptions: dict[str, Any] = {k: plain(v) for k, v in settings.items()}
    assumptions["objective"] = objective
    assumptions["intensity"] = intensity_summary(plan.options)
    assumptions["defaults_used"] = sorted(defaults_used)
    # values from the config file or CARBONPLAN_* rather than a flag or a built-in default
    assumptions["configured"] = dict(plan.configured)
    assumptions["details"] = assumption_rows(settings, defaults_used, dict(plan.configured))
    assumptions["ranges"] = ranges_section(plan)
    ties = carbon_ties(plan, catalog)
    return {
        "carbonplan_version": __version__,
        "job": {
            "gpu_hours": plain(plan.job.gpu_hours),
            "ref_gpu": plan.job.ref_gpu,
            "trials": plan.job.trials,
            "total_ref_gpu_hours": plain(plan.job.total_ref_gpu_hours),
            **{key: plain(value) for key, value in plan.job.details},  # sizing, when used
        },
        "assumptions": assumptions,
        "constraints": plan.constraints.as_dict(),
        "baseline": f"{plan.baseline[0]}:{plan.baseline[1]}" if plan.baseline else None,
        "summary": {
            "candidates": plan.candidates,
            "feasible": plan.feasible,
            "hidden_other_sizes": plan.hidden_sizes,
            "shown": len(plan.options),
            "pareto_shown": int(plan.options["pareto"].sum()),
            "constraint_steps": [
                {"constraint": s.name, "remaining": s.remaining, "detail": s.detail}
                for s in plan.steps
            ],
            # ranks not clearly different from rank 1 on carbon (assumptions.ranges.comparison)
            "carbon_not_clearly_different": (
                {"ranks": ties, "note": R.ties_note(ties)} if ties else None
            ),
        },
        "options": option_records(plan.options),
        "data": data_section(catalog, plan.options),
    }


_METHOD_LABELS = {
    "zone": "EM {year} zone",
    "parent-zone": "EM {year} parent zone",
    "bidding-zone": "ENTSO-E {year} zone",
    "state": "eGRID {year} state",
    "country": "OWID {year} country",
    "province": "Canada {year} province",
    "provider-region": "Google {year} region",
    "marginal": "WattTime {year} marginal",
}


def intensity_label(source: str, year: Any, method: str) -> str:
    """A short tag for a table cell, e.g. ``EM 2023 zone`` or ``OWID 2022 country``; a
    ``same-as-grid`` row (no figure on the asked basis) says it fell back to the grid figure."""
    if method == "same-as-grid":
        grid = next((m for m, prefix in _GRID_PREFIXES if source.startswith(prefix)), "zone")
        return "grid: " + _METHOD_LABELS[grid].format(year=year)
    label = _METHOD_LABELS.get(method)
    return label.format(year=year) if label else f"{method} {year}"


# Which grid method a same-as-grid row repeats, by its source text.
_GRID_PREFIXES = (
    ("zone", "Electricity Maps"),
    ("bidding-zone", "ENTSO-E"),
    ("state", "EPA eGRID"),
    ("country", "Our World in Data"),
)


_LIVE_LABELS = (
    ("Electricity Maps", "EM"),
    ("WattTime", "WattTime"),
    ("GB Carbon Intensity", "GB grid"),
    ("intensity file", "file"),
)


def _intensity_label(row: Any) -> str:
    kind = getattr(row, "intensity_kind", "static")
    if isinstance(kind, str) and kind != "static":  # --intensity: e.g. "EM forecast"
        source = str(row.intensity_source)
        name = next((short for prefix, short in _LIVE_LABELS if source.startswith(prefix)), "")
        return f"{name or 'live'} {kind}"
    return intensity_label(str(row.intensity_source), row.intensity_year, str(row.intensity_method))


def intensity_summary(options: pd.DataFrame) -> str:
    """How the rows' grid intensities were obtained (static, or live per --intensity)."""
    kinds = options["intensity_kind"] if "intensity_kind" in options else pd.Series(dtype=object)
    live = int((kinds.fillna("static") != "static").sum())
    bases = sorted(set(options["intensity_basis"].dropna())) if "intensity_basis" in options else []
    static = _BASIS_SUMMARY.get(",".join(bases), f"static annual figures ({', '.join(bases)})")
    if not live:
        return static
    return (
        f"live grid data for {live} of {len(options)} rows, averaged over each run from now "
        f"(intensity_kind: forecast, live or cached); the rest {static}"
    )


_BASIS_SUMMARY = {
    "": "static annual averages (location-based)",
    "grid": "static annual averages of each region's grid zone (location-based, lifecycle; "
    "--intensity-basis grid)",
    "provider": "static annual figures the clouds publish where they do, else the grid "
    "zone's (--intensity-basis provider)",
    "marginal": "static annual marginal figures where shipped, else the grid zone's average "
    "(--intensity-basis marginal)",
}


def render_plan(plan: Plan, catalog: Catalog, console: Console, explain: bool) -> None:
    options = plan.options
    baseline = "saves_kgco2e" in options.columns
    # Benchmarked relative throughput drives speed only for jobs stated in GPU-hours; a job
    # sized from the model uses peak BF16 FLOPS x MFU for every GPU alike.
    mark_estimated = plan.job.speed_column == "rel_throughput"
    caption = "P = on the cost/CO2e Pareto frontier"
    if mark_estimated and (options["throughput_basis"] == "estimated").any():
        caption += (
            "; * = GPU throughput estimated from specs (no benchmark), so hours, kWh and kg "
            "are estimates too"
        )
    # Padding is written into the cells (" x ") rather than asked of rich: rich wraps every
    # cell of a padded table in a Padding renderable, a third of this table's render time, and
    # suggest's cold start is a product target.
    table = Table(
        title=f"{plan.job.label} - ranked by {plan.settings.objective}",
        caption=caption,
        header_style="bold",
        padding=0,
    )
    columns: list[tuple[str, str]] = [
        ("#", "right"),
        ("P", "center"),
        ("cloud", "left"),
        ("region", "left"),
        ("instance", "left"),
        ("GPUs", "left"),
        ("market", "left"),
        ("inst", "right"),
        ("hours", "right"),
        ("kWh", "right"),
        ("gCO2e/kWh", "right"),
        (_KG_HEADER, "right"),
        ("$", "right"),
        ("intensity", "left"),
    ]
    if baseline:
        columns.append(("vs baseline", "right"))
    timed = "run_now_kgco2e" in options.columns  # --start-after/--deadline/--interruptible
    if timed:
        table.caption = (
            f"{table.caption}; vs now = kg CO2e against starting at --start-after "
            "(run_intervals in --format json lists an interruptible run's hours)"
        )
        columns += [("start (UTC)", "left"), ("vs now", "right")]
    rows: list[list[str]] = []
    places: list[str] = []  # the region cell without its location, for a narrow terminal
    ranged = "kgco2e_low" in options.columns
    for row in options.itertuples(index=False):
        places.append(row.region)
        count = row.gpu_count
        gpus = f"{int(count)}x{row.gpu}" if float(count).is_integer() else f"{count:g}x{row.gpu}"
        if mark_estimated and row.throughput_basis == "estimated":
            gpus += "*"
        cells = [
            str(row.rank),
            "P" if row.pareto else "",
            row.provider,
            f"{row.region} ({row.location})",
            row.instance_type,
            gpus,
            row.market,
            str(row.instances),
            _sig(row.wall_hours),
            _sig(row.energy_kwh),
            _sig(row.gco2_per_kwh),
            kg_cell(row.kgco2e, row.kgco2e_low, row.kgco2e_high) if ranged else _sig(row.kgco2e),
            _fmt(row.cost_usd, 0),
            _intensity_label(row),
        ]
        if baseline:
            if pd.isna(row.saves_kgco2e):
                cells.append("-")
            else:
                cells.append(_savings(row.saves_kgco2e, row.saves_usd))
        if timed:
            start = str(row.start or "")[:16].replace("T", " ")
            pauses = int(row.pauses) if pd.notna(row.pauses) else 0
            cells.append(start + (f", {pauses} pause{'s' * (pauses > 1)}" if pauses else ""))
            cells.append(f"{round(-row.shift_saving_pct, 1) + 0.0:+.1f}%")
        rows.append(cells)
    # A narrow terminal: drop the least needed columns (then shorten region names) rather
    # than let rich cut every cell, the kg figures with them, to "…".
    columns, rows, hidden = _fit_columns(columns, rows, places, console.width)
    if hidden:
        table.caption = (
            f"{table.caption}; not shown at this width: {', '.join(hidden)} (a wider terminal "
            "or --format json has them)"
        )
    # The table is laid out here, not by rich: cells are aligned to their column's width and
    # padded with a space each side, and rich only draws the box (no_wrap, no padding). Rich
    # measuring, wrapping and padding each cell was most of suggest's render time, and
    # suggest's cold start is a product target.
    for i, (name, justify) in enumerate(columns):
        width = max([cell_len(name), *(cell_len(cells[i]) for cells in rows)])
        table.add_column(f" {_align(name, width, justify)} ", no_wrap=True)
        for cells in rows:
            cells[i] = f" {_align(cells[i], width, justify)} "
    for cells in rows:
        table.add_row(*(Text(cell) for cell in cells))
    console.print(table)
    ties = R.ties_note(carbon_ties(plan, catalog))
    if ties:
        console.print(Text(ties))
    shown = len(options)
    console.print(
        f"{shown} of {plan.feasible} feasible options shown"
        + (
            f" (best instance size per region, GPU and market; {plan.hidden_sizes} other "
            "sizes hidden: --all-sizes)"
            if plan.hidden_sizes
            else ""
        )
        + f"; {plan.candidates} candidates before constraints."
    )
    s = plan.settings
    console.print(
        Text(
            f"assumptions: GPUs at {s.gpu_utilisation:.0%} of TDP; host "
            f"{s.cpu_w_per_vcpu} W/vCPU + {s.memory_w_per_gib} W/GiB; PUE per region; "
            f"embodied {s.embodied_g_per_gpu_hour} g/GPU-h; multi-instance efficiency "
            f"{s.scaling_efficiency:.0%}"
            + (
                f". kg ranges: GPU throughput, {_power_range(s)}, grid intensity across years"
                if ranged
                else ""
            )
            + (
                f"; carbon price ${s.carbon_price_usd_per_t:,.0f}/t"
                if s.objective == "balanced"
                else ""
            )
            + f". Intensity: {intensity_summary(plan.options)}."
        ),
        style="dim",
    )
    if plan.job.flops is not None:  # sized from the model: say how hours were derived
        console.print(
            Text(
                f"job sized from the model: {dict(plan.job.details)['gpu_hours_basis']}; "
                "benchmarked relative throughput is not used. `carbonplan size` shows the "
                "derivation."
            ),
            style="dim",
        )
    console.print(
        Text(
            f"data: prices as of {catalog.prices_as_of}; "
            "intensity source per row ('intensity'); --explain for every source."
        ),
        style="dim",
    )
    if explain:
        render_explain(plan, catalog, console)


_KG_HEADER = "kg CO2e (range)"
# Columns a narrow terminal leaves out, first to last; "location" shortens the region cell.
# Never: rank, cloud, region, GPUs, market, kg CO2e and $.
_DROP_ORDER = (
    "intensity",
    "location",
    "kWh",
    "gCO2e/kWh",
    "instance",
    "P",
    "inst",
    "hours",
    "vs baseline",
    "vs now",
    "start (UTC)",  # what a time-shifted plan is about: kept longest
)
_MIN_REGION = 10


def _table_width(columns: list[tuple[str, str]], rows: list[list[str]]) -> int:
    """Cells plus a space each side, plus a border between and around the columns."""
    widths = [
        max([cell_len(name), *(cell_len(cells[i]) for cells in rows)])
        for i, (name, _) in enumerate(columns)
    ]
    return sum(widths) + 2 * len(widths) + len(widths) + 1


def _fit_columns(
    columns: list[tuple[str, str]], rows: list[list[str]], places: list[str], width: int
) -> tuple[list[tuple[str, str]], list[list[str]], list[str]]:
    """The columns and cells that fit ``width`` terminal cells, and the names left out: the
    columns of :data:`_DROP_ORDER` go first to last until the table fits, then each is put
    back, most needed first, where it still fits."""
    names = [c for c, _ in columns]
    region = names.index("region")

    def layout(hidden: set[str]) -> tuple[list[tuple[str, str]], list[list[str]]]:
        keep = [i for i, name in enumerate(names) if name not in hidden]
        cells = rows
        if "location" in hidden:
            cells = [
                [*r[:region], place, *r[region + 1 :]]
                for r, place in zip(rows, places, strict=True)
            ]
        return [columns[i] for i in keep], [[r[i] for i in keep] for r in cells]

    droppable = [n for n in _DROP_ORDER if n in names or n == "location"]
    hidden: list[str] = []
    for name in droppable:
        if _table_width(*layout(set(hidden))) <= width:
            break
        hidden.append(name)
    for name in reversed(list(hidden)):
        trial = set(hidden) - {name}
        if _table_width(*layout(trial)) <= width:
            hidden.remove(name)
    shown_columns, shown_rows = layout(set(hidden))
    excess = _table_width(shown_columns, shown_rows) - width
    if excess > 0:  # last resort: shorten region names
        i = [c for c, _ in shown_columns].index("region")
        longest = max(cell_len(r[i]) for r in shown_rows)
        keep_width = max(_MIN_REGION, longest - excess)
        shown_rows = [[*r[:i], _cut(r[i], keep_width), *r[i + 1 :]] for r in shown_rows]
    labels = {"location": "region location"}
    return shown_columns, shown_rows, [labels.get(n, n) for n in _DROP_ORDER if n in hidden]


def _cut(text: str, width: int) -> str:
    return text if cell_len(text) <= width else text[: width - 1] + "…"


def _power_range(settings: Any) -> str:
    low, high = R.utilisation_bounds(settings)
    if low == high:
        return "no power spread (--utilisation set)"
    return f"GPU power {low:.0%}-{high:.0%} of TDP"


def render_explain(plan: Plan, catalog: Catalog, console: Console) -> None:
    settings = plan.settings.as_dict()
    settings.pop("objective")
    table = Table(title="Assumptions", header_style="bold")
    for col in ("name", "value", "unit", "source"):
        table.add_column(col, overflow="fold")
    for row in assumption_rows(settings, set()):
        label = row["source"] + (" [estimated]" if row["estimated"] else "")
        table.add_row(row["name"], str(row["value"]), row["unit"], label)
    console.print(table)
    steps = ", ".join(f"{s.name} -> {s.remaining}" for s in plan.steps) or "none"
    console.print(f"constraints applied (options left): {steps}")
    options = plan.options
    regions = options.drop_duplicates(["provider", "region"])
    rtable = Table(title="Grid intensity and PUE of the regions shown", header_style="bold")
    for col in ("region", "gCO2e/kWh", "source", "PUE", "PUE source"):
        rtable.add_column(col, overflow="fold")
    for r in regions.itertuples(index=False):
        rtable.add_row(
            f"{r.provider}:{r.region}",
            _sig(r.gco2_per_kwh),
            f"{r.intensity_source} ({r.intensity_basis} basis, {r.intensity_method}, "
            f"{r.intensity_year}; range {_sig(r.gco2_per_kwh_low)}-{_sig(r.gco2_per_kwh_high)})",
            f"{r.pue:.2f}",
            r.pue_source,
        )
    console.print(rtable)
    gtable = Table(title="GPU throughput (relative to A100-80GB)", header_style="bold")
    for col in ("gpu", "rel", "basis", "evidence"):
        gtable.add_column(col, overflow="fold")
    used = catalog.gpus[catalog.gpus["gpu"].isin({*options["gpu"], plan.job.ref_gpu})]
    for g in used.itertuples(index=False):
        gtable.add_row(g.gpu, f"{g.rel_throughput:g}", g.throughput_basis, g.throughput_source)
    console.print(gtable)
    prices = options.drop_duplicates(["price_source"])
    console.print(
        "price sources: "
        + "; ".join(
            f"{p.price_source} (as of {p.price_as_of})" for p in prices.itertuples(index=False)
        )
    )


def estimate_document(result: Estimate) -> dict[str, Any]:
    return {k: plain(v) if not isinstance(v, dict) else v for k, v in result.as_dict().items()}


def render_estimate(result: Estimate, console: Console) -> None:
    table = Table(
        title=f"{result.count:g} x {result.gpu} for {result.hours:,.10g} h",
        header_style="bold",
        show_header=False,
    )
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_column("from", overflow="fold")
    src = result.sources
    power_from = src.get("power_w", "")
    rows = [
        ("average IT power", f"{result.power_w:,.0f} W", power_from),
        ("PUE", f"{result.pue:.2f}", src.get("pue", "")),
        ("energy", f"{result.energy_kwh:,.1f} kWh", "power x hours x PUE"),
        ("grid intensity", f"{result.gco2_per_kwh:,.1f} gCO2e/kWh", src.get("gco2_per_kwh", "")),
        ("operational", f"{result.operational_kgco2e:,.1f} kg CO2e", "energy x intensity"),
        (
            "embodied",
            f"{result.embodied_kgco2e:,.1f} kg CO2e",
            src.get("embodied_g_per_gpu_hour", ""),
        ),
        ("total", f"{result.kgco2e:,.1f} kg CO2e", ""),
    ]
    if result.gpu_power_w is not None and result.host_power_w is not None:
        rows[0:0] = [
            ("GPU power", f"{result.gpu_power_w:,.0f} W per GPU", src.get("gpu_power_w", "")),
            ("host power", f"{result.host_power_w:,.0f} W", src.get("host_power_w", "")),
        ]
    for row in rows:
        table.add_row(*row)
    console.print(table)
    eq = Table(title="Equivalent to", header_style="bold")
    for col in ("", "amount", "source"):
        eq.add_column(col, overflow="fold")
    labels = {
        "car_km": "km driven by an average car",
        "flights_london_new_york": "one-way London-New York economy flights",
        "household_days_electricity": "days of an average US household's electricity",
    }
    for key, item in result.equivalents().items():
        eq.add_row(labels[key], _sig(item["value"]), item["source"])
    console.print(eq)


# The data files' own columns (recommender/catalog/schema.py), plus what the commands join on.
REGION_FIELDS = [c.name for c in schema.REGIONS] + ["gpus"]
GPU_FIELDS = [c.name for c in schema.GPUS] + ["providers"]


def region_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    records = frame_records(frame, REGION_FIELDS)
    for record in records:
        record["gpus"] = list(record["gpus"])
    return records


def render_regions(frame: pd.DataFrame, console: Console) -> None:
    bases = sorted(set(frame["intensity_basis"]))
    exceptions = int(
        (~frame["intensity_method"].isin(["zone", "provider-region", "marginal"])).sum()
    )
    caption = (
        f"intensity: {', '.join(bases)} basis (annual, gCO2e/kWh; range over recent years and "
        "sources); source tags other than 'EM <year> zone', 'Google <year> region' and "
        f"'WattTime <year> marginal' mark an exception to the basis ({exceptions} here)"
    )
    table = Table(title=f"{len(frame)} regions", caption=caption, header_style="bold")
    for col, justify in [
        ("region", "left"),
        ("location", "left"),
        ("gCO2e/kWh", "right"),
        ("range", "right"),
        ("intensity source", "left"),
        ("PUE", "right"),
        ("GPUs", "left"),
    ]:
        table.add_column(col, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for r in frame.itertuples(index=False):
        table.add_row(
            f"{r.provider}:{r.region}",
            f"{r.location}, {r.country_code}",
            _sig(r.gco2_per_kwh),
            f"{_sig(r.gco2_per_kwh_low)}-{_sig(r.gco2_per_kwh_high)}",
            intensity_label(str(r.intensity_source), r.intensity_year, str(r.intensity_method)),
            f"{r.pue:.2f}",
            ", ".join(r.gpus),
        )
    console.print(table)


def gpu_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    records = frame_records(frame, GPU_FIELDS)
    for record in records:
        record["providers"] = list(record["providers"])
    return records


def render_gpus(frame: pd.DataFrame, console: Console) -> None:
    table = Table(
        title=f"{len(frame)} GPUs (throughput relative to A100-80GB)", header_style="bold"
    )
    for col, justify in [
        ("gpu", "left"),
        ("TDP W", "right"),
        ("memory GB", "right"),
        ("BF16 TFLOPS", "right"),
        ("rel. throughput", "right"),
        ("basis", "left"),
        ("clouds", "left"),
    ]:
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for g in frame.itertuples(index=False):
        table.add_row(
            g.gpu,
            f"{g.tdp_w:g}",
            f"{g.memory_gb:g}",
            "" if pd.isna(g.bf16_tflops) else f"{g.bf16_tflops:g}",
            f"{g.rel_throughput:g}",
            g.throughput_basis,
            ", ".join(g.providers),
        )
    console.print(table)
