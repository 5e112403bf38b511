"""Command-line option declarations shared by every command: output formats, the console, and
the job/constraint options of ``suggest`` that ``report`` and ``launch`` reuse.

Commands that plan a job take those options with one decorator instead of copying them::

    @app.command()
    @plan_options
    def report(plan_args: PlanArgs, out: ...) -> None:
        request = build_request(plan_args)
        result = request.run(top=None)

``plan_options`` adds the shared parameters to the command's signature (typer reads the
signature), then hands them to the command bundled as one :class:`PlanArgs`. The flags become
the typed request of :mod:`recommender.api` (:func:`plan_request`), which checks and resolves
it: the command line and Python users share one application layer.
"""

from __future__ import annotations

import functools
import inspect
import sys
import typing
from collections.abc import Callable
from dataclasses import MISSING, dataclass, fields
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import click
import typer
from click.core import ParameterSource
from rich.console import Console

from recommender import assumptions as A
from recommender.api import warn as warn  # re-exported for the commands, as are the checks
from recommender.errors import BadInputError
from recommender.inputs import check_number as check_number
from recommender.inputs import split_values as split_values

if TYPE_CHECKING:
    from recommender.api import PlanRequest, Resolved, SizingRequest
    from recommender.planner.sizing import Campaign


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class SuggestFormat(StrEnum):
    """suggest's formats: the shared ones, and a SkyPilot task (recommender.reports.skypilot)."""

    table = "table"
    json = "json"
    csv = "csv"
    skypilot = "skypilot"


class Objective(StrEnum):
    carbon = "carbon"
    cost = "cost"
    time = "time"
    balanced = "balanced"


class SearchKind(StrEnum):
    grid = "grid"
    random = "random"


class Precision(StrEnum):
    mixed = "mixed"
    bf16 = "bf16"
    fp32 = "fp32"


class Optimizer(StrEnum):
    adam = "adam"
    sgd = "sgd"


def console() -> Console:
    """A console for tables. No markup, emoji or highlighting: data text such as
    "[estimated]" must print as it is. Wide when piped, so tables are not squeezed."""
    options: dict[str, Any] = {
        "soft_wrap": False,
        "markup": False,
        "emoji": False,
        "highlight": False,
    }
    out = Console(**options)
    if not out.is_terminal:
        out = Console(width=200, **options)
    return out


# What an empty name flag (--region '') is refused with: the flag, what it names, and how to
# say "all of them" (leave the flag out), since an empty filter is most likely a shell variable
# that was not set.
_EMPTY_HINTS = {
    "--provider": "give aws, gcp or azure, or leave --provider out for every cloud",
    "--gpu": "give a GPU model such as H100 ('carbonplan gpus' lists them), or leave --gpu out",
    "--region": "give PROVIDER:REGION, e.g. aws:ca-central-1 ('carbonplan regions' lists them), "
    "or leave --region out for every region",
    "--exclude-region": "give PROVIDER:REGION, e.g. aws:ap-south-1, or leave --exclude-region out",
    "--baseline": "give PROVIDER:REGION to compare against, e.g. aws:us-east-1, or leave "
    "--baseline out",
}


def no_empty_names(
    ctx: typer.Context, param: typer.CallbackParam, values: list[str] | None
) -> list[str] | None:
    """Refuse a name flag given with nothing in it (``--region ''``, ``--gpu ' , '``): it
    would otherwise mean "no filter" silently."""
    if ctx.resilient_parsing:  # shell completion: never an error
        return values
    flag = param.opts[0] if param.opts else f"--{param.name}"
    for value in values or []:
        if not split_values([value]):
            raise BadInputError(
                f"{flag} {value!r} names nothing", _EMPTY_HINTS.get(flag, f"drop {flag}")
            )
    return values


def no_empty_name(ctx: typer.Context, param: typer.CallbackParam, value: str | None) -> str | None:
    """:func:`no_empty_names` for a flag that takes one name (``--baseline ''``)."""
    no_empty_names(ctx, param, None if value is None else [value])
    return value


def emit(fmt: Format, document: Any, records: list[dict[str, Any]]) -> None:
    """Write JSON (one document) or CSV (one row per record) to stdout."""
    from recommender.reports.records import to_csv, to_json

    if fmt is Format.json:
        sys.stdout.write(to_json(document) + "\n")
    else:
        sys.stdout.write(to_csv(records))


def given_on_command_line(name: str) -> bool:
    """Whether the user typed this parameter (as opposed to its default)."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE)


ProviderOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--provider",
        help="Only these clouds: aws, gcp, azure (repeat or comma-separate).",
        callback=no_empty_names,
    ),
]
GpuOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--gpu", help="Only these GPU models (repeatable; aliases ok).", callback=no_empty_names
    ),
]
UtilisationOpt = Annotated[
    float, typer.Option("--utilisation", help="Average GPU power as a fraction of TDP.")
]
EmbodiedOpt = Annotated[
    float,
    typer.Option("--embodied", help="Embodied emissions, gCO2e per GPU-hour (BLOOM method)."),
]
NoEmbodiedOpt = Annotated[bool, typer.Option("--no-embodied", help="Leave embodied emissions out.")]
FormatOpt = Annotated[Format, typer.Option("--format", help="table, json or csv.")]
SuggestFormatOpt = Annotated[
    SuggestFormat,
    typer.Option(
        "--format",
        help="table, json, csv, or skypilot: a SkyPilot task YAML whose resources.ordered "
        "lists the shown options in rank order (sky launch tries them top down).",
    ),
]
SkypilotTaskOpt = Annotated[
    Path | None,
    typer.Option(
        "--skypilot-task",
        help="Your SkyPilot task YAML: the ranking is merged into its resources, everything "
        "else (name, setup, run, num_nodes, envs, file_mounts, disk_size, ...) is kept and "
        "conflicting resources fields are removed with a note on stderr; implies --format "
        "skypilot.",
        show_default=False,
    ),
]
IntensityBasisOpt = Annotated[
    str,
    typer.Option(
        "--intensity-basis",
        help="Which annual intensity figures: grid (default: every region's grid-zone "
        "average, lifecycle, one methodology for all clouds), provider (the cloud's own "
        "published region figure where there is one: Google's for GCP) or marginal "
        "(WattTime's annual marginal figure where shipped). Each row says which it got.",
    ),
]
IntensityColumnOpt = Annotated[
    str | None,
    typer.Option(
        "--intensity-column",
        help="Which intensity column of --intensity-file to read [default: gco2_per_kwh, or "
        "the lifecycle (LCA) column of an Electricity Maps export; name the direct one to "
        "use it instead].",
    ),
]


# --calibrate (suggest, estimate): a pilot's CodeCarbon CSV (recommender.track.calibrate)
CalibrateOpt = Annotated[
    Path | None,
    typer.Option(
        "--calibrate",
        help="A pilot run's CodeCarbon emissions.csv (from codecarbon or carbonplan track): "
        "its measured GPU power (gpu_energy / duration / gpu_count, last row) replaces TDP x "
        "--utilisation for its GPU; with --total-steps its throughput sizes the job.",
        show_default=False,
    ),
]
PilotStepsOpt = Annotated[
    float | None,
    typer.Option(
        "--pilot-steps",
        help="Steps the --calibrate pilot did [default: its steps column, from carbonplan track].",
        show_default=False,
    ),
]
TotalStepsOpt = Annotated[
    float | None,
    typer.Option(
        "--total-steps",
        help="Steps of the full job: with --calibrate, the pilot's steps per second size it.",
        show_default=False,
    ),
]


@dataclass(frozen=True)
class SizingArgs:
    """The raw values of the flags that size a job from the model and the experiment plan
    (see :mod:`recommender.planner.sizing`); ``size`` and ``estimate`` take these alone."""

    params: Annotated[
        str | None,
        typer.Option(
            "--params",
            help="Model parameters, e.g. 350M, 1.3B, 2e9: size the job as FLOPs = 6 x params x "
            "tokens instead of --gpu-hours.",
        ),
    ] = None
    active_params: Annotated[
        str | None,
        typer.Option(
            "--active-params",
            help="Mixture of experts: parameters used per token (FLOPs use these, memory uses "
            "--params).",
        ),
    ] = None
    tokens: Annotated[
        str | None, typer.Option("--tokens", help="Training tokens per run, e.g. 20B.")
    ] = None
    mfu: Annotated[
        float | None,
        typer.Option(
            "--mfu",
            help="Model-FLOPs utilisation on the reference GPU (A100-80GB): fraction of its peak "
            "BF16 FLOPS achieved, in (0, 1]; other GPUs scale by measured throughput "
            "[default: 0.40, middle of published large runs (BLOOM 0.32, Llama 3 0.38-0.43, "
            "PaLM 0.46)].",
            show_default=False,
        ),
    ] = None
    finetune: Annotated[
        bool,
        typer.Option(
            "--finetune",
            help="Fine-tune a pre-trained checkpoint; size the data with --examples, --seq-len "
            "and --epochs, or --tokens.",
        ),
    ] = False
    examples: Annotated[
        str | None,
        typer.Option("--examples", help="Fine-tuning examples, e.g. 50k (with --finetune)."),
    ] = None
    seq_len: Annotated[
        int | None, typer.Option("--seq-len", help="Tokens per example (with --examples).")
    ] = None
    epochs: Annotated[
        float | None,
        typer.Option("--epochs", help="Passes over the examples [default: 1].", show_default=False),
    ] = None
    peft: Annotated[
        bool,
        typer.Option(
            "--peft",
            help="LoRA/PEFT fine-tune: 4 x params x tokens FLOPs (no weight gradients for the "
            "frozen weights); adapters of 1% of the parameters in the memory check.",
        ),
    ] = False
    precision: Annotated[
        Precision | None,
        typer.Option(
            "--precision",
            help="Training precision for the memory check: mixed (bf16 + fp32 master weights, "
            "the default), bf16 or fp32.",
            show_default=False,
        ),
    ] = None
    optimizer: Annotated[
        Optimizer | None,
        typer.Option(
            "--optimizer",
            help="Optimizer for the memory check: adam (or AdamW; the default) or sgd (momentum).",
            show_default=False,
        ),
    ] = None
    trials: Annotated[
        int | None,
        typer.Option("--trials", help="Runs in the hyper-parameter search (random search: N)."),
    ] = None
    search: Annotated[
        SearchKind | None,
        typer.Option(
            "--search",
            help="grid (every combination of --grid) or random (--trials N) [default: grid "
            "when --grid is given].",
            show_default=False,
        ),
    ] = None
    grid: Annotated[
        list[str] | None,
        typer.Option(
            "--grid",
            help="Search grid dimensions as NAME=LEVELS (repeat or comma-separate), e.g. "
            "lr=4,batch=3 is 12 trials.",
        ),
    ] = None
    early_stop: Annotated[
        float | None,
        typer.Option(
            "--early-stop",
            help="Average fraction of a full run each search trial lasts (early stopping), "
            "in (0, 1].",
        ),
    ] = None


@dataclass(frozen=True)
class PlanArgs(SizingArgs):
    """The raw values of the job/constraint/assumption flags shared by planning commands."""

    gpu_hours: Annotated[
        float | None,
        typer.Option(
            "--gpu-hours",
            help="Work to do, in GPU-hours on the reference GPU (--ref-gpu); or size it with "
            "--params and --tokens.",
        ),
    ] = None
    ref_gpu: Annotated[
        str,
        typer.Option("--ref-gpu", help="GPU the --gpu-hours were measured on (aliases accepted)."),
    ] = "A100"
    provider: ProviderOpt = None
    region: Annotated[
        list[str] | None,
        typer.Option(
            "--region",
            help="Only these regions, as PROVIDER:REGION (repeatable).",
            callback=no_empty_names,
        ),
    ] = None
    exclude_region: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude-region",
            help="Never these regions, as PROVIDER:REGION (repeatable).",
            callback=no_empty_names,
        ),
    ] = None
    gpu: GpuOpt = None
    min_gpu_memory: Annotated[
        float | None, typer.Option("--min-gpu-memory", help="Minimum memory per GPU, in GB.")
    ] = None
    spot: Annotated[bool, typer.Option("--spot", help="Only spot (preemptible) capacity.")] = False
    on_demand: Annotated[bool, typer.Option("--on-demand", help="Only on-demand capacity.")] = False
    max_instances: Annotated[
        int,
        typer.Option("--max-instances", help="Most instances a --deadline may use in parallel."),
    ] = 8
    deadline: Annotated[
        str | None,
        typer.Option(
            "--deadline",
            help="Latest finish: HOURS after --start-after (e.g. 48) or an ISO 8601 TIME; each "
            "option uses the fewest instances that make it, and with live intensity runs in its "
            "cleanest window before it.",
        ),
    ] = None
    start_after: Annotated[
        str | None,
        typer.Option(
            "--start-after",
            help="Earliest start, ISO 8601 (UTC unless an offset is given) [default: now]; "
            "with --intensity-file it may be in the trace's past (a what-if).",
            show_default=False,
        ),
    ] = None
    interruptible: Annotated[
        bool,
        typer.Option(
            "--interruptible",
            help="The job may pause and resume at the intensity data's period boundaries: "
            "each option runs in its cleanest periods before --deadline.",
        ),
    ] = False
    checkpoint_minutes: Annotated[
        float | None,
        typer.Option(
            "--checkpoint-minutes",
            help="Restart overhead per pause of an --interruptible job, in minutes of extra run "
            "time (checkpoint + reload) [default: 5].",
            show_default=False,
        ),
    ] = None
    max_cost: Annotated[float | None, typer.Option("--max-cost", help="Budget in USD.")] = None
    max_kg: Annotated[float | None, typer.Option("--max-kg", help="Most kg CO2e allowed.")] = None
    objective: Annotated[
        Objective,
        typer.Option(
            "--objective",
            help="Rank by carbon (kg), cost ($), time (hours) or balanced ($ + carbon price x t).",
        ),
    ] = Objective.carbon
    carbon_price: Annotated[
        float,
        typer.Option(
            "--carbon-price",
            help="USD per t CO2e for --objective balanced "
            f"[default: {A.CARBON_PRICE_USD_PER_T.value:g}, {A.CARBON_PRICE_USD_PER_T.source}]",
            show_default=False,
        ),
    ] = A.CARBON_PRICE_USD_PER_T.value
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline",
            help="PROVIDER:REGION to compare every option against (same GPU); adds kg and $ saved.",
            callback=no_empty_name,
        ),
    ] = None
    utilisation: UtilisationOpt = A.GPU_UTILISATION.value
    scaling_efficiency: Annotated[
        float,
        typer.Option(
            "--scaling-efficiency",
            help="Throughput per GPU kept when a job spans several instances.",
        ),
    ] = A.SCALING_EFFICIENCY.value
    embodied: EmbodiedOpt = A.EMBODIED_G_PER_GPU_HOUR.value
    no_embodied: NoEmbodiedOpt = False
    intensity: Annotated[
        str,
        typer.Option(
            "--intensity",
            help="Grid intensity: static (shipped annual figures), live (the configured grid "
            "APIs in order, then static) or SOURCE[,SOURCE...] of electricitymaps, watttime, "
            "ukgrid, csv. Live figures are averaged over each option's run hours from now.",
        ),
    ] = "static"
    intensity_file: Annotated[
        Path | None,
        typer.Option(
            "--intensity-file",
            help="Your own intensity trace for the csv source (CSV columns: datetime, "
            "gco2_per_kwh, optional zone; Electricity Maps exports as they are); implies "
            "--intensity csv.",
        ),
    ] = None
    intensity_column: IntensityColumnOpt = None
    intensity_basis: IntensityBasisOpt = "grid"
    calibrate: CalibrateOpt = None
    pilot_steps: PilotStepsOpt = None
    total_steps: TotalStepsOpt = None


def plan_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give ``command`` all of :class:`PlanArgs`' options, passed to it as ``plan_args``."""
    return _bundle_options(PlanArgs, "plan_args", command)


def sizing_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give ``command`` the job-sizing options only, passed to it as ``sizing_args``."""
    return _bundle_options(SizingArgs, "sizing_args", command)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """Field annotations, inherited ones too (evaluated once per class: start-up time)."""
    return typing.get_type_hints(cls, include_extras=True)


def _bundle_options(cls: type, name: str, command: Callable[..., Any]) -> Callable[..., Any]:
    own = inspect.signature(command, eval_str=True)
    hints = _hints(cls)
    own_first = sorted(fields(cls), key=lambda f: f.name not in vars(cls)["__annotations__"])
    names = [f.name for f in own_first]
    shared = [
        inspect.Parameter(
            f.name,
            inspect.Parameter.KEYWORD_ONLY,
            annotation=hints[f.name],
            default=inspect.Parameter.empty if f.default is MISSING else f.default,
        )
        for f in own_first
    ]
    rest = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
        for p in own.parameters.values()
        if p.name != name
    ]
    params = sorted(
        [*shared, *rest], key=lambda p: p.default is not inspect.Parameter.empty
    )  # required first, as Python demands

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        bundle = cls(**{n: kwargs.pop(n) for n in names})
        return command(**{name: bundle}, **kwargs)

    wrapper.__signature__ = own.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper


def plan_request(args: SizingArgs) -> PlanRequest:
    """The flags as the API's typed request; the flags typed on the command line are the
    request's ``given`` (they win over the config file; the others are defaults)."""
    from recommender import api

    return _request(api.PlanRequest, args)


def sizing_request(args: SizingArgs) -> SizingRequest:
    """The sizing flags as the API's typed :class:`~recommender.api.SizingRequest`."""
    from recommender import api

    return _request(api.SizingRequest, args)


def _request(cls: type[Any], args: SizingArgs) -> Any:
    names = {f.name for f in fields(cls)} & {f.name for f in fields(args)}
    values = {n: _plain(getattr(args, n)) for n in names}
    return cls(**values, given=frozenset(n for n in names if given_on_command_line(n)))


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, StrEnum) else value


def build_request(args: PlanArgs) -> Resolved:
    """Check and resolve the planning flags (:func:`recommender.api.resolve`)."""
    from recommender import api

    return api.resolve(plan_request(args), warn=warn)


def build_campaign(args: SizingArgs) -> Campaign:
    """Validate the sizing flags together (:func:`recommender.api.campaign`)."""
    from recommender import api

    return api.campaign(sizing_request(args))
