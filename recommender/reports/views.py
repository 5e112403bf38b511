"""Documents (for JSON/CSV) and rich renderings (for people) of each command's result."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from recommender import __version__
from recommender import assumptions as A
from recommender.catalog import Catalog, schema
from recommender.errors import BadInputError
from recommender.planner import Estimate, Plan
from recommender.planner import ranges as R
from recommender.planner.core import combine_markets
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
        # one entry per kind, with every rank it concerns (the table prints them as lines)
        "warnings": plan_warnings(plan.options, plan),
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
    ("province", "CodeCarbon 3.3.2 canada_energy_mix"),
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


def intensity_summary(options: pd.DataFrame, noun: str = "options") -> str:
    """How these options' grid intensities were obtained: static annual figures, or a time
    series (a grid API's live data or forecast, its cache, or --intensity-file) averaged
    over each option's own run, whenever that run starts."""
    kinds = options["intensity_kind"] if "intensity_kind" in options else pd.Series(dtype=object)
    timed = int((kinds.fillna("static") != "static").sum())
    bases = sorted(set(options["intensity_basis"].dropna())) if "intensity_basis" in options else []
    static = _BASIS_SUMMARY.get(",".join(bases), f"static annual figures ({', '.join(bases)})")
    if not timed:
        return static
    sources = options.get("intensity_source", kinds)
    from_file = bool(
        sources[kinds.fillna("static") != "static"]
        .astype(str)
        .str.startswith("intensity file")
        .all()
    )
    series = "the intensity file's series" if from_file else "live grid data"
    rest = f"; the rest {static}" if timed < len(options) else ""
    return (
        f"{series} for {timed} of {len(options)} {noun}, averaged over each one's own run "
        f"(intensity_kind: forecast, live or cached; intensity_source names it){rest}"
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


#: ``suggest --markets``: one table row per instance and region with both markets' prices
#: (combined), or one row per market (split). JSON and CSV always have one object per market.
MARKET_VIEWS = ("combined", "split")
LONG_RUN_DAYS = 30  # warn of options that run longer than this many days of wall time
# Warn of spot runs longer than this without --interruptible. Spot capacity is reclaimed at
# a provider's will (2 minutes' notice on AWS, 30 s on GCP and Azure); for GPU instances an
# interruption within a day is common, so a run of more than a day that cannot resume from
# a checkpoint is likely to lose work.
SPOT_RUN_HOURS = 24


def table_options(plan: Plan, markets: str = "split", top: int | None = None) -> pd.DataFrame:
    """The rows the suggest table shows: with ``markets="combined"``, one per instance and
    region (:func:`recommender.planner.core.combine_markets`, each at its preferred market's
    rank), else one per option; the first ``top`` (all when None or 0)."""
    options = plan.options
    if markets not in MARKET_VIEWS:
        raise BadInputError(f"unknown market view {markets!r}", "use combined or split")
    if markets == "combined" and options["market"].nunique() > 1:
        options = combine_markets(options, top or None)
    return options.head(top) if top else options


def plan_warnings(
    options: pd.DataFrame, plan: Plan, *, rows: str = "options"
) -> list[dict[str, Any]]:
    """What a reader of ``options`` should be warned about, one entry per kind with every rank
    it concerns: very long runs, long spot runs that cannot resume, throughput estimated from
    specs, a baseline compared on another instance. ``rows`` names what is counted."""
    warnings: list[dict[str, Any]] = []
    total = len(options)

    def add(code: str, mask: Any, what: str, advice: str) -> None:
        ranks = [int(r) for r in options["rank"].to_numpy()[np.asarray(mask, dtype=bool)]]
        if ranks:
            label = "rank" if len(ranks) == 1 else "ranks"
            if total == 1:
                head = f"the {rows.replace('rows', 'row').replace('options', 'option')}"
            elif len(ranks) == total:
                head = f"all {total} {rows}"
            else:
                head = f"{len(ranks)} of the {total} {rows}"
            message = f"{head} {what}: {label} {R.ranks_text(ranks)}; {advice}"
            warnings.append({"code": code, "ranks": ranks, "message": message})

    if options.empty:
        return warnings
    hours = options["wall_hours"].to_numpy(dtype=float)
    long_run = hours > LONG_RUN_DAYS * 24
    if long_run.any():
        add(
            "long-run",
            long_run,
            f"run{'s' * (total == 1)} longer than {LONG_RUN_DAYS} days of wall time (longest "
            f"{hours[long_run].max():,.0f} h)",
            "--deadline HOURS adds instances to finish sooner",
        )
    if not plan.constraints.interruptible:
        add(
            "spot-long-run",
            (options["market"] == "spot").to_numpy() & (hours > SPOT_RUN_HOURS),
            f"{'is a spot run' if total == 1 else 'are spot runs'} longer than {SPOT_RUN_HOURS} h",
            "spot capacity can be taken back at any time: checkpoint the job (--interruptible "
            "plans the restarts), or use --on-demand",
        )
    if "throughput_basis" in options:
        add(
            "estimated-throughput",
            options["throughput_basis"] == "estimated",
            f"run{'s' * (total == 1)} on GPUs whose throughput is estimated from specs (*)",
            "their hours, kWh and kg are estimates too",
        )
    from recommender.catalog.overlay import STALE_ADVICE, stale_mask

    stale = stale_mask(options)
    if stale is not None:
        mask, limit, oldest = stale
        add(
            "stale-prices",
            mask,
            f"{'has' if total == 1 else 'have'} prices more than {limit:g} days old (oldest "
            f"{oldest})",
            STALE_ADVICE,
        )
    if plan.baseline and "baseline_match" in options:
        where = f"{plan.baseline[0]}:{plan.baseline[1]}"
        add(
            "baseline-other-instance",
            options["baseline_match"] == "same-gpus",
            f"{'is' if total == 1 else 'are'} compared with another instance type in {where} "
            "(it has not theirs): the closest with the same GPUs, market and CPU architecture",
            "--format json names it (baseline_instance_type)",
        )
        add(
            "baseline-missing",
            options["baseline_match"].isna(),
            f"{'has' if total == 1 else 'have'} nothing comparable in {where} (no instance "
            "with the same GPUs, market and CPU architecture)",
            "their 'vs baseline' is '-'",
        )
    return warnings


def render_plan(
    plan: Plan,
    catalog: Catalog,
    console: Console,
    explain: bool,
    *,
    top: int | None = None,
    markets: str = "split",
    wide: bool = False,
) -> None:
    """The suggest table and its notes. Rows: :func:`table_options`. The table fits
    ``console.width`` by leaving out columns in :data:`_DROP_ORDER` (and saying so); rank,
    cloud, region, GPUs, market, kg CO2e and $ are always whole. ``wide`` keeps every column
    at full width, however wide the terminal."""
    options = table_options(plan, markets, top)
    baseline = "saves_kgco2e" in options.columns
    combined = "spot_cost_usd" in options.columns
    # Every job's speed comes from the benchmarked relative throughput (one throughput model),
    # so an estimated factor makes hours, kWh and kg estimates: marked *.
    notes = ["P = on the cost/CO2e Pareto frontier (to 3 significant figures, as ranked)"]
    if (options["throughput_basis"] == "estimated").any():
        notes[0] += "; * = GPU throughput estimated from specs"
    columns: list[tuple[str, str, str]] = [  # (name, header, justify)
        ("#", "#", "right"),
        ("P", "P", "center"),
        ("cloud", "cloud", "left"),
        ("region", "region", "left"),
        ("instance", "instance", "left"),
        ("GPUs", "GPUs", "left"),
        ("market", "market", "left"),
        ("inst", "inst", "right"),
        ("hours", "hours", "right"),
        ("kWh", "kWh", "right"),
        ("gCO2e/kWh", "gCO2e/kWh", "right"),
        ("kg", _KG_HEADER, "right"),
        ("$", "$ spot /\non-demand" if combined else "$", "right"),
        ("intensity", "intensity", "left"),
    ]
    if baseline:
        columns.append(("vs baseline", "vs baseline", "right"))
    timed = "run_now_kgco2e" in options.columns  # --start-after/--deadline/--interruptible
    if timed:
        notes.append(
            "vs now = kg CO2e against starting at --start-after (run_intervals in --format "
            "json lists an interruptible run's hours)"
        )
        columns += [("start (UTC)", "start (UTC)", "left"), ("vs now", "vs now", "right")]
    rows: list[list[str]] = []
    places: list[str] = []  # the region cell without its location, for a narrow terminal
    ranged = "kgco2e_low" in options.columns
    for row in options.itertuples(index=False):
        places.append(row.region)
        count = row.gpu_count
        gpus = f"{int(count)}x{row.gpu}" if float(count).is_integer() else f"{count:g}x{row.gpu}"
        if row.throughput_basis == "estimated":
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
            _price_pair(row.spot_cost_usd, row.on_demand_cost_usd)
            if combined
            else _fmt(row.cost_usd, 0),
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
    if combined and options["other_rank"].notna().any():
        notes.append(
            "# = the rank of the row's market in --format json/csv; a missing number is the "
            "other market of a row above (--markets split shows it as a row)"
        )
    table = _suggest_table(
        f"{plan.job.label} - ranked by {plan.settings.objective}",
        columns,
        rows,
        places,
        None if wide else console.width,
        notes,
    )
    if wide:  # full width whatever the terminal: it wraps or cuts the lines itself
        width = console.width
        console.width = max(width, _table_width([c[1] for c in columns], rows))
        console.print(table)
        console.width = width
    else:
        console.print(table)
    for note in notes:
        console.print(Text(note))
    ties = R.ties_note(carbon_ties(replace(plan, options=options), catalog))
    if ties:
        console.print(Text(ties))
    for warning in plan_warnings(options, plan, rows="rows shown"):
        console.print(Text(f"warning: {warning['message']}", style="yellow"))
    shown = len(options)
    console.print(
        Text(
            (
                f"{shown} {'row' if shown == 1 else 'rows'} "
                f"({'rank' if shown == 1 else 'ranks'} {R.ranks_text(sorted(options['rank']))}; "
                "spot and "
                "on-demand of an instance share a row: --markets split)"
                if combined
                else f"{shown}"
            )
            + f" of {plan.feasible} feasible options shown"
            + (
                f" (best instance size per region, GPU and market; {plan.hidden_sizes} other "
                "sizes hidden: --all-sizes)"
                if plan.hidden_sizes
                else ""
            )
            + f"; {plan.candidates} candidates before constraints."
        )
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
            + f". Intensity: {intensity_summary(options, 'rows shown')}."
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


def _price_pair(spot: float, on_demand: float) -> str:
    """``214 / 1,385``: spot and on-demand cost of one instance; ``-`` for a market that is
    not among the options."""
    return " / ".join("-" if pd.isna(v) else _fmt(v, 0) for v in (spot, on_demand))


_KG_HEADER = "kg CO2e\n(range)"
# What a narrow terminal leaves out, first to last, until the table fits; then each is put
# back, last dropped first, where it still fits. "location" shortens the region cell to its
# name, "instance-short" shortens instance names (Azure's "Standard_" prefix, then an
# ellipsis). Never: rank, cloud, region, GPUs, market, kg CO2e and $.
_DROP_ORDER = (
    "intensity",
    "kWh",
    "gCO2e/kWh",
    "location",
    "instance-short",
    "inst",
    "instance",
    "hours",
    "P",
    "vs baseline",
    "vs now",
    "start (UTC)",  # what a time-shifted plan is about: kept longest
)
_DROP_LABELS = {
    "intensity": "intensity source",
    "location": "region location",
    "inst": "instance count",
    "instance": "instance type",
    "P": "Pareto mark",
}
_SHORT_INSTANCE = 14  # cells of an instance name once shortened
_MIN_REGION = 10
# A line under the header and two blanks between columns: the least width a readable table
# takes (a boxed table spends three cells per column, which at 80 columns costs the P mark
# and hours).
_BOX = box.SIMPLE_HEAD


def _widths(headers: list[str], rows: list[list[str]]) -> list[int]:
    """Each column's natural width in terminal cells (wide characters count double): what
    rich measures for a cell that does not wrap."""
    return [
        max([*(cell_len(line) for line in header.split("\n")), *(cell_len(r[i]) for r in rows)])
        for i, header in enumerate(headers)
    ]


def _table_width(headers: list[str], rows: list[list[str]]) -> int:
    """Cells plus two spaces between columns (a blank written before the cell and the box's
    blank vertical; nothing at the edges)."""
    return sum(_widths(headers, rows)) + 2 * (len(headers) - 1)


def fitted_table(
    title: str,
    columns: tuple[tuple[str, str], ...],
    rows: list[list[str]],
    width: int,
    *,
    drop: tuple[str, ...],
    shrink: str,
    sections: list[bool] | None = None,
) -> tuple[Table, list[str]]:
    """A table of plain cells that fits ``width`` the way the suggest table does: columns in
    ``drop`` are left out, first to last, until it fits (then put back, last first, where
    they still fit); as a last resort the ``shrink`` column is cut with an ellipsis. Every
    other cell is whole, on one line. Returns the table and the columns left out."""
    names = [c[0] for c in columns]

    def fits(hidden: list[str]) -> bool:
        keep = [i for i, n in enumerate(names) if n not in hidden]
        return _table_width([names[i] for i in keep], [[r[i] for i in keep] for r in rows]) <= (
            width
        )

    hidden: list[str] = []
    for name in drop:
        if fits(hidden):
            break
        hidden.append(name)
    for name in reversed(list(hidden)):
        if fits([h for h in hidden if h != name]):
            hidden.remove(name)
    keep = [i for i, n in enumerate(names) if n not in hidden]
    headers = [names[i] for i in keep]
    cells = [[r[i] for i in keep] for r in rows]
    widths = _widths(headers, cells)
    excess = _table_width(headers, cells) - width
    table = Table(
        title=title, title_justify="left", header_style="bold", box=_BOX, show_edge=False,
        padding=0,
    )  # fmt: skip
    for j, (i, cell_width) in enumerate(zip(keep, widths, strict=True)):
        gap = " " if j else ""
        name, justify = columns[i]
        if name == shrink and excess > 0:
            table.add_column(
                gap + name,
                justify=justify,  # type: ignore[arg-type]
                no_wrap=True,
                overflow="ellipsis",
                max_width=max(_MIN_REGION, cell_width - excess) + len(gap),
            )
        else:
            table.add_column(
                gap + name,
                justify=justify,  # type: ignore[arg-type]
                no_wrap=True,
                min_width=cell_width + len(gap),
            )
    for k, r in enumerate(cells):
        table.add_row(
            *(Text(c if j == 0 else " " + c) for j, c in enumerate(r)),
            end_section=bool(sections and sections[k] and k < len(cells) - 1),
        )
    return table, hidden


def _short_instance(name: str) -> str:
    name = name.removeprefix("Standard_")  # every Azure size has it
    return name if cell_len(name) <= _SHORT_INSTANCE else name[: _SHORT_INSTANCE - 1] + "…"


def _suggest_table(
    title: str,
    columns: list[tuple[str, str, str]],
    rows: list[list[str]],
    places: list[str],
    width: int | None,
    notes: list[str],
) -> Table:
    """The table, with the columns that fit ``width`` (all when None); what was left out is
    added to ``notes``. Which columns fit is worked out here from each column's widest cell
    (rich has no notion of leaving a column out); rich lays out what is kept: every cell on
    one line (``no_wrap``), justified per column, the region cut with an ellipsis at its
    ``max_width`` as a last resort, every other column held at its full width
    (``min_width``)."""
    names = [c[0] for c in columns]
    region, instance = names.index("region"), names.index("instance")

    def layout(hidden: set[str]) -> tuple[list[int], list[list[str]]]:
        keep = [i for i, name in enumerate(names) if name not in hidden]
        cells = [list(r) for r in rows]
        if "location" in hidden:
            for r, place in zip(cells, places, strict=True):
                r[region] = place
        if "instance-short" in hidden:
            for r in cells:
                r[instance] = _short_instance(r[instance])
        return keep, [[r[i] for i in keep] for r in cells]

    def fits(hidden: set[str]) -> bool:
        keep, cells = layout(hidden)
        return width is None or _table_width([columns[i][1] for i in keep], cells) <= width

    droppable = [n for n in _DROP_ORDER if n in names or n in ("location", "instance-short")]
    hidden: list[str] = []
    for name in droppable:
        if fits(set(hidden)):
            break
        hidden.append(name)
    for name in reversed(list(hidden)):
        if fits(set(hidden) - {name}):
            hidden.remove(name)
    keep, cells = layout(set(hidden))
    headers = [columns[i][1] for i in keep]
    widths = _widths(headers, cells)
    kept = [names[i] for i in keep]
    max_widths: dict[str, int] = {}
    if width is not None and _table_width(headers, cells) > width:  # last resort
        excess = _table_width(headers, cells) - width
        max_widths["region"] = max(_MIN_REGION, widths[kept.index("region")] - excess)
    # The space between columns is written into the cells (a blank before every column but
    # the first, plus the box's blank vertical) rather than asked of rich as padding: rich
    # wraps every cell of a padded table in a Padding renderable, a quarter of this table's
    # render time, and suggest's cold start is a product target.
    table = Table(title=title, header_style="bold", box=_BOX, show_edge=False, padding=0)
    for j, (name, header, cell_width) in enumerate(zip(kept, headers, widths, strict=True)):
        gap = " " if j else ""
        justify = columns[names.index(name)][2]
        label = "\n".join(gap + line for line in header.split("\n"))
        if name in max_widths:  # rich cuts the names with an ellipsis
            table.add_column(
                label,
                justify=justify,  # type: ignore[arg-type]
                no_wrap=True,
                overflow="ellipsis",
                max_width=max_widths[name] + len(gap),
            )
        else:  # never narrower than its widest cell
            table.add_column(
                label,
                justify=justify,  # type: ignore[arg-type]
                no_wrap=True,
                min_width=cell_width + len(gap),
            )
    for r in cells:
        table.add_row(*(Text(c if j == 0 else " " + c) for j, c in enumerate(r)))
    shown = [n for n in hidden if n != "instance-short" or "instance" not in hidden]
    if shown:
        left_out = [_DROP_LABELS.get(n, n) for n in shown if n != "instance-short"]
        parts = []
        if left_out:
            parts.append("not shown at this width: " + ", ".join(left_out))
        if "instance-short" in shown:
            parts.append("instance names shortened")
        notes.append(
            "; ".join(parts) + " (--wide shows every column, --format csv or json every field)"
        )
    return table


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
    # Borderless like the suggest table (a box costs 3 columns a column): names and figures
    # stay whole on one line; the words of location, source and GPUs wrap.
    table = Table(
        title=f"{len(frame)} regions",
        caption=caption,
        header_style="bold",
        box=_BOX,
        show_edge=False,
    )
    # Below 100 columns the location goes (the region id names the place; --format csv has it).
    located = console.width >= 100
    for col, justify, whole in [
        ("region", "left", True),
        *([("location", "left", False)] if located else []),
        ("g/kWh", "right", True),
        ("range", "right", True),
        ("source", "left", False),
        ("PUE", "right", True),
        ("GPUs", "left", False),
    ]:
        table.add_column(
            col,
            justify=justify,  # type: ignore[arg-type]
            no_wrap=whole,
            overflow="ellipsis" if whole else "fold",
            ratio=None if whole else 1,
        )
    for r in frame.itertuples(index=False):
        table.add_row(
            f"{r.provider}:{r.region}",
            *([f"{r.location}, {r.country_code}"] if located else []),
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
