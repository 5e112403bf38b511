"""``carbonplan size``: turn a model and an experiment plan into FLOPs, GPU-hours per GPU type
and a memory need, showing each step so the arithmetic can be checked by hand.

FLOPs become hours on the reference GPU at its BF16 peak x MFU; every GPU type then scales by
its benchmarked relative throughput, the same model ``suggest`` uses for --params and for
--gpu-hours alike.

Module import stays light (no pandas, no catalog): ``suggest`` imports the CLI, not this work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from recommender.cliopts import (
    Format,
    FormatOpt,
    GpuOpt,
    SizingArgs,
    console,
    emit,
    sizing_options,
    sizing_request,
)

if TYPE_CHECKING:
    from rich.console import Console


@sizing_options
def size(
    sizing_args: SizingArgs,
    gpu: GpuOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Size a job from the model and experiment plan: FLOPs, GPU-hours per GPU, memory need."""
    from recommender import api

    document = api.size_request(sizing_request(sizing_args), gpu=gpu).document
    if fmt is Format.table:
        render_size(document, console())
        return
    emit(fmt, document, document["gpus"])


def _fmt_hours(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.3g}" if value < 100 else f"{value:,.0f}"


def render_size(doc: dict[str, Any], out: Console) -> None:
    """The derivation, line by line, then GPU-hours per GPU type."""
    from rich.table import Table
    from rich.text import Text

    from recommender.planner.sizing import human

    params, tokens = doc["params"], doc["tokens_per_run"]
    compute = doc["active_params"] or params
    moe = f" (MoE: {human(compute)} active per token)" if doc["active_params"] else " (dense)"
    kind = "trained from scratch"
    if doc["finetune"]:
        kind = "fine-tuned from a checkpoint" + (" with LoRA/PEFT" if doc["peft"] else " (full)")
    if doc["examples"] is not None:
        data = (
            f"{human(doc['examples'])} examples x {doc['seq_len']:,} tokens x "
            f"{doc['epochs']:g} epoch(s)"
        )
    else:
        data = "--tokens"
    k = doc["flops_per_param_token"]
    flops_how = f"{k:g} x {human(compute)} x {human(tokens)}" + (
        " (4 = forward 2 + activation gradients 2; frozen weights get no gradients)"
        if doc["peft"]
        else " (6 = forward 2 + backward 4)"
    )
    search = doc["search"]
    if search == "grid":
        dims = " x ".join(f"{n} {v}" for n, v in doc["grid"].items())
        trials_how = f"full grid: {dims} = {doc['trials']:,} trials"
    elif search == "random":
        trials_how = f"random search: {doc['trials']:,} trials (--trials)"
    else:
        trials_how = "a single run"
    runs_how = (
        f"{doc['trials']:,} trials x {doc['early_stop']:g} of a run each (--early-stop)"
        if doc["early_stop"] != 1.0
        else "every trial runs to the end (no --early-stop)"
    )
    mfu = doc["assumptions"]["mfu"]
    ref = doc["ref_gpu"]
    mfu_how = (
        f"--mfu, on the reference GPU ({ref})"
        if mfu["value"] != mfu["default"]
        else f"on the reference GPU ({ref}); default: published large runs reach 0.32-0.46 "
        "(BLOOM, Llama 2 and 3, PaLM; sources in --format json)"
    )
    table = Table(title="Job size", show_header=False, header_style="bold")
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_column("how", overflow="fold")
    rows = [
        ("model", f"{human(params)} parameters", kind + moe),
        ("tokens per run", human(tokens), data),
        ("FLOPs per run", f"{doc['flops_per_run']:.4g}", flops_how),
        ("trials", f"{doc['trials']:,}", trials_how),
        ("full-run equivalents", f"{doc['full_run_equivalents']:,.4g}", runs_how),
        ("FLOPs, whole campaign", f"{doc['flops']:.4g}", "FLOPs per run x full-run equivalents"),
        ("MFU", f"{mfu['value']:g}", mfu_how),
        (
            f"{ref} GPU-hours",
            _fmt_hours(doc["total_ref_gpu_hours"]),
            f"FLOPs / ({ref} peak {doc['ref_gpu_peak_tflops']:g} TFLOPS x 1e12 x MFU x 3600)",
        ),
        (
            "memory need",
            f"{doc['memory_gb_required']:,.1f} GB",
            doc["memory"]["derivation"],
        ),
    ]
    for row in rows:
        table.add_row(*row)
    out.print(table)
    out.print(Text(f"memory need: {doc['memory']['counts']}.", style="dim"))

    searches = [c["search"] for c in doc.get("campaigns", [])]
    gtable = Table(
        title=f"GPU-hours = {ref} GPU-hours x rel. throughput({ref}) / rel. throughput(gpu)",
        header_style="bold",
    )
    for name in ("gpu", "rel. throughput", "GPU-hours per run"):
        gtable.add_column(name, justify="left" if name == "gpu" else "right")
    if len(searches) > 1:
        for c in doc["campaigns"]:
            gtable.add_column(f"GPU-hours, {c['search']} ({c['trials']:,} trials)", justify="right")
    else:
        gtable.add_column("GPU-hours, campaign", justify="right")
    gtable.add_column("GB per GPU", justify="right")
    gtable.add_column("GPUs to hold the model", justify="right")
    for r in doc["gpus"]:
        if len(searches) > 1:
            hours = [_fmt_hours(r[f"gpu_hours_{s}_search"]) for s in searches]
        else:
            hours = [_fmt_hours(r["gpu_hours"])]
        gtable.add_row(
            r["gpu"],
            f"{r['rel_throughput']:g}" + ("*" if r["throughput_basis"] == "estimated" else ""),
            _fmt_hours(r["gpu_hours_per_run"]),
            *hours,
            f"{r['memory_gb']:g}",
            f"{r['min_gpus_for_memory']:,}",
        )
    out.print(gtable)
    out.print(
        Text(
            f"rel. throughput = benchmarked training throughput vs {ref} from gpus.csv, the "
            "factor suggest uses for --gpu-hours too (* = estimated: no benchmark of that GPU).",
            style="dim",
        )
    )
    out.print(Text("MFU applies to the reference GPU only (its dense BF16 peak).", style="dim"))
    if len(searches) > 1:
        out.print(
            Text(
                f"the plan (suggest, estimate) uses the {search} search; --search picks it.",
                style="dim",
            )
        )
    out.print(
        Text(
            "GPU-hours are the whole campaign's on one GPU type; `carbonplan suggest` with the "
            "same flags ranks where to run it (instances whose GPUs together hold the memory "
            "need).",
            style="dim",
        )
    )
