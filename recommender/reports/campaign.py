"""The report's campaign breakdown: one run against the whole campaign (the search, with grid
and random side by side when both are known), and a fine-tune against training the same
model from scratch.

Each row is a variant of the planned job, built by :func:`recommender.planner.sizing.job_for`
from a modified :class:`~recommender.planner.sizing.Campaign`, and re-planned under the same
constraints, settings and objective by a ``best_for`` function the caller supplies (``report``
passes ``PlanRequest.with_job(job).run(top=1)``), so this module does no planning and no I/O
of its own. The planned row reuses the plan's recommended option: at most three re-plans.

"Meaningful" comparisons, as decided here:

- one run vs the campaign: whenever the campaign has more than one trial (a job sized from the
  model with a single run still gets its one row, with its FLOPs);
- from scratch, with ``--finetune`` only: the same model pretrained on
  :data:`PRETRAINING_TOKENS_PER_PARAM` tokens per parameter (an assumption, labelled so);
- no fine-tune row for a job trained from scratch: nothing in its flags says how large the
  fine-tuning data would be, and any figure would be invented.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from recommender.assumptions import Figure
from recommender.errors import NoOptionError
from recommender.planner.model import Job
from recommender.planner.sizing import Campaign, Search, human, job_for
from recommender.reports.records import plain

PRETRAINING_TOKENS_PER_PARAM = Figure(
    20.0,
    "training tokens per parameter (of --params)",
    "compute-optimal pretraining: about 20 tokens per parameter (Hoffmann et al. 2022, "
    "'Training Compute-Optimal Large Language Models' (Chinchilla), table 3: 70B parameters "
    "on 1.4T tokens); an assumption for the from-scratch comparison, not your data",
    estimated=True,
)

#: The best option for a job under the plan's constraints and objective, as a plain record
#: (``suggest --format json``'s option fields); raises NoOptionError when nothing fits.
BestFn = Callable[[Job], dict[str, Any]]

_OPTION_FIELDS = (
    "provider",
    "region",
    "location",
    "instance_type",
    "gpu",
    "gpus_per_instance",
    "instances",
    "market",
    "wall_hours",
    "kgco2e",
    "cost_usd",
)


@dataclass(frozen=True)
class Variant:
    """One row of the breakdown before it is planned."""

    kind: str  # one_run, campaign, grid_search, random_search, from_scratch
    label: str
    campaign: Campaign
    planned: bool  # the plan itself: its recommended option is reused, not re-planned
    assumption: str | None = None


def applies(campaign: Campaign) -> bool:
    """Whether a report shows the breakdown: a job sized from the model, or a search of more
    than one trial (``--gpu-hours`` with ``--trials`` or ``--grid``)."""
    search = campaign.search
    return campaign.model is not None or search.trials > 1 or len(search.alternatives()) > 1


def _search_label(kind: str, search: Search, trials: int) -> str:
    what = {"grid": "full grid", "random": "random search"}.get(kind, "search")
    if kind == "grid" and search.grid:
        dims = " x ".join(f"{name} {levels}" for name, levels in search.grid)
        what += f" ({dims})"
    label = f"{what}, {trials:,} trials"
    if search.early_stop != 1.0:
        label += f" x {search.early_stop:g} of a run (--early-stop)"
    return label


def variants(campaign: Campaign) -> list[Variant]:
    """The rows to show, in order: one run, the campaign (or grid and random), from scratch."""
    search = campaign.search
    single = Search(kind="single", trials=1)
    one_run_planned = search.trials == 1 and search.early_stop == 1.0
    rows = [
        Variant(
            "one_run",
            "one run (a single trial, full length)" + (" - as planned" if one_run_planned else ""),
            replace(campaign, search=single),
            planned=one_run_planned,
        )
    ]
    alternatives = search.alternatives()
    if len(alternatives) > 1:
        for kind, trials in alternatives:
            variant = replace(search, kind=kind, trials=trials)
            planned = kind == search.kind
            label = _search_label(kind, search, trials) + (" - as planned" if planned else "")
            rows.append(
                Variant(f"{kind}_search", label, replace(campaign, search=variant), planned)
            )
    elif not one_run_planned:
        label = _search_label(search.kind, search, search.trials) + " - as planned"
        rows.append(Variant("campaign", label, campaign, planned=True))
    model = campaign.model
    if model is not None and model.finetune:
        per_param = PRETRAINING_TOKENS_PER_PARAM.value
        scratch = replace(
            model,
            tokens=per_param * model.params,
            finetune=False,
            peft=False,
            examples=None,
            seq_len=None,
            epochs=None,
        )
        rows.append(
            Variant(
                "from_scratch",
                f"from scratch instead: one pretraining run on {human(scratch.tokens)} tokens",
                Campaign(scratch, single),
                planned=False,
                assumption=f"{per_param:g} tokens per parameter (Chinchilla, Hoffmann et al. "
                "2022), not your data",
            )
        )
    return rows


def breakdown(
    campaign: Campaign,
    job: Job,
    gpus: pd.DataFrame,
    planned_best: dict[str, Any],
    best_for: BestFn,
) -> dict[str, Any]:
    """The breakdown as plain JSON values: each row's work, its best option under the plan's
    constraints and objective, that option's kg CO2e and $, and the ratios to one run."""
    rows: list[dict[str, Any]] = []
    for v in variants(campaign):
        row_job = job_for(
            v.campaign, None if campaign.model is not None else job.gpu_hours, job.ref_gpu, gpus
        )
        row: dict[str, Any] = {
            "kind": v.kind,
            "label": v.label,
            "planned": v.planned,
            "trials": v.campaign.search.trials,
            "full_run_equivalents": plain(v.campaign.search.runs),
            "flops": plain(v.campaign.flops),
            "total_ref_gpu_hours": plain(row_job.total_ref_gpu_hours),
            "assumption": v.assumption,
        }
        note = None
        try:
            best = planned_best if v.planned else best_for(row_job)
        except NoOptionError as exc:
            best, note = {}, exc.message  # e.g. "no option satisfies --max-kg: ..."
        row.update({key: best.get(key) for key in _OPTION_FIELDS})
        row["note"] = note
        rows.append(row)
    one = rows[0]
    for row in rows:
        for ratio, key in (("kg_ratio_to_one_run", "kgco2e"), ("usd_ratio_to_one_run", "cost_usd")):
            a, b = row.get(key), one.get(key)
            row[ratio] = plain(a / b, 4) if a is not None and b else None
        row["same_option_as_one_run"] = bool(one.get("provider")) and all(
            row.get(k) == one.get(k)
            for k in ("provider", "region", "instance_type", "market", "instances")
        )
    out: dict[str, Any] = {
        "basis": "each row is the job re-planned under the same constraints, settings and "
        "objective; the row marked planned is the plan itself",
        "rows": rows,
    }
    if any(r["kind"] == "from_scratch" for r in rows):
        fig = PRETRAINING_TOKENS_PER_PARAM
        out["assumptions"] = {
            "pretraining_tokens_per_param": {
                "value": fig.value,
                "unit": fig.unit,
                "source": fig.source,
                "estimated": fig.estimated,
            }
        }
    return out
