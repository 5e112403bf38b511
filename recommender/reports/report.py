"""The shareable report: a plan document (what ``suggest --format json`` prints) turned into a
self-contained HTML page, a Markdown file, PNG/SVG charts and a CSV of the options.

Both ways in (the planning flags, or ``--from plan.json``) produce the same document, so the
report is built from that document alone. Files are written to a temporary directory beside
the target and moved into place, so a failure never leaves a half-written report.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recommender import __version__
from recommender.errors import BadInputError
from recommender.planfile import HINT as _HINT_SAVE
from recommender.planner.estimate import equivalents
from recommender.reports.ladder import budget_ladder

#: Every file a report consists of. ``--force`` replaces a directory holding only these.
REPORT_FILES = (
    "report.html",
    "report.md",
    "tradeoff.png",
    "tradeoff.svg",
    "regions.png",
    "options.csv",
    "plan.json",
)
#: Written only where time shifting applies (a deadline and a live or trace intensity curve).
TIMING_FILE = "timing.png"
OPTIONAL_FILES = (TIMING_FILE,)
MAX_REGION_BARS = 30  # above this, the region chart shows the cleanest, the dirtiest, baseline
CLEANEST_SHOWN, DIRTIEST_SHOWN = 20, 5

_NUMBER_FIELDS = (
    "cost_usd",
    "kgco2e",
    "operational_kgco2e",
    "embodied_kgco2e",
    "wall_hours",
    "energy_kwh",
    "gco2_per_kwh",
)
_TEXT_FIELDS = ("provider", "region", "instance_type", "gpu", "market")
OBJECTIVE_WORDS = {
    "carbon": "lowest carbon",
    "cost": "lowest cost",
    "time": "fastest",
    "balanced": "lowest cost + carbon price",
}


# --- reading a saved plan -------------------------------------------------------------------


def read_plan(path: Path) -> dict[str, Any]:
    """Read and check a saved ``carbonplan suggest --format json`` document (the checks of
    :mod:`recommender.planfile`, which ``launch --from`` runs too, then the report's own)."""
    from recommender import planfile

    name = str(path)
    document = planfile.load_json(planfile.read_bytes(path), f"--from {name}")
    document = validate_document(document, name)
    planfile.check(document, name)
    return document


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def validate_document(document: Any, name: str) -> dict[str, Any]:
    """Refuse anything that is not a carbonplan plan document, naming what is wrong."""
    foreign = f"--from {name} is not a saved 'carbonplan suggest --format json' plan"
    if not isinstance(document, dict):
        raise BadInputError(f"{foreign} (it is a JSON {type(document).__name__})", _HINT_SAVE)
    if "jobs" in document and "job" not in document:  # carbonplan suggest --jobs
        jobs = document["jobs"]
        count = f"{len(jobs):,} jobs" if isinstance(jobs, list) else "jobs"
        raise BadInputError(
            f"--from {name} is a plan of {count} (suggest --jobs); a report draws one job's plan",
            f"each job in it is a plan: jq '.jobs[0]' {name} > job.json, then "
            "carbonplan report --from job.json",
        )
    missing = [k for k in ("job", "assumptions", "options") if k not in document]
    if missing:
        raise BadInputError(f"{foreign} (no {', '.join(repr(k) for k in missing)})", _HINT_SAVE)
    job, assumptions, options = document["job"], document["assumptions"], document["options"]
    if not isinstance(job, dict):
        raise BadInputError(f"{foreign} ('job' is not an object)", _HINT_SAVE)
    if not isinstance(assumptions, dict):
        raise BadInputError(f"{foreign} ('assumptions' is not an object)", _HINT_SAVE)
    if not isinstance(options, list) or not options:
        raise BadInputError(f"--from {name} has no options to report", _HINT_SAVE)
    for i, option in enumerate(options, start=1):
        if not isinstance(option, dict):
            raise BadInputError(f"{foreign} (option {i} is not an object)", _HINT_SAVE)
        for key in _TEXT_FIELDS:
            if not isinstance(option.get(key), str) or not option[key]:
                raise BadInputError(f"--from {name}: option {i} has no {key}", _HINT_SAVE)
        for key in _NUMBER_FIELDS:
            if not _is_number(option.get(key)):
                raise BadInputError(
                    f"--from {name}: option {i} has no valid {key} "
                    f"(got {option.get(key)!r}; expected a finite number >= 0)",
                    _HINT_SAVE,
                )
        if not isinstance(option.get("rank"), int) or isinstance(option.get("rank"), bool):
            raise BadInputError(f"--from {name}: option {i} has no integer rank", _HINT_SAVE)
    if document.get("timing_curve") is not None:
        _check_curve(document["timing_curve"], name)
    if document.get("campaign_breakdown") is not None:
        _check_breakdown(document["campaign_breakdown"], name)
    return document


_BREAKDOWN_NUMBERS = (
    "trials",
    "full_run_equivalents",
    "flops",
    "total_ref_gpu_hours",
    "wall_hours",
    "kgco2e",
    "cost_usd",
    "kg_ratio_to_one_run",
    "usd_ratio_to_one_run",
)
_BREAKDOWN_TEXTS = ("provider", "region", "instance_type", "market", "gpu", "note", "assumption")


def _check_breakdown(breakdown: Any, name: str) -> None:
    """``campaign_breakdown`` (written by ``report`` into its plan.json) as
    :func:`recommender.reports.campaign.breakdown` makes it."""
    bad = f"--from {name}: 'campaign_breakdown' is malformed"
    rows = breakdown.get("rows") if isinstance(breakdown, dict) else None
    if not isinstance(rows, list) or not rows:
        raise BadInputError(f"{bad} (no rows)", _HINT_SAVE)
    for i, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or not isinstance(row.get("label"), str):
            raise BadInputError(f"{bad} (row {i} has no label)", _HINT_SAVE)
        for key in _BREAKDOWN_NUMBERS:
            if row.get(key) is not None and not _is_number(row[key]):
                raise BadInputError(f"{bad} (row {i}: {key} is not a number)", _HINT_SAVE)
        for key in _BREAKDOWN_TEXTS:
            if row.get(key) is not None and not isinstance(row[key], str):
                raise BadInputError(f"{bad} (row {i}: {key} is not text)", _HINT_SAVE)


def _check_curve(curve: Any, name: str) -> None:
    """``timing_curve`` (written by ``report`` into its plan.json) as ShiftedIntensity.curve
    makes it."""
    bad = f"--from {name}: 'timing_curve' is malformed"
    if not isinstance(curve, dict):
        raise BadInputError(f"{bad} (not an object)", _HINT_SAVE)
    for key in ("region", "source", "start"):
        if not isinstance(curve.get(key), str) or not curve[key]:
            raise BadInputError(f"{bad} (no {key})", _HINT_SAVE)
    try:
        datetime.fromisoformat(curve["start"].replace("Z", "+00:00"))
    except ValueError:
        raise BadInputError(f"{bad} (start {curve['start']!r} is not a time)", _HINT_SAVE) from None
    if not _is_number(curve.get("period_hours")) or not curve["period_hours"] > 0:
        raise BadInputError(f"{bad} (period_hours must be > 0)", _HINT_SAVE)
    if not _is_number(curve.get("known_hours")):
        raise BadInputError(f"{bad} (known_hours must be a number >= 0)", _HINT_SAVE)
    values = curve.get("gco2_per_kwh")
    if (
        not isinstance(values, list)
        or not values
        or not all(v is None or _is_number(v) for v in values)
    ):
        raise BadInputError(f"{bad} (gco2_per_kwh must be a list of numbers)", _HINT_SAVE)


# --- the report model -----------------------------------------------------------------------


@dataclass(frozen=True)
class Baseline:
    """The baseline point: the recommended option's counterpart in the baseline region."""

    region: str
    instance_type: str
    market: str
    cost_usd: float
    kgco2e: float
    how: str  # how it was matched, for the reader


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@dataclass(frozen=True)
class Timing:
    """The recommended option's timing against its region's intensity curve: what
    ``timing.png`` draws and the "When to run" section says. Times are aware UTC."""

    region: str
    source: str  # which series, e.g. "Electricity Maps API v3 (lifecycle)" or the trace file
    edges: list[datetime]  # period boundaries from --start-after: len(gco2_per_kwh) + 1
    gco2_per_kwh: np.ndarray  # mean of each period (NaN: no data)
    data_end: datetime | None  # before the deadline the data ends here (then: last value)
    deadline: datetime
    run: list[tuple[datetime, datetime]]  # the chosen window, or each interval of a paused run
    run_now: tuple[datetime, datetime]  # the same job started at --start-after, without pauses
    run_gco2_per_kwh: float
    run_now_gco2_per_kwh: float
    run_now_kgco2e: float | None
    saving_pct: float | None
    delay_hours: float
    pauses: int
    interruptible: bool

    @property
    def start_after(self) -> datetime:
        return self.edges[0]


def _timing(document: dict[str, Any], rec: dict[str, Any]) -> Timing | None:
    """The recommended option's timing, where time shifting applied: the document has the
    curve of its region (``report`` saves it; a ``suggest --format json`` has none) and the
    option has a start and end."""
    curve = document.get("timing_curve")
    if not isinstance(curve, dict) or curve.get("region") != f"{rec['provider']}:{rec['region']}":
        return None
    if not (isinstance(rec.get("start"), str) and isinstance(rec.get("end"), str)):
        return None
    if not _is_number(rec.get("run_now_gco2_per_kwh")):
        return None
    origin = _when(curve["start"])
    period = timedelta(hours=float(curve["period_hours"]))
    values = np.array(
        [np.nan if v is None else float(v) for v in curve["gco2_per_kwh"]], dtype=float
    )
    edges = [origin + i * period for i in range(len(values) + 1)]
    constraints = document.get("constraints") or {}
    deadline = (
        _when(constraints["deadline_at"])
        if isinstance(constraints.get("deadline_at"), str)
        else edges[-1]
    )
    known = origin + timedelta(hours=float(curve["known_hours"]))
    intervals = rec.get("run_intervals")
    if isinstance(intervals, str) and intervals.strip():
        run = [
            (_when(begin), _when(end))
            for begin, _, end in (part.partition("/") for part in intervals.split())
        ]
    else:
        run = [(_when(rec["start"]), _when(rec["end"]))]
    wall = timedelta(hours=float(rec["wall_hours"]))
    saving = rec.get("shift_saving_pct")
    now_kg = rec.get("run_now_kgco2e")
    return Timing(
        region=str(curve["region"]),
        source=str(curve["source"]),
        edges=edges,
        gco2_per_kwh=values,
        data_end=known if known < deadline else None,
        deadline=deadline,
        run=run,
        run_now=(origin, origin + wall),
        run_gco2_per_kwh=float(rec["gco2_per_kwh"]),
        run_now_gco2_per_kwh=float(rec["run_now_gco2_per_kwh"]),
        run_now_kgco2e=float(now_kg) if now_kg is not None and _is_number(now_kg) else None,
        saving_pct=float(saving) if isinstance(saving, int | float) else None,
        delay_hours=float(rec.get("delay_hours") or 0.0),
        pauses=int(rec.get("pauses") or 0),
        interruptible=bool(constraints.get("interruptible")),
    )


def timing_curve(intensity_fn: Any, option: dict[str, Any]) -> dict[str, Any] | None:
    """The curve the planner's time shifter ranked ``option``'s region on (kept by the hook,
    so nothing is fetched twice), or None where time shifting did not apply."""
    curve = getattr(intensity_fn, "curve", None)  # recommender.intensity.shifting's hook
    if curve is None:
        return None
    found: dict[str, Any] | None = curve(str(option["provider"]), str(option["region"]))
    return found


@dataclass(frozen=True)
class Report:
    """Everything the HTML and Markdown renderings show, computed once."""

    document: dict[str, Any]
    options: pd.DataFrame  # every option in the document, in rank order
    top: int  # rows in the ranked table
    recommended: dict[str, Any]
    cheapest: dict[str, Any]
    cleanest: dict[str, Any]
    baseline: Baseline | None
    baseline_note: str
    ladder: list[dict[str, Any]]
    regions: pd.DataFrame  # label, kgco2e, gco2_per_kwh (gap rows are NaN)
    region_count: int
    equivalents: dict[str, dict[str, Any]]
    saved_equivalents: dict[str, dict[str, Any]] | None
    embodied_share_range: tuple[float, float]
    origin: str  # where the plan came from
    command: str
    generated_at: str
    version: str = __version__
    notes: list[str] = field(default_factory=list)
    timing: Timing | None = None  # where time shifting applied: timing.png and its text
    # one run vs the whole campaign (reports.campaign), where the job was planned from flags
    campaign: dict[str, Any] | None = None
    campaign_missing: bool = False  # a saved plan of a campaign: the breakdown needs the flags

    @property
    def objective(self) -> str:
        return str(self.document["assumptions"].get("objective", "carbon"))

    @property
    def title(self) -> str:
        job = self.document["job"]
        hours = next(
            (job[k] for k in ("total_ref_gpu_hours", "gpu_hours") if _is_number(job.get(k))), None
        )
        size = f"{hours:,.3g}" if hours is not None and hours < 1000 else f"{hours:,.0f}"
        on = f"{size} GPU-hours on {job.get('ref_gpu') or 'the reference GPU'}"
        if _is_number(job.get("params")):  # sized from the model (`--params`)
            model = f"a {_human(job['params'])}-parameter model"
            if _is_number(job.get("tokens_per_run")):
                model += f" on {_human(job['tokens_per_run'])} tokens"
            trials = job.get("trials")
            if isinstance(trials, int) and trials > 1:
                model += f" x {trials} trials"
            return model if hours is None else f"{model} ({on})"
        return "the job" if hours is None else on

    @property
    def carbon_price(self) -> float | None:
        value = self.document["assumptions"].get("carbon_price_usd_per_t")
        return float(value) if _is_number(value) else None


def _human(count: float) -> str:
    """350000000 -> 350M, 2e10 -> 20B."""
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if count >= scale:
            return f"{count / scale:.3g}{suffix}"
    return f"{count:.3g}"


def option_label(option: dict[str, Any], *, short: bool = False) -> str:
    """``gcp europe-west9 (Paris), a3-edgegpu-8g, spot``."""
    where = f"{option['provider']} {option['region']}"
    if option.get("location") and not short:
        where += f" ({option['location']})"
    instances = option.get("instances") or 1
    count = f"{instances} x " if instances != 1 else ""
    return f"{where}, {count}{option['instance_type']}, {option['market']}"


def _region_rows(options: pd.DataFrame, baseline_region: str | None, rec_region: str) -> Any:
    best = (
        options.assign(key=options["provider"] + ":" + options["region"])
        .sort_values(["kgco2e", "cost_usd", "rank"], kind="mergesort")
        .drop_duplicates("key")
        .reset_index(drop=True)
    )
    total = len(best)
    keep = pd.Series(True, index=best.index)
    if total > MAX_REGION_BARS:
        keep = (best.index < CLEANEST_SHOWN) | (best.index >= total - DIRTIEST_SHOWN)
        keep = pd.Series(keep, index=best.index) | best["key"].isin(
            {baseline_region, rec_region} - {None}
        )
    rows: list[dict[str, Any]] = []
    skipped = 0
    for row, kept in zip(best.itertuples(index=False), keep, strict=True):
        if not kept:
            skipped += 1
            continue
        if skipped:
            rows.append(_gap(skipped))
            skipped = 0
        label = f"{row.key}" + (f" ({row.location})" if getattr(row, "location", None) else "")
        tags = [
            t
            for t, k in (("recommended", rec_region), ("baseline", baseline_region))
            if k == row.key
        ]
        if tags:
            label += " - " + ", ".join(tags)
        label += f" - {row.gco2_per_kwh:,.0f} g/kWh"
        rows.append(
            {
                "label": label,
                "kgco2e": row.kgco2e,
                "gco2_per_kwh": row.gco2_per_kwh,
                "kgco2e_low": _number(getattr(row, "kgco2e_low", None)),
                "kgco2e_high": _number(getattr(row, "kgco2e_high", None)),
            }
        )
    if skipped:
        rows.append(_gap(skipped))
    return pd.DataFrame(rows, columns=["label", "kgco2e", "gco2_per_kwh", *RANGE_FIELDS]), total


#: Each option's kg CO2e range (recommender/planner/ranges.py); a plan saved before ranges
#: existed has none, and its report shows the central figures alone.
RANGE_FIELDS = ("kgco2e_low", "kgco2e_high")
TRADEOFF_RANGE_CAPTION = (
    "The vertical bar through each point is its kg CO2e range: the spread of GPU throughput, "
    "power draw and grid intensity (method under Assumptions and sources)."
)
REGIONS_RANGE_CAPTION = "The whisker on each solid bar is that option's kg CO2e range."


def _number(value: Any) -> float:
    return float(value) if _is_number(value) else math.nan


def has_ranges(options: pd.DataFrame) -> bool:
    """Whether the plan's options carry kg CO2e ranges."""
    return all(f in options.columns for f in RANGE_FIELDS) and bool(
        options[list(RANGE_FIELDS)].notna().all(axis=None)
    )


def ranges_method(document: dict[str, Any]) -> str | None:
    """How the ranges were made, from the plan's assumptions (None for an older plan)."""
    ranges = document["assumptions"].get("ranges")
    if not isinstance(ranges, dict) or not isinstance(ranges.get("method"), str):
        return None
    parts = [ranges["method"]]
    if isinstance(ranges.get("comparison"), str):
        parts.append(ranges["comparison"])
    low, high = ranges.get("gpu_utilisation_low"), ranges.get("gpu_utilisation_high")
    if _is_number(low) and _is_number(high):
        parts.append(
            f"GPU power draw: {low:.0%} to {high:.0%} of TDP"
            + (
                f" ({ranges['gpu_utilisation_range_source']})"
                if isinstance(ranges.get("gpu_utilisation_range_source"), str)
                else ""
            )
            + "."
        )
    return " ".join(parts)


def _gap(count: int) -> dict[str, Any]:
    noun = "region" if count == 1 else "regions"
    return {
        "label": f"... {count} more {noun} ...",
        "kgco2e": math.nan,
        "gco2_per_kwh": math.nan,
        "kgco2e_low": math.nan,
        "kgco2e_high": math.nan,
    }


def _baseline(
    document: dict[str, Any], options: pd.DataFrame, rec: dict[str, Any]
) -> tuple[Baseline | None, str]:
    region = document.get("baseline")
    if not region:
        return None, ""
    if _is_number(rec.get("baseline_kgco2e")) and _is_number(rec.get("baseline_cost_usd")):
        same = rec.get("baseline_instance_type") == rec["instance_type"]
        how = (
            f"the same instance type ({rec['instance_type']}, {rec['market']}) in {region}"
            if same
            else f"the cheapest {rec['gpu']} instance of the same size in {region} "
            f"({rec.get('baseline_instance_type')}, {rec['market']})"
        )
        return (
            Baseline(
                region=region,
                instance_type=str(rec.get("baseline_instance_type")),
                market=str(rec["market"]),
                cost_usd=float(rec["baseline_cost_usd"]),
                kgco2e=float(rec["baseline_kgco2e"]),
                how=how,
            ),
            "",
        )
    provider, _, name = str(region).partition(":")
    there = options[(options["provider"] == provider) & (options["region"] == name)]
    if there.empty:
        return None, (
            f"{region} offers no {rec['gpu']} on {rec['market']} like the recommended option and "
            "has no option in this plan, so it is not drawn"
        )
    first = there.iloc[0]
    return (
        Baseline(
            region=str(region),
            instance_type=str(first["instance_type"]),
            market=str(first["market"]),
            cost_usd=float(first["cost_usd"]),
            kgco2e=float(first["kgco2e"]),
            how=f"the best-ranked option in {region} (it has no {rec['gpu']} like the "
            "recommended option)",
        ),
        "",
    )


def build_report(
    document: dict[str, Any], *, top: int, origin: str, command: str, now: datetime | None = None
) -> Report:
    """Compute everything a report shows from a (validated) plan document."""
    records = document["options"]
    options = pd.DataFrame(records)
    options = options.sort_values("rank", kind="mergesort").reset_index(drop=True)
    ordered = options.to_dict("records")
    rec = ordered[0]
    cheapest_pos = options.sort_values(["cost_usd", "kgco2e", "rank"], kind="mergesort").index[0]
    cleanest_pos = options.sort_values(["kgco2e", "cost_usd", "rank"], kind="mergesort").index[0]
    baseline, baseline_note = _baseline(document, options, rec)
    ladder = [
        row.as_dict(ordered[options.index.get_loc(row.index)]) for row in budget_ladder(options)
    ]
    regions, region_count = _region_rows(
        options, baseline.region if baseline else None, f"{rec['provider']}:{rec['region']}"
    )
    saved = None
    if baseline is not None and baseline.kgco2e > rec["kgco2e"]:
        saved = equivalents(baseline.kgco2e - rec["kgco2e"], 0.0)
        saved.pop("household_days_electricity")  # the baseline's energy is not in the plan
    campaign = document.get("campaign_breakdown")
    total = options["kgco2e"].where(options["kgco2e"] > 0)
    share = (options["embodied_kgco2e"] / total).dropna()
    notes = []
    summary = document.get("summary") or {}
    ties = summary.get("carbon_not_clearly_different")
    if isinstance(ties, dict) and isinstance(ties.get("note"), str):
        # the ranked table's rows that the ranges cannot tell apart from the recommended one
        note = ties["note"]
        notes.append(note[0].upper() + note[1:])
    feasible = summary.get("feasible")
    hidden = summary.get("hidden_other_sizes") or 0
    if isinstance(feasible, int) and feasible > len(options):
        if isinstance(hidden, int) and feasible - hidden == len(options):
            notes.append(
                f"{len(options)} of {feasible:,} feasible options are shown: the best instance "
                f"size for each region, GPU and market ({hidden:,} other sizes are left out)."
            )
        else:
            notes.append(
                f"The saved plan lists {len(options)} of {feasible:,} feasible options (it was "
                "cut by suggest's --top); charts and the budget ladder cover those listed. Save "
                "it with --top 0 for all of them."
            )
    return Report(
        document=document,
        options=options,
        top=top,
        recommended=rec,
        cheapest=ordered[int(cheapest_pos)],
        cleanest=ordered[int(cleanest_pos)],
        baseline=baseline,
        baseline_note=baseline_note,
        ladder=ladder,
        regions=regions,
        region_count=region_count,
        equivalents=equivalents(float(rec["kgco2e"]), float(rec["energy_kwh"])),
        saved_equivalents=saved,
        embodied_share_range=(
            (float(share.min()), float(share.max())) if not share.empty else (0.0, 0.0)
        ),
        origin=origin,
        command=command,
        generated_at=(now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC"),
        notes=notes,
        timing=_timing(document, rec),
        campaign=campaign,
        campaign_missing=campaign is None and _is_campaign(document["job"]),
    )


def _is_campaign(job: dict[str, Any]) -> bool:
    """Whether the plan's job is one the campaign breakdown covers: sized from the model, or
    more than one trial."""
    trials = job.get("trials")
    return _is_number(job.get("params")) or (isinstance(trials, int) and trials > 1)


# --- writing --------------------------------------------------------------------------------


#: The renderers, in order, as ``(module, function)``: each takes the report and the files
#: rendered before it (the HTML page embeds the charts) and returns its own files by name. A
#: plain table looked up by name, so that the renderers import this module (``Report``,
#: ``option_label``) and this module imports none of them: no import cycle.
RENDERERS: tuple[tuple[str, str], ...] = (
    ("recommender.reports.charts", "chart_files"),
    ("recommender.reports.records", "data_files"),
    ("recommender.reports.markdown", "markdown_files"),
    ("recommender.reports.html", "html_files"),
)


def render_files(report: Report) -> dict[str, bytes]:
    """Every file of the report, by name."""
    import importlib

    files: dict[str, bytes] = {}
    for module, function in RENDERERS:
        files.update(getattr(importlib.import_module(module), function)(report, dict(files)))
    return files


def check_target(out: Path, force: bool) -> None:
    """Refuse a target that is a file, or that holds anything but a report we may replace."""
    if out.exists() and not out.is_dir():
        raise BadInputError(f"--out {out} is a file, not a directory", "choose a directory path")
    if not out.is_dir():
        return
    present = sorted(p.name for p in out.iterdir())
    if not present:
        return
    if not force:
        what = "a report" if "report.html" in present else "files"
        raise BadInputError(
            f"--out {out} already holds {what} ({', '.join(present[:4])}"
            f"{', ...' if len(present) > 4 else ''})",
            "pass --force to replace the report, or choose another --out",
        )
    foreign = [name for name in present if name not in REPORT_FILES + OPTIONAL_FILES]
    if foreign:
        raise BadInputError(
            f"--out {out} holds files that are not part of a report ({', '.join(foreign[:4])})",
            "--force only replaces a previous report; choose an empty or new --out",
        )


def write_report(files: dict[str, bytes], out: Path, *, force: bool = False) -> Path:
    """Write ``files`` into ``out`` all at once: into a temporary directory beside it, then
    swapped into place, so that a kill at any moment leaves the old report or the new one
    whole. Temporaries left by a killed run are removed first. An existing report is replaced
    only with ``force``."""
    check_target(out, force)
    parent = out.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(parent, out.name)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-{os.getpid()}-", dir=parent))
    except OSError as exc:
        raise BadInputError(
            f"cannot write --out {out}: {exc.strerror or exc} ({parent})",
            "choose a directory you can write to",
        ) from None
    try:
        for name, content in files.items():
            (staging / name).write_bytes(content)
        os.chmod(staging, 0o755)  # mkdtemp makes it private; a report is meant to be shared
        with _signals_held():
            if out.is_dir() and _exchange(staging, out):
                pass  # out is the new report; staging now holds the old one
            elif out.is_dir():  # no atomic exchange here: two renames, undone on a failure
                old = parent / f".{out.name}.old-{os.getpid()}-{staging.name.rsplit('-', 1)[-1]}"
                os.replace(out, old)
                try:
                    os.replace(staging, out)
                except OSError:
                    os.replace(old, out)  # put the previous report back
                    raise
                os.replace(old, staging)
            else:
                os.replace(staging, out)
    except OSError as exc:
        raise BadInputError(
            f"cannot write --out {out}: {exc.strerror or exc}",
            "choose a directory you can write to, with free space",
        ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories in one step (Linux renameat2 RENAME_EXCHANGE); False where the
    system or file system cannot."""
    import ctypes

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: not supported here
        return False
    raise OSError(errno, os.strerror(errno))


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT/SIGTERM wait until the swap is done (they are delivered right after it)."""
    import signal
    import threading

    held = {signal.SIGINT, signal.SIGTERM}
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _remove_stale_temporaries(parent: Path, name: str) -> None:
    """Remove ``.NAME.tmp-PID-*`` / ``.NAME.old-PID-*`` left by a run that was killed (its
    process is gone); a previous report left aside by a kill between two renames (no
    atomic exchange) is put back first."""
    for path in sorted(parent.glob(f".{name}.old-*")) + sorted(parent.glob(f".{name}.tmp-*")):
        pid = path.name[len(name) + 6 :].split("-", 1)[0]
        if pid.isdigit() and _alive(int(pid)):
            continue  # a run writing the same report right now
        if ".old-" in path.name and not (parent / name).exists():
            os.replace(path, parent / name)
            continue
        shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
