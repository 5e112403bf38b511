"""``carbonplan size`` / :func:`recommender.size` as one JSON document: every input, default
and derived figure of a job sized from the model and the experiment plan."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from recommender.planner.sizing import Campaign


def size_document(
    campaign: Campaign, gpus: pd.DataFrame, catalog: pd.DataFrame | None = None
) -> dict[str, Any]:
    """Every input, default and derived figure of the sizing, as plain JSON values.
    ``catalog`` holds the reference GPU when ``gpus`` is a filtered selection."""
    from recommender import __version__
    from recommender.planner import sizing as S
    from recommender.reports.records import plain

    model = campaign.model
    assert model is not None
    catalog = gpus if catalog is None else catalog
    ref_peak = S.reference_peak(catalog)
    per_run = campaign.gpu_hours_by_gpu(gpus, runs=1.0, catalog=catalog)
    campaign_hours = campaign.gpu_hours_by_gpu(gpus, catalog=catalog)
    min_gpus = campaign.min_gpus_for_memory(gpus)
    alternatives = campaign.search.alternatives()
    by_search = {
        kind: campaign.gpu_hours_by_gpu(
            gpus, runs=trials * campaign.search.early_stop, catalog=catalog
        )
        for kind, trials in alternatives
    }
    rows: list[dict[str, Any]] = []
    for g in gpus.itertuples(index=False):
        row: dict[str, Any] = {
            "gpu": g.gpu,
            "rel_throughput": plain(g.rel_throughput),
            "throughput_basis": g.throughput_basis,
            "bf16_tflops": plain(g.bf16_tflops),
            "gpu_hours_per_run": plain(per_run[g.gpu]),
            "gpu_hours": plain(campaign_hours[g.gpu]),
        }
        for kind, hours in by_search.items():
            row[f"gpu_hours_{kind}_search"] = plain(hours[g.gpu])
        row["memory_gb"] = plain(g.memory_gb)
        row["min_gpus_for_memory"] = int(min_gpus[g.gpu])
        rows.append(row)
    document: dict[str, Any] = {"carbonplan_version": __version__}
    document.update({k: plain(v) for k, v in S.describe(campaign).items()})
    # The same reference-GPU figures as suggest's job section (ref_gpu, gpu_hours there).
    document["ref_gpu"] = S.MFU_REF_GPU
    document["ref_gpu_peak_tflops"] = plain(ref_peak)
    document["ref_gpu_hours_per_run"] = plain(model.gpu_hours(ref_peak))
    document["total_ref_gpu_hours"] = plain(campaign.ref_gpu_hours(catalog))
    document["gpu_hours_basis"] = S.basis_text(model, ref_peak)
    document["gpu_hours"] = {r["gpu"]: r["gpu_hours"] for r in rows}
    document["gpu_hours_per_run"] = {r["gpu"]: r["gpu_hours_per_run"] for r in rows}
    if len(alternatives) > 1 or campaign.search.grid:
        document["campaigns"] = [
            {
                "search": kind,
                "trials": trials,
                "full_run_equivalents": plain(trials * campaign.search.early_stop),
                "flops": plain(model.flops * trials * campaign.search.early_stop),
                "gpu_hours": {r["gpu"]: r[f"gpu_hours_{kind}_search"] for r in rows},
            }
            for kind, trials in alternatives
        ]
    document["memory"] = {
        "bytes_per_param": plain(model.memory.bytes_per_trainable_param),
        "weight_bytes": model.memory.weight_bytes,
        "gradient_bytes": model.memory.gradient_bytes,
        "optimizer_bytes": model.memory.optimizer_bytes,
        "trainable_params": plain(model.memory.trainable_params),
        "derivation": model.memory.describe(),
        "counts": "weights + gradients + optimizer state only (ZeRO accounting); activations "
        "are not counted, so a fit is necessary, not sufficient",
    }
    figures = {"mfu": S.MFU}
    if model.peft:
        figures |= {
            "peft_flops_factor": S.PEFT_FLOPS_FACTOR,
            "peft_trainable_fraction": S.PEFT_TRAINABLE_FRACTION,
        }
    document["assumptions"] = {
        name: {
            "value": plain(model.mfu if name == "mfu" else fig.value),
            "default": fig.value,
            "unit": fig.unit,
            "source": fig.source,
            "estimated": fig.estimated,
        }
        for name, fig in figures.items()
    }
    document["gpus"] = rows
    return document
