"""Wording and number formats shared by the HTML and Markdown reports, so both say the same
thing in the same words."""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime
from typing import Any

import numpy as np

from recommender.reports.report import OBJECTIVE_WORDS, Report, Timing, option_label

__all__ = ["OBJECTIVE_WORDS", "option_label"]

TRADEOFF_CAPTION = (
    "Each point is one option (cloud, region, instance type, market). Colour and fill show the "
    "cloud, the marker shape the market (circle = on-demand, triangle = spot). The dashed "
    "staircase is the Pareto frontier: for a point on it, no option is both cheaper and "
    "cleaner. The star is the recommended option; the white X is the same job in the baseline "
    "region."
)
REGIONS_CAPTION = (
    "For each region, the solid bar is the lowest kg CO2e of any option there (bottom axis); "
    "the hatched bar behind it is the region's grid intensity in gCO2e/kWh (top axis), also "
    "written in each label. Regions are sorted cleanest first."
)
LADDER_INTRO = (
    "Budgets are multiples of the cheapest option's cost. Each row is the lowest-carbon option "
    "that budget affords, and the price of the extra tonnes avoided against the row above: "
    "compare it with the carbon price your organisation uses."
)
LADDER_CAPTION = (
    "A larger budget never buys a dirtier option: kg CO2e falls or stays level down the table. "
    "'any' is the lowest-carbon option at any price, shown when it costs more than the last step."
)
EQUIVALENT_LABELS = {
    "car_km": "km driven by an average car",
    "flights_london_new_york": "one-way London-New York economy flights",
    "household_days_electricity": "days of an average US household's electricity",
}
EQUIVALENTS_CAPTION = (
    "Car and flight equivalents are of kg CO2e; household electricity is of the job's energy."
)
TIME_SHIFT_NOTE = (
    "With annual average grid intensity (the default) the start time does not change an "
    "option's emissions, so no timing chart is drawn. With a --deadline (and optionally "
    "--start-after or --interruptible) and live or trace intensity (--intensity, "
    "--intensity-file), the report "
    "draws the recommended region's intensity up to the deadline with the chosen run shaded "
    "(timing.png), and each option's start, end and saving against starting at once are in "
    "options.csv and plan.json."
)
TIME_SHIFT_NO_CURVE = (
    "This plan has start times but not the intensity curve they were chosen on (a saved "
    "'suggest --format json' does not keep it): run 'carbonplan report' with the same flags to "
    "draw it."
)
TIMING_CAPTION = (
    "The black step line is the region's grid intensity per period, from --start-after to the "
    "deadline. The hatched, shaded span is when the recommended option runs (each stretch, when "
    "it pauses); the dashed box is the same job started at once, for comparison."
)


def when(value: datetime) -> str:
    """``2025-03-10 03:00 UTC`` (seconds only where they are not zero)."""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC" if value.second else "%Y-%m-%d %H:%M UTC")


def timing_title(timing: Timing) -> str:
    return f"When to run: grid intensity in {timing.region}, {when(timing.start_after)} to " + (
        f"{when(timing.deadline)}"
    )


def timing_paragraphs(report: Report) -> list[str]:
    """The "When to run" section's text: the chosen start and its saving where time shifting
    applied, else what would make it apply."""
    t = report.timing
    if t is None:
        rec = report.recommended
        searched = (report.document.get("constraints") or {}).get("deadline_at") is not None
        shifted = rec.get("intensity_kind") not in (None, "static") and rec.get("start")
        return [TIME_SHIFT_NOTE] + ([TIME_SHIFT_NO_CURVE] if searched and shifted else [])
    rec = report.recommended
    start, end = t.run[0][0], t.run[-1][1]
    out = []
    if t.delay_hours <= 0 and t.pauses == 0:
        out.append(
            f"Starting at once ({when(start)}) is already the cleanest window before the "
            f"deadline ({when(t.deadline)}): the recommended option runs at "
            f"{sig(t.run_gco2_per_kwh)} gCO2e/kWh in {t.region}."
        )
    else:
        lead = (
            f"Start at {when(start)}, {hours(t.delay_hours)} after --start-after "
            f"({when(t.start_after)}), and finish by {when(end)}"
        )
        if t.pauses:
            stretch = "stretch" if len(t.run) == 1 else "stretches"
            lead += f", pausing {t.pauses} times ({len(t.run)} {stretch} of running)"
        saving = (
            f"{t.saving_pct:.0f}% less CO2e"
            if t.saving_pct is not None and t.saving_pct >= 0
            else "a different footprint"
        )
        if t.run_now_kgco2e is not None:
            saving += f" ({kg(rec['kgco2e'])} instead of {kg(t.run_now_kgco2e)})"
        out.append(
            f"{lead}: the recommended option then runs at {sig(t.run_gco2_per_kwh)} gCO2e/kWh in "
            f"{t.region} instead of {sig(t.run_now_gco2_per_kwh)} if started at once - "
            f"{saving}."
        )
    source = f"Intensity: {t.source}, per {hours((t.edges[1] - t.edges[0]).total_seconds() / 3600)}"
    if t.data_end is not None:
        source += f"; the data end at {when(t.data_end)}, and later periods repeat the last value"
    out.append(source + ".")
    return out


def timing_alt(report: Report) -> str:
    t = report.timing
    if t is None:
        return ""
    finite = t.gco2_per_kwh[np.isfinite(t.gco2_per_kwh)]
    spread = (
        f" between {sig(finite.min())} and {sig(finite.max())} gCO2e/kWh" if len(finite) else ""
    )
    runs = "; ".join(f"{when(a)} to {when(b)}" for a, b in t.run)
    return (
        f"Line chart of grid intensity in {t.region} from {when(t.start_after)} to "
        f"{when(t.deadline)}{spread}. Shaded: the chosen run, {runs}, at a mean "
        f"{sig(t.run_gco2_per_kwh)} gCO2e/kWh. Outlined: starting at once, {when(t.run_now[0])} "
        f"to {when(t.run_now[1])}, at a mean {sig(t.run_now_gco2_per_kwh)} gCO2e/kWh."
    )


def sig(value: Any) -> str:
    """Three significant figures or so, with thousands separators."""
    v = float(value)
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:,.1f}"
    if v >= 1 or v == 0:
        return f"{v:,.2f}"
    return f"{v:.2g}"


def kg(value: Any) -> str:
    v = float(value)
    if v >= 1000:
        return f"{v / 1000:,.2f} t"
    return f"{sig(v)} kg"


def usd(value: Any) -> str:
    v = float(value)
    return f"${v:,.0f}" if v >= 100 else f"${v:,.2f}"


def hours(value: Any) -> str:
    return f"{sig(value)} h"


def change_kg(delta: float, base: float) -> str:
    """``-29 kg (-85%)``."""
    pct = f" ({delta / base:+.0%})" if base else ""
    sign = "-" if delta < 0 else "+"
    return f"{sign}{kg(abs(delta))}{pct}"


def change_usd(delta: float) -> str:
    if abs(delta) < 0.005:
        return "same cost"
    return f"{usd(abs(delta))} {'more' if delta > 0 else 'less'}"


def gpus(option: dict[str, Any]) -> str:
    count = option.get("gpus_per_instance")
    if isinstance(count, float) and count.is_integer():
        count = int(count)
    text = f"{count}x{option['gpu']}" if count is not None else str(option["gpu"])
    return text + ("*" if option.get("throughput_basis") == "estimated" else "")


def savings(option: dict[str, Any]) -> str:
    saves_kg, saves_usd = option.get("saves_kgco2e"), option.get("saves_usd")
    if not _finite(saves_kg) or not _finite(saves_usd):
        return "-"
    assert saves_kg is not None and saves_usd is not None
    return f"{-saves_kg:+,.1f} kg, {'+' if saves_usd <= 0 else '-'}${abs(saves_usd):,.0f}"


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def ladder_rows(report: Report) -> list[list[str]]:
    """budget, budget $, option, $, kg, kg avoided, $/t avoided, below the carbon price?"""
    price = report.carbon_price
    rows = []
    for i, step in enumerate(report.ladder):
        multiple = step["budget_multiple"]
        per_t = step["usd_per_t_avoided"]
        if i == 0:
            avoided, marginal, verdict = "-", "-", "-"
        elif per_t is None:
            avoided, marginal, verdict = "0", "nothing more avoided", "-"
        else:
            avoided = sig(step["avoided_kgco2e"])
            marginal = f"${per_t:,.0f}"
            verdict = "-" if price is None else ("yes" if per_t <= price else "no")
        rows.append(
            [
                "cheapest" if i == 0 else ("any" if multiple is None else f"{multiple:g}x"),
                "-" if step["budget_usd"] is None else usd(step["budget_usd"]),
                option_label(step),
                usd(step["cost_usd"]),
                sig(step["kgco2e"]),
                avoided,
                marginal,
                verdict,
            ]
        )
    return rows


def share_sentence(report: Report) -> str:
    rec = report.recommended
    op, em = float(rec["operational_kgco2e"]), float(rec["embodied_kgco2e"])
    total = op + em
    if not total:
        return "The recommended option emits nothing by this model."
    return (
        f"The recommended option's {kg(total)} CO2e is {kg(op)} operational (electricity, "
        f"{op / total:.0%}) and {kg(em)} embodied (making the hardware, {em / total:.0%})."
    )


def page_title(report: Report) -> str:
    return f"Where to run {report.title}"


def meta_line(report: Report) -> str:
    intensity = report.document["assumptions"].get("intensity") or "grid intensity per option"
    return (
        f"carbonplan {report.version} report, generated {report.generated_at}. Ranked by "
        f"{OBJECTIVE_WORDS.get(report.objective, report.objective)}; {intensity}; "
        f"{len(report.options)} options from {report.origin}."
    )


def summary_sentences(report: Report) -> list[str]:
    rec = report.recommended
    out = [
        f"Recommended: {option_label(rec)} - {hours(rec['wall_hours'])}, "
        f"{sig(rec['energy_kwh'])} kWh at {sig(rec['gco2_per_kwh'])} gCO2e/kWh, "
        f"{kg(rec['kgco2e'])} CO2e, {usd(rec['cost_usd'])}."
    ]
    b = report.baseline
    if b is not None:
        delta = rec["kgco2e"] - b.kgco2e
        out.append(
            f"Against {b.region} ({b.how}: {kg(b.kgco2e)}, {usd(b.cost_usd)}), the recommended "
            f"option {'cuts' if delta < 0 else 'adds'} {kg(abs(delta))} CO2e "
            f"({abs(delta) / b.kgco2e:.0%}) for {change_usd(rec['cost_usd'] - b.cost_usd)}."
            if b.kgco2e
            else f"Baseline {b.region}: {kg(b.kgco2e)}, {usd(b.cost_usd)}."
        )
    elif report.baseline_note:
        out.append(f"Baseline: {report.baseline_note}.")
    cheap, clean = report.cheapest, report.cleanest
    if cheap is not clean and clean["kgco2e"] < cheap["kgco2e"]:
        extra = clean["cost_usd"] - cheap["cost_usd"]
        avoided_t = (cheap["kgco2e"] - clean["kgco2e"]) / 1000
        out.append(
            f"The cheapest option ({option_label(cheap, short=True)}, {usd(cheap['cost_usd'])}) "
            f"emits {kg(cheap['kgco2e'])}; the lowest-carbon one "
            f"({option_label(clean, short=True)}) emits {kg(clean['kgco2e'])} for "
            f"{usd(clean['cost_usd'])}"
            + (f", i.e. ${extra / avoided_t:,.0f} per t CO2e avoided." if extra > 0 else ".")
        )
    steps = [s for s in report.ladder[1:] if s["usd_per_t_avoided"] is not None]
    price = report.carbon_price
    if steps and price is not None:
        cheap_enough = []
        for step in steps:  # the steps, in order, while each costs less than the carbon price
            if step["usd_per_t_avoided"] > price:
                break
            cheap_enough.append(step)
        if cheap_enough:
            last = cheap_enough[-1]
            out.append(
                f"Budget ladder: up to {usd(last['cost_usd'])} ({kg(last['kgco2e'])} CO2e) each "
                f"step avoids CO2e for less than the ${price:,.0f}/t carbon price assumed."
            )
        else:
            first = steps[0]
            out.append(
                f"Budget ladder: the first step up ({usd(first['cost_usd'])}) costs "
                f"${first['usd_per_t_avoided']:,.0f} per t CO2e avoided, more than the "
                f"${price:,.0f}/t carbon price assumed."
            )
    return [s for s in out if s]


def tradeoff_alt(report: Report) -> str:
    o = report.options
    front = int(o["pareto"].sum()) if "pareto" in o.columns else 0
    text = (
        f"Scatter chart of {len(o)} options: cost from {usd(o['cost_usd'].min())} to "
        f"{usd(o['cost_usd'].max())}, emissions from {kg(o['kgco2e'].min())} to "
        f"{kg(o['kgco2e'].max())} CO2e. "
        f"{front} options are marked on the Pareto frontier. "
        f"Recommended: {option_label(report.recommended, short=True)} at "
        f"{usd(report.recommended['cost_usd'])} and {kg(report.recommended['kgco2e'])}."
    )
    if report.baseline is not None:
        b = report.baseline
        text += f" Baseline {b.region}: {usd(b.cost_usd)} and {kg(b.kgco2e)}."
    return text


def regions_alt(report: Report) -> str:
    real = report.regions.dropna()
    if real.empty:
        return "Bar chart of emissions per region (no regions)."
    first, last = real.iloc[0], real.iloc[-1]
    return (
        f"Bar chart of the lowest kg CO2e per region for {report.region_count} regions, "
        f"{len(real)} shown, sorted cleanest first: from {kg(first['kgco2e'])} in "
        f"{first['label']} to {kg(last['kgco2e'])} in {last['label']}."
    )


def job_rows(report: Report) -> list[tuple[str, str]]:
    doc = report.document
    rows: list[tuple[str, str]] = []
    for key, value in doc["job"].items():
        rows.append((f"job: {key}", _value(value)))
    for key, value in (doc.get("constraints") or {}).items():
        if value in (None, [], ()) or key == "extra":
            continue
        rows.append((f"constraint: {key}", _value(value)))
    if doc.get("baseline"):
        rows.append(("baseline", str(doc["baseline"])))
    summary = doc.get("summary") or {}
    for key in ("candidates", "feasible", "hidden_other_sizes"):
        if key in summary:
            rows.append((f"options: {key}", _value(summary[key])))
    for step in summary.get("constraint_steps") or []:
        rows.append(
            (
                f"constraint applied: {step.get('constraint')}",
                f"{step.get('remaining')} options left"
                + (f" ({step['detail']})" if step.get("detail") else ""),
            )
        )
    return rows


def _value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:,.10g}"
    return str(value)


def assumption_rows(report: Report) -> list[list[str]]:
    assumptions = report.document["assumptions"]
    defaults = set(assumptions.get("defaults_used") or [])
    rows, seen = [], set()
    for d in assumptions.get("details") or []:
        name = str(d.get("name"))
        seen.add(name)
        source = str(d.get("source") or "") + (" [estimated]" if d.get("estimated") else "")
        rows.append(
            [name, _value(d.get("value")), str(d.get("unit") or ""), _yes(name in defaults), source]
        )
    extra = {
        "objective": assumptions.get("objective"),
        "ref_gpu": report.document["job"].get("ref_gpu"),
        "max_instances": (report.document.get("constraints") or {}).get("max_instances"),
    }
    for name, value in extra.items():
        if name not in seen and value is not None:
            rows.append([name, _value(value), "", _yes(name in defaults), "flag"])
    for name in sorted(defaults - seen - set(extra)):
        rows.append([name, _value(assumptions.get(name, "")), "", "yes", "carbonplan default"])
    return rows


def _yes(flag: bool) -> str:
    return "yes" if flag else "no (given)"


def intensity_sentence(report: Report) -> str:
    o = report.options
    kinds = Counter(o["intensity_kind"].fillna("static")) if "intensity_kind" in o else {}
    basis = report.document["assumptions"].get("intensity") or "location-based grid intensity"
    counted = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "not recorded"
    observed = ""
    if "intensity_observed_at" in o:
        times = o["intensity_observed_at"].dropna()
        if not times.empty:
            observed = f" Live figures observed {times.min()} to {times.max()}."
    return f"Basis: {basis}. Options by kind of figure: {counted}.{observed}"


def intensity_rows(report: Report) -> list[list[str]]:
    o = report.options
    sources = o["intensity_source"].fillna("")
    years = (
        o["intensity_year"].fillna("").astype(str)
        if "intensity_year" in o
        else sources.map(lambda _: "")
    )
    counts = Counter(zip(sources, years, strict=True))
    return [[s, _year(y), str(n)] for (s, y), n in sorted(counts.items(), key=lambda kv: -kv[1])]


def _year(value: str) -> str:
    return value[:-2] if value.endswith(".0") else value


def price_rows(report: Report) -> list[list[str]]:
    o = report.options
    if "price_source" not in o:
        return [
            [
                "(not recorded in the plan)",
                str(report.document.get("data", {}).get("prices_as_of", "")),
                str(len(o)),
            ]
        ]
    rows = []
    for source, group in o.groupby(o["price_source"].fillna("(unknown)"), sort=True):
        dates = group["price_as_of"].dropna().astype(str) if "price_as_of" in group else []
        span = f"{min(dates)}..{max(dates)}" if len(dates) else ""
        if span and span.split("..")[0] == span.split("..")[1]:
            span = span.split("..")[0]
        rows.append([str(source), span, str(len(group))])
    return rows


def gpu_rows(report: Report) -> list[list[str]]:
    gpus = (report.document.get("data") or {}).get("gpus") or []
    return [
        [
            str(g.get("gpu")),
            _value(g.get("rel_throughput")),
            str(g.get("throughput_basis") or ""),
            str(g.get("throughput_source") or ""),
        ]
        for g in gpus
    ]


def data_source_rows(report: Report) -> list[list[str]]:
    sources = (report.document.get("data") or {}).get("sources") or []
    return [
        [
            str(s.get("id", "")),
            str(s.get("what", "")),
            str(s.get("upstream", "")),
            str(s.get("license", "")),
        ]
        for s in sources
        if isinstance(s, dict)
    ]


def version_lines(report: Report) -> list[str]:
    doc = report.document
    data = doc.get("data") or {}
    return [
        f"Plan computed by carbonplan {doc.get('carbonplan_version', '(unknown)')}; report "
        f"rendered by carbonplan {report.version} on {report.generated_at}.",
        f"Plan from: {report.origin}.",
        f"Data built {data.get('built', '(unknown)')}, schema version "
        f"{data.get('schema_version', '(unknown)')}; prices as of "
        f"{data.get('prices_as_of', '(unknown)')}.",
        "The files beside this page: options.csv (every option, the fields of "
        "'carbonplan suggest --format csv'), plan.json (the plan; 'carbonplan report --from "
        "plan.json' renders it again), tradeoff.svg/png, regions.png, report.md.",
        "The command that made this report:",
    ]


# --- the campaign breakdown (reports.campaign) -----------------------------------------------

CAMPAIGN_MISSING = (
    "The campaign breakdown (one run vs the whole search, fine-tune vs from scratch) re-plans "
    "the job, which a saved plan cannot do: rerun 'carbonplan report' with the job flags "
    "(--params or --gpu-hours, --trials, --grid, ...) instead of --from to add it."
)


def ratio(value: Any) -> str:
    """``20x``, ``0.0375x``, ``1,250x``; ``-`` where there is none."""
    if not _finite(value):
        return "-"
    v = float(value)
    return f"{v:,.0f}x" if v >= 1000 else f"{v:.3g}x"


def _campaign_rows(report: Report) -> list[dict[str, Any]]:
    return list((report.campaign or {}).get("rows") or [])


def campaign_has_flops(report: Report) -> bool:
    return any(_finite(r.get("flops")) for r in _campaign_rows(report))


def campaign_headers(report: Report) -> list[tuple[str, bool]]:
    """(label, numeric) of each column of the campaign table."""
    headers = [("job", False), ("trials", True)]
    if campaign_has_flops(report):
        headers.append(("FLOPs", True))
    headers += [
        ("best option", False),
        ("hours", True),
        ("kg CO2e", True),
        ("$", True),
        ("kg CO2e vs one run", True),
        ("$ vs one run", True),
    ]
    return headers


def campaign_table_rows(report: Report) -> list[list[str]]:
    flops = campaign_has_flops(report)
    out = []
    for r in _campaign_rows(report):
        label = str(r["label"])
        if r.get("assumption"):
            label += f" [assumption: {r['assumption']}]"
        cells = [label, f"{r['trials']:,}" if _finite(r.get("trials")) else "-"]
        if flops:
            cells.append(f"{r['flops']:.3g}" if _finite(r.get("flops")) else "-")
        if r.get("provider"):
            cells += [
                option_label(r, short=True),
                hours(r["wall_hours"]) if _finite(r.get("wall_hours")) else "-",
                sig(r["kgco2e"]),
                usd(r["cost_usd"]),
            ]
        else:
            cells += [str(r.get("note") or "no option"), "-", "-", "-"]
        cells += [ratio(r.get("kg_ratio_to_one_run")), ratio(r.get("usd_ratio_to_one_run"))]
        out.append(cells)
    return out


def campaign_paragraphs(report: Report) -> list[str]:
    """What the table shows, then what it says: the campaign (and from scratch) against one
    run."""
    rows = _campaign_rows(report)
    if not rows:
        return [CAMPAIGN_MISSING] if report.campaign_missing else []
    objective = OBJECTIVE_WORDS.get(report.objective, report.objective)
    out = [
        "Each row is the job re-planned under the same constraints for the "
        f"{objective}: its best option, kg CO2e and $, and those as a multiple of one run's."
    ]
    one = rows[0]
    said = []
    for r in rows[1:]:
        k = r.get("kg_ratio_to_one_run")
        if not _finite(k) or not _finite(r.get("kgco2e")):
            continue
        same = " on the same option" if r.get("same_option_as_one_run") else ""
        if r.get("kind") == "from_scratch":
            said.append(
                f"Training the model from scratch instead would emit {ratio(k)} one fine-tuning "
                f"run ({kg(r['kgco2e'])} against {kg(one['kgco2e'])}), assuming "
                f"{r.get('assumption') or 'a pretraining budget'}."
            )
        else:
            what = "The campaign as planned" if r.get("planned") else f"The other ({r['label']})"
            said.append(
                f"{what} emits {ratio(k)} one run ({kg(r['kgco2e'])} against "
                f"{kg(one['kgco2e'])}{same}) and costs {ratio(r.get('usd_ratio_to_one_run'))} "
                f"({usd(r['cost_usd'])})."
            )
    if said:
        out.append(" ".join(said))
    return out


def campaign_caption(report: Report) -> str:
    text = (
        "'vs one run' is the row's figure over the one-run row's: with the same best option it "
        "is the number of full-run equivalents (trials x --early-stop fraction)."
    )
    if campaign_has_flops(report):
        text += " FLOPs = 6 (4 with --peft) x params x tokens x full-run equivalents."
    assumptions = (report.campaign or {}).get("assumptions") or {}
    scratch = assumptions.get("pretraining_tokens_per_param")
    if isinstance(scratch, dict):
        text += f" Assumption in the from-scratch row: {scratch.get('source')}."
    return text


def kg_with_range(option: dict[str, Any]) -> str:
    """``4.86 (3.3-8.4)`` for a table cell; the central figure alone without a range."""
    from recommender.reports.views import range_text

    def number(value: Any) -> float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return float(value) if ok and math.isfinite(value) and value >= 0 else math.nan

    low, high = number(option.get("kgco2e_low")), number(option.get("kgco2e_high"))
    if not (math.isfinite(low) and math.isfinite(high)) or low == high:
        return sig(option["kgco2e"])
    return f"{sig(option['kgco2e'])} ({range_text(low, high)})"
