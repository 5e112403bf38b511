"""Command-line pieces shared by every command: output formats, number checks, the console,
and the job/constraint options of ``suggest`` that ``report`` and ``launch`` reuse.

Commands that plan a job take those options with one decorator instead of copying them::

    @app.command()
    @plan_options
    def report(plan_args: PlanArgs, out: ...) -> None:
        request = build_request(plan_args)
        result = request.run(top=None)

``plan_options`` adds the shared parameters to the command's signature (typer reads the
signature), then hands them to the command bundled as one :class:`PlanArgs`.
"""

from __future__ import annotations

import functools
import inspect
import math
import sys
import typing
from collections.abc import Callable
from dataclasses import MISSING, dataclass, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import click
import typer
from click.core import ParameterSource
from rich.console import Console

from recommender import assumptions as A
from recommender.errors import BadInputError

if TYPE_CHECKING:
    from recommender.catalog import Catalog
    from recommender.planner import Constraints, Job, Plan, Settings
    from recommender.planner.core import IntensityFn
    from recommender.planner.sizing import Campaign
    from recommender.planner.timing import TimingFlags


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


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


def check_number(
    flag: str,
    value: float | None,
    *,
    low: float = 0.0,
    high: float = 1e12,
    inclusive_low: bool = False,
) -> None:
    """Reject NaN, infinities and values outside a sane range, naming the flag."""
    if value is None:
        return
    if math.isnan(value) or math.isinf(value):
        raise BadInputError(f"{flag} must be a finite number, not {value}")
    too_low = value < low if inclusive_low else value <= low
    if too_low:
        bound = f">= {low:g}" if inclusive_low else f"> {low:g}"
        raise BadInputError(f"{flag} must be {bound}, got {value:g}")
    if value > high:
        raise BadInputError(
            f"{flag}={value:g} is implausibly large (limit {high:g})",
            "check the unit: the flag's --help says what it expects",
        )


def split_values(values: list[str] | None) -> list[str]:
    """Accept both repeated flags and comma-separated lists."""
    out: list[str] = []
    for value in values or []:
        out.extend(part.strip() for part in value.split(",") if part.strip())
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


# Flags whose defaults are modelling assumptions, by the name they carry in the output.
_SETTING_FLAGS = {
    "utilisation": "gpu_utilisation",
    "scaling_efficiency": "scaling_efficiency",
    "embodied": "embodied_g_per_gpu_hour",
    "carbon_price": "carbon_price_usd_per_t",
    "objective": "objective",
    "ref_gpu": "ref_gpu",
    "max_instances": "max_instances",
}


@dataclass(frozen=True)
class PlanRequest:
    """Validated, resolved inputs of a plan; ``run`` calls the planner."""

    catalog: Catalog
    job: Job
    settings: Settings
    constraints: Constraints
    baseline: tuple[str, str] | None
    defaults_used: frozenset[str]
    intensity_fn: IntensityFn | None = None  # None: the shipped static annual figures
    # values taken from the config file or CARBONPLAN_* (not flags, not built-in defaults):
    # output name -> "config file PATH" or "environment VAR"
    configured: tuple[tuple[str, str], ...] = ()

    def with_job(self, job: Job) -> PlanRequest:
        """The same request for another job (same catalog, settings, constraints, baseline and
        intensity): e.g. one run of a search, re-planned for the report's campaign breakdown."""
        return replace(self, job=job)

    def run(self, *, top: int | None = 20, all_sizes: bool = False) -> Plan:
        from recommender.planner import plan

        result = plan(
            self.catalog.offers,
            self.catalog.regions,
            self.catalog.gpus,
            self.job,
            self.settings,
            self.constraints,
            baseline=self.baseline,
            top=top,
            all_sizes=all_sizes,
            intensity_fn=self.intensity_fn,
        )
        return replace(result, configured=self.configured) if self.configured else result


def build_campaign(args: SizingArgs) -> Campaign:
    """Validate the sizing flags together (see :func:`recommender.planner.sizing.from_flags`)."""
    from recommender.planner.sizing import from_flags

    values = {f.name: getattr(args, f.name) for f in fields(SizingArgs)}
    values["grid"] = split_values(args.grid)
    for name in ("precision", "optimizer", "search"):
        values[name] = values[name].value if values[name] is not None else None
    return from_flags(**values)


def build_request(args: PlanArgs) -> PlanRequest:
    """Check every number, resolve every name (with "did you mean"), and refuse
    contradictions; raise :class:`BadInputError` with a hint otherwise."""
    from recommender.catalog import load_catalog, parse_region, resolve_gpu, resolve_provider
    from recommender.catalog.bases import check_basis
    from recommender.planner import Constraints, Settings
    from recommender.planner.sizing import job_for

    args, configured = with_config(args)
    check_number("--gpu-hours", args.gpu_hours, high=1e9)
    campaign = build_campaign(args)
    if campaign.model is None and args.gpu_hours is None:
        raise BadInputError(
            "Missing option '--gpu-hours' or '--params': how much work is the job?",
            "give --gpu-hours H (measured on --ref-gpu), or --params N --tokens D "
            "(e.g. --params 350M --tokens 20B)",
        )
    if campaign.model is not None and args.gpu_hours is not None:
        raise BadInputError(
            "--gpu-hours and --params both size the job",
            "give one: --gpu-hours H (measured), or --params N --tokens D (from FLOPs)",
        )
    if campaign.model is not None and given_on_command_line("ref_gpu"):
        raise BadInputError(
            "--ref-gpu qualifies --gpu-hours; with --params the work is sized on the A100-80GB "
            "at --mfu and every GPU scales by its measured throughput",
            "drop --ref-gpu",
        )
    check_number("--min-gpu-memory", args.min_gpu_memory, high=4096)
    timing = _timing_flags(args)
    check_number("--max-cost", args.max_cost, high=1e10)
    check_number("--max-kg", args.max_kg, high=1e10)
    check_number("--carbon-price", args.carbon_price, low=0, inclusive_low=True, high=1e5)
    check_number("--utilisation", args.utilisation, high=1.0)
    check_number("--scaling-efficiency", args.scaling_efficiency, high=1.0)
    check_number("--embodied", args.embodied, low=0, inclusive_low=True, high=1e4)
    if args.max_instances < 1 or args.max_instances > 1024:
        raise BadInputError(f"--max-instances must be between 1 and 1024, got {args.max_instances}")
    if args.no_embodied and given_on_command_line("embodied"):
        raise BadInputError("--embodied and --no-embodied contradict each other", "give one")
    if args.spot and args.on_demand:
        raise BadInputError(
            "--spot and --on-demand contradict each other",
            "give one of them, or neither to plan on both markets",
        )

    basis = check_basis(args.intensity_basis)
    live = args.intensity.strip().lower() != "static" or args.intensity_file is not None
    if basis != "grid" and live:
        raise BadInputError(
            f"--intensity-basis {basis} applies to the shipped annual figures; live and file "
            "intensities are grid averages",
            "drop --intensity-basis, or use --intensity static",
        )
    if args.intensity_column is not None and args.intensity_file is None:
        raise BadInputError(
            "--intensity-column names a column of --intensity-file", "give --intensity-file FILE"
        )
    static_given = given_on_command_line("intensity") and args.intensity.strip().lower() == "static"
    if args.intensity_file is not None and static_given:
        raise BadInputError(
            "--intensity static and --intensity-file contradict each other: the file replaces "
            "the shipped annual figures",
            "drop --intensity static (--intensity-file implies --intensity csv)",
        )
    catalog = load_catalog().with_basis(basis)
    providers = tuple(dict.fromkeys(resolve_provider(p) for p in split_values(args.provider)))
    regions = tuple(parse_region(r, catalog.regions) for r in split_values(args.region))
    excluded = tuple(parse_region(r, catalog.regions) for r in split_values(args.exclude_region))
    if regions and providers:
        outside = [f"{p}:{r}" for p, r in regions if p not in providers]
        if outside:
            raise BadInputError(
                f"--region {outside[0]} is not in --provider {','.join(providers)}",
                "drop the --provider filter or choose a region of those providers",
            )
    if regions and excluded and set(regions) <= set(excluded):
        raise BadInputError("every --region is also excluded by --exclude-region")
    gpus = tuple(dict.fromkeys(resolve_gpu(g, catalog.gpus) for g in split_values(args.gpu)))
    baseline = parse_region(args.baseline, catalog.regions) if args.baseline else None
    markets: tuple[str, ...] = ("on-demand", "spot")
    if args.spot or args.on_demand:  # never both: refused above
        markets = ("spot",) if args.spot else ("on-demand",)

    defaults = {"cpu_w_per_vcpu", "memory_w_per_gib"}  # not flags: always the sourced values
    defaults |= {
        name
        for flag, name in _SETTING_FLAGS.items()
        if not given_on_command_line(flag) and name not in configured
    }
    if campaign.model is not None and args.mfu is None:
        defaults.add("mfu")
    return PlanRequest(
        catalog=catalog,
        job=job_for(
            campaign, args.gpu_hours, resolve_gpu(args.ref_gpu, catalog.gpus), catalog.gpus
        ),
        settings=Settings(
            gpu_utilisation=args.utilisation,
            scaling_efficiency=args.scaling_efficiency,
            embodied_g_per_gpu_hour=0.0 if args.no_embodied else args.embodied,
            carbon_price_usd_per_t=args.carbon_price,
            objective=args.objective.value,
        ),
        constraints=Constraints(
            providers=providers or None,
            regions=regions or None,
            exclude_regions=excluded,
            gpus=gpus or None,
            min_gpu_memory_gb=args.min_gpu_memory,
            markets=markets,
            max_instances=args.max_instances,
            deadline_hours=timing.deadline_hours if timing is not None else None,
            max_cost_usd=args.max_cost,
            max_kgco2e=args.max_kg,
            **_timing_constraints(timing),
        ),
        baseline=baseline,
        defaults_used=frozenset(defaults),
        intensity_fn=_intensity_fn(args, catalog, providers, regions, excluded, timing),
        configured=tuple(sorted(configured.items())),
    )


# [plan] settings (recommender.config) -> the PlanArgs field each one is the default of
_CONFIG_FIELDS = {
    "providers": "provider",
    "exclude_regions": "exclude_region",
    "objective": "objective",
    "carbon_price": "carbon_price",
    "utilisation": "utilisation",
    "scaling_efficiency": "scaling_efficiency",
    "embodied": "embodied",
    "ref_gpu": "ref_gpu",
    "max_instances": "max_instances",
    "intensity_basis": "intensity_basis",
}


def with_config(args: PlanArgs) -> tuple[PlanArgs, dict[str, str]]:
    """``args`` with each flag that was not typed taken from the config file's ``[plan]`` table
    or its ``CARBONPLAN_*`` variable, and where each value so taken came from, by its name in
    the output (``gpu_utilisation``, ``providers``, ``markets``, ...). Typed flags always win.
    A configured name that does not resolve is one error naming the file and key."""
    from recommender.config import plan_settings

    settings = plan_settings()
    check_config_names(settings)
    changes: dict[str, Any] = {}
    configured: dict[str, str] = {}
    static = args.intensity.strip().lower() == "static" and args.intensity_file is None
    for key, name in _CONFIG_FIELDS.items():
        setting = settings[key]
        if setting.origin == "default" or given_on_command_line(name):
            continue
        if key == "ref_gpu" and args.params is not None:
            continue  # a job sized from --params has no reference GPU of its own
        if key == "intensity_basis" and not static:
            continue  # the bases are of the shipped annual figures; live/file are grid averages
        changes[name] = Objective(setting.value) if key == "objective" else setting.value
        configured[_SETTING_FLAGS.get(name, key)] = setting.origin
    markets = settings["markets"]
    typed = given_on_command_line("spot") or given_on_command_line("on_demand")
    if markets.origin != "default" and not typed:
        chosen = set(markets.value)
        changes["spot"] = chosen == {"spot"}
        changes["on_demand"] = chosen == {"on-demand"}
        configured["markets"] = markets.origin
    return replace(args, **changes), configured


def check_config_names(settings: dict[str, Any]) -> None:
    """Resolve the configured providers, regions, GPU and basis as their flags would be, but
    name the file and key (or the variable) in the error."""
    from recommender.catalog import load_catalog, parse_region, resolve_gpu, resolve_provider
    from recommender.catalog.bases import check_basis

    checks: dict[str, Callable[[Any], Any]] = {
        "providers": lambda names: [resolve_provider(n) for n in names],
        "exclude_regions": lambda names: [parse_region(n, load_catalog().regions) for n in names],
        "ref_gpu": lambda name: resolve_gpu(name, load_catalog().gpus),
        "intensity_basis": check_basis,
    }
    for key, check in checks.items():
        setting = settings[key]
        if setting.origin == "default":
            continue
        try:
            check(setting.value)
        except BadInputError as exc:
            raise BadInputError(f"{setting.where}: {exc.message}", exc.hint) from None


def warn(message: str) -> None:
    """One ``warning: ...`` line on stderr (never stdout: --format json must stay parseable)."""
    sys.stderr.write(f"warning: {message}\n")
    sys.stderr.flush()


def _intensity_fn(
    args: PlanArgs,
    catalog: Catalog,
    providers: tuple[str, ...],
    regions: tuple[tuple[str, str], ...],
    excluded: tuple[tuple[str, str], ...],
    timing: TimingFlags | None = None,
) -> IntensityFn | None:
    """The live-intensity hook for --intensity/--intensity-file (None: static figures). The
    intensity package (requests, sqlite3) is imported only when asked for. Fetching starts
    now, for the regions the constraints allow, and overlaps the planning. With the timing
    flags each option runs in its own best window (recommender.planner.timing)."""
    window = timing.window if timing is not None else None
    static = args.intensity.strip().lower() == "static" and args.intensity_file is None
    if static:
        return _static_timing(timing)
    from recommender.intensity import make_intensity_fn

    trace_only = args.intensity_file is not None and args.intensity.strip().lower() in (
        "static",
        "csv",
    )
    # A trace is replayed as if it were the start time: rows after it are the forecast.
    now = window.start_after if window is not None and trace_only else None
    if window is not None and not trace_only:
        from datetime import UTC, datetime, timedelta

        if window.start_after < datetime.now(UTC) - timedelta(minutes=5):
            raise BadInputError(
                "--start-after is in the past; live grid APIs can only plan from now on",
                "give a later --start-after, or plan on a trace with --intensity-file",
            )
    fn: Any = make_intensity_fn(
        args.intensity, args.intensity_file, warn=warn, now=now, column=args.intensity_column
    )
    if fn is None:  # e.g. --intensity live with no source configured
        return _static_timing(timing)
    if window is not None:
        from recommender.planner.timing import ShiftedIntensity

        fn = ShiftedIntensity(fn, window, warn=warn)
    frame = catalog.regions
    keys = list(zip(frame["provider"], frame["region"], strict=True))
    offered = set(zip(catalog.offers["provider"], catalog.offers["region"], strict=True))
    keep = [
        (p, r) in offered
        and (not providers or p in providers)
        and (not regions or (p, r) in regions)
        and (p, r) not in excluded
        for p, r in keys
    ]
    fn.prefetch(frame[keep])
    return fn


def _static_timing(timing: TimingFlags | None) -> IntensityFn | None:
    """With static figures every hour is alike: say so once, and start at --start-after."""
    if timing is None or timing.window is None or not timing.explicit:
        return None
    from recommender.planner.timing import ShiftedIntensity

    warn(
        "static annual intensity is the same at every hour, so there is nothing to shift: "
        "use --intensity live or --intensity-file for start times that matter"
    )
    return ShiftedIntensity(None, timing.window, warn=warn)


def _timing_flags(args: PlanArgs) -> TimingFlags | None:
    """--start-after, --deadline (hours or a time), --interruptible, --checkpoint-minutes
    (None when none is given: the timing module is not even imported)."""
    given = (args.start_after, args.deadline, args.checkpoint_minutes)
    if all(value is None for value in given) and not args.interruptible:
        return None
    from datetime import UTC, datetime

    from recommender.planner.timing import timing_flags

    return timing_flags(
        args.start_after,
        args.deadline,
        args.interruptible,
        args.checkpoint_minutes,
        datetime.now(UTC),
    )


def _timing_constraints(timing: TimingFlags | None) -> dict[str, Any]:
    window = timing.window if timing is not None else None
    if timing is None or window is None or not timing.explicit:
        return {}
    values = window.as_dict()
    return {
        "start_after": values["start_after"],
        "deadline_at": values["deadline"],
        "interruptible": window.interruptible or None,
        "checkpoint_minutes": window.checkpoint_minutes if window.interruptible else None,
    }
