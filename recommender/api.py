"""The application layer: a typed request becomes a plan (or an estimate, a sizing, a replay, a
report). The only module that wires the catalog, the intensity sources, sizing and the planner
together; the command line (``carbonplan``) and Python users both call it::

    import recommender

    plan = recommender.suggest(gpu_hours=400, top=10, max_cost=5000)
    plan.options          # a DataFrame: the JSON contract's option fields
    plan.to_dict()        # what `carbonplan suggest --format json` prints

Keyword names are the command line's flags (``--gpu-hours`` is ``gpu_hours``), with the same
defaults and the same checks: bad input raises :class:`~recommender.errors.BadInputError` with
the message and hint the CLI prints. Settings from the config file or ``CARBONPLAN_*``
variables apply to keywords that are not given, as they do to flags that are not typed.

Importing this module is light (no pandas): the work imports what it needs when called.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recommender import assumptions as A
from recommender.errors import BadInputError
from recommender.inputs import Deadline, When, check_number, split_values

if TYPE_CHECKING:
    import pandas as pd

    from recommender.catalog import Catalog
    from recommender.inputs import TimingFlags
    from recommender.jobs import JobsPlan
    from recommender.planner import Constraints, Job, Settings
    from recommender.planner import Plan as PlannerPlan
    from recommender.planner.core import IntensityFn
    from recommender.planner.estimate import Estimate
    from recommender.planner.sizing import Campaign

__all__ = [
    "EstimateResult",
    "Plan",
    "PlanRequest",
    "Replay",
    "ReportFiles",
    "Sizing",
    "SizingRequest",
    "estimate",
    "replay",
    "report",
    "resolve",
    "size",
    "suggest",
    "suggest_many",
]

Names = str | Sequence[str] | None  # one name, "a,b", or a list of either (as repeated flags)
Warn = Callable[[str], None]


def warn(message: str) -> None:
    """One ``warning: ...`` line on stderr (never stdout: JSON output must stay parseable)."""
    sys.stderr.write(f"warning: {message}\n")
    sys.stderr.flush()


# --- typed requests -----------------------------------------------------------------------


@dataclass(frozen=True)
class SizingRequest:
    """The job sized from the model and the experiment plan (``carbonplan size``'s flags):
    FLOPs = 6 x ``params`` x ``tokens`` (4 x with ``peft``) at ``mfu``, times the search's
    runs. Sizes are text as on the command line (``"350M"``, ``"20B"``) or numbers."""

    params: str | float | None = None
    active_params: str | float | None = None
    tokens: str | float | None = None
    mfu: float | None = None
    finetune: bool = False
    examples: str | float | None = None
    seq_len: int | None = None
    epochs: float | None = None
    peft: bool = False
    precision: str | None = None  # mixed, bf16, fp32
    optimizer: str | None = None  # adam, sgd
    trials: int | None = None
    search: str | None = None  # grid, random
    grid: Names = None  # NAME=LEVELS, e.g. "lr=4,batch=3"
    early_stop: float | None = None
    #: The names the caller set (command line: the flags typed). None: every field that
    #: differs from its default. Given values win over the config file; defaults do not.
    given: frozenset[str] | None = field(default=None, compare=False, repr=False)

    def given_names(self) -> frozenset[str]:
        if self.given is not None:
            return self.given
        return frozenset(
            f.name for f in fields(self) if f.name != "given" and getattr(self, f.name) != f.default
        )


@dataclass(frozen=True)
class PlanRequest(SizingRequest):
    """A job and its constraints, as ``carbonplan suggest`` takes them (keyword = flag).

    ``deadline`` is hours after ``start_after`` (a number, ``"48"``, a ``timedelta``) or the
    latest finish (ISO 8601 text or a ``datetime``); ``start_after`` is ISO 8601 text or a
    ``datetime`` (naive: UTC)."""

    gpu_hours: float | None = None
    ref_gpu: str = "A100"
    provider: Names = None
    region: Names = None
    exclude_region: Names = None
    gpu: Names = None
    min_gpu_memory: float | None = None
    spot: bool = False
    on_demand: bool = False
    max_instances: int = 8
    deadline: Deadline | None = None
    start_after: When | None = None
    interruptible: bool = False
    checkpoint_minutes: float | None = None
    max_cost: float | None = None
    max_kg: float | None = None
    objective: str = "carbon"  # carbon, cost, time, balanced
    carbon_price: float = A.CARBON_PRICE_USD_PER_T.value
    baseline: str | None = None
    utilisation: float = A.GPU_UTILISATION.value
    scaling_efficiency: float = A.SCALING_EFFICIENCY.value
    embodied: float = A.EMBODIED_G_PER_GPU_HOUR.value
    no_embodied: bool = False
    intensity: str = "static"
    intensity_file: str | Path | None = None
    intensity_column: str | None = None
    intensity_basis: str = "grid"
    #: a pilot run's CodeCarbon emissions.csv: its measured GPU power replaces TDP x
    #: utilisation for its GPU; with ``total_steps`` its throughput sizes the job
    calibrate: str | Path | None = None
    pilot_steps: float | None = None
    total_steps: float | None = None


def _names(value: Names, flag: str) -> list[str]:
    """Names given as one string, ``"a,b"`` or a list; an empty one is refused as the flag's
    callback refuses ``--region ''`` (it would otherwise mean "no filter" silently)."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    for item in items:
        if not isinstance(item, str) or not split_values([item]):
            raise BadInputError(
                f"{flag} {item!r} names nothing", f"give names, or leave {flag} out"
            )
    return split_values(items)


def _text(value: str | float | None) -> str | None:
    """A size given as a number (3.5e8) as the text the parser takes ("350000000.0")."""
    if value is None or isinstance(value, str):
        return value
    return repr(float(value))


def _request(cls: type[SizingRequest], values: dict[str, Any]) -> Any:
    """``cls(**values)`` with unknown keywords refused the way an unknown flag is."""
    known = {f.name for f in fields(cls)} - {"given"}
    unknown = sorted(set(values) - known)
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], sorted(known), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"valid: {', '.join(sorted(known))}"
        raise BadInputError(f"unknown keyword {unknown[0]!r}", hint)
    return cls(**values, given=frozenset(values))


# --- a request, resolved ------------------------------------------------------------------

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
class Resolved:
    """A :class:`PlanRequest` checked and resolved: the catalog on its intensity basis, the job,
    settings, constraints and the intensity hook; :meth:`run` calls the planner."""

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
    campaign: Campaign | None = None  # how the job was sized (None: built without one)
    calibration: Any = None  # calibrate: recommender.track.calibrate.Calibration

    def with_job(self, job: Job) -> Resolved:
        """The same request for another job (same catalog, settings, constraints, baseline and
        intensity): e.g. one run of a search, re-planned for the report's campaign breakdown."""
        return replace(self, job=job)

    def run(self, *, top: int | None = 20, all_sizes: bool = False) -> PlannerPlan:
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


def campaign(request: SizingRequest) -> Campaign:
    """Validate the sizing inputs together (see :func:`recommender.planner.sizing.from_flags`)."""
    from recommender.planner.sizing import from_flags

    values = {f.name: getattr(request, f.name) for f in fields(SizingRequest) if f.name != "given"}
    values["grid"] = _names(request.grid, "--grid")
    for name in ("params", "active_params", "tokens", "examples"):
        values[name] = _text(values[name])
    for name in ("precision", "optimizer", "search"):
        value = values[name]
        values[name] = str(getattr(value, "value", value)) if value is not None else None
    return from_flags(**values)


def resolve(request: PlanRequest, *, warn: Warn = warn) -> Resolved:
    """Check every number, resolve every name (with "did you mean"), and refuse
    contradictions; raise :class:`BadInputError` with a hint otherwise. Live intensity starts
    fetching here, for the regions the constraints allow (``warn`` hears of fallbacks)."""
    from recommender.catalog import load_catalog, parse_region, resolve_gpu, resolve_provider
    from recommender.catalog.bases import check_basis
    from recommender.planner import OBJECTIVES, Constraints, Settings
    from recommender.planner.sizing import job_for

    request, configured = with_config(request)
    given = request.given_names()
    calibration = None
    if (request.calibrate, request.pilot_steps, request.total_steps) != (None, None, None):
        from recommender.track.calibrate import for_plan

        if request.calibrate is not None:
            request = replace(request, calibrate=Path(request.calibrate), given=given)
        request, calibration = for_plan(request)  # sizes the job from the pilot's steps, if given
    check_number("--gpu-hours", request.gpu_hours, high=1e9)
    sized = campaign(request)
    if sized.model is None and request.gpu_hours is None:
        raise BadInputError(
            "Missing option '--gpu-hours' or '--params': how much work is the job?",
            "give --gpu-hours H (measured on --ref-gpu), or --params N --tokens D "
            "(e.g. --params 350M --tokens 20B)",
        )
    if sized.model is not None and request.gpu_hours is not None:
        raise BadInputError(
            "--gpu-hours and --params both size the job",
            "give one: --gpu-hours H (measured), or --params N --tokens D (from FLOPs)",
        )
    if sized.model is not None and "ref_gpu" in given:
        raise BadInputError(
            "--ref-gpu qualifies --gpu-hours; with --params the work is sized on the A100-80GB "
            "at --mfu and every GPU scales by its measured throughput",
            "drop --ref-gpu",
        )
    check_number("--min-gpu-memory", request.min_gpu_memory, high=4096)
    timing = _timing_flags(request)
    check_number("--max-cost", request.max_cost, high=1e10)
    check_number("--max-kg", request.max_kg, high=1e10)
    check_number("--carbon-price", request.carbon_price, low=0, inclusive_low=True, high=1e5)
    check_number("--utilisation", request.utilisation, high=1.0)
    check_number("--scaling-efficiency", request.scaling_efficiency, high=1.0)
    check_number("--embodied", request.embodied, low=0, inclusive_low=True, high=1e4)
    if request.max_instances < 1 or request.max_instances > 1024:
        raise BadInputError(
            f"--max-instances must be between 1 and 1024, got {request.max_instances}"
        )
    if request.no_embodied and "embodied" in given:
        raise BadInputError("--embodied and --no-embodied contradict each other", "give one")
    if request.spot and request.on_demand:
        raise BadInputError(
            "--spot and --on-demand contradict each other",
            "give one of them, or neither to plan on both markets",
        )
    objective = str(getattr(request.objective, "value", request.objective))
    if objective not in OBJECTIVES:
        raise BadInputError(
            f"unknown objective {objective!r}", f"use one of {', '.join(OBJECTIVES)}"
        )

    basis = check_basis(request.intensity_basis)
    intensity = request.intensity.strip().lower()
    live = intensity != "static" or request.intensity_file is not None
    if basis != "grid" and live:
        raise BadInputError(
            f"--intensity-basis {basis} applies to the shipped annual figures; live and file "
            "intensities are grid averages",
            "drop --intensity-basis, or use --intensity static",
        )
    if request.intensity_column is not None and request.intensity_file is None:
        raise BadInputError(
            "--intensity-column names a column of --intensity-file", "give --intensity-file FILE"
        )
    static_given = "intensity" in given and intensity == "static"
    if request.intensity_file is not None and static_given:
        raise BadInputError(
            "--intensity static and --intensity-file contradict each other: the file replaces "
            "the shipped annual figures",
            "drop --intensity static (--intensity-file implies --intensity csv)",
        )
    catalog = load_catalog().with_basis(basis)
    if calibration is not None:  # the pilot GPU's measured power replaces TDP x utilisation
        from recommender.track.calibrate import apply

        catalog = apply(catalog, calibration, request.utilisation)
    providers = tuple(
        dict.fromkeys(resolve_provider(p) for p in _names(request.provider, "--provider"))
    )
    regions = tuple(parse_region(r, catalog.regions) for r in _names(request.region, "--region"))
    excluded = tuple(
        parse_region(r, catalog.regions) for r in _names(request.exclude_region, "--exclude-region")
    )
    if regions and providers:
        outside = [f"{p}:{r}" for p, r in regions if p not in providers]
        if outside:
            raise BadInputError(
                f"--region {outside[0]} is not in --provider {','.join(providers)}",
                "drop the --provider filter or choose a region of those providers",
            )
    if regions and excluded and set(regions) <= set(excluded):
        raise BadInputError("every --region is also excluded by --exclude-region")
    gpus = tuple(dict.fromkeys(resolve_gpu(g, catalog.gpus) for g in _names(request.gpu, "--gpu")))
    baseline = parse_region(request.baseline, catalog.regions) if request.baseline else None
    markets: tuple[str, ...] = ("on-demand", "spot")
    if request.spot or request.on_demand:  # never both: refused above
        markets = ("spot",) if request.spot else ("on-demand",)

    defaults = {"cpu_w_per_vcpu", "memory_w_per_gib"}  # not flags: always the sourced values
    defaults |= {
        name
        for flag, name in _SETTING_FLAGS.items()
        if flag not in given and name not in configured
    }
    if sized.model is not None and request.mfu is None:
        defaults.add("mfu")
    return Resolved(
        catalog=catalog,
        job=job_for(
            sized, request.gpu_hours, resolve_gpu(request.ref_gpu, catalog.gpus), catalog.gpus
        ),
        settings=Settings(
            gpu_utilisation=request.utilisation,
            scaling_efficiency=request.scaling_efficiency,
            embodied_g_per_gpu_hour=0.0 if request.no_embodied else request.embodied,
            carbon_price_usd_per_t=request.carbon_price,
            objective=objective,
        ),
        constraints=Constraints(
            providers=providers or None,
            regions=regions or None,
            exclude_regions=excluded,
            gpus=gpus or None,
            min_gpu_memory_gb=request.min_gpu_memory,
            markets=markets,
            max_instances=request.max_instances,
            deadline_hours=timing.deadline_hours if timing is not None else None,
            max_cost_usd=request.max_cost,
            max_kgco2e=request.max_kg,
            **_timing_constraints(timing),
        ),
        baseline=baseline,
        defaults_used=frozenset(defaults),
        intensity_fn=_intensity_fn(request, catalog, providers, regions, excluded, timing, warn),
        configured=tuple(sorted(configured.items())),
        campaign=sized,
        calibration=calibration,
    )


# [plan] settings (recommender.config) -> the request field each one is the default of
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


def with_config(request: PlanRequest) -> tuple[PlanRequest, dict[str, str]]:
    """``request`` with each field that was not given taken from the config file's ``[plan]``
    table or its ``CARBONPLAN_*`` variable, and where each value so taken came from, by its
    name in the output (``gpu_utilisation``, ``providers``, ``markets``, ...). Given values
    always win. A configured name that does not resolve is one error naming the file and key."""
    from recommender.config import plan_settings

    settings = plan_settings()
    check_config_names(settings)
    given = request.given_names()
    changes: dict[str, Any] = {}
    configured: dict[str, str] = {}
    static = request.intensity.strip().lower() == "static" and request.intensity_file is None
    for key, name in _CONFIG_FIELDS.items():
        setting = settings[key]
        if setting.origin == "default" or name in given:
            continue
        if key == "ref_gpu" and request.params is not None:
            continue  # a job sized from --params has no reference GPU of its own
        if key == "intensity_basis" and not static:
            continue  # the bases are of the shipped annual figures; live/file are grid averages
        changes[name] = setting.value
        configured[_SETTING_FLAGS.get(name, key)] = setting.origin
    markets = settings["markets"]
    typed = "spot" in given or "on_demand" in given
    if markets.origin != "default" and not typed:
        chosen = set(markets.value)
        changes["spot"] = chosen == {"spot"}
        changes["on_demand"] = chosen == {"on-demand"}
        configured["markets"] = markets.origin
    return replace(request, **changes, given=given), configured


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


def _intensity_fn(
    request: PlanRequest,
    catalog: Catalog,
    providers: tuple[str, ...],
    regions: tuple[tuple[str, str], ...],
    excluded: tuple[tuple[str, str], ...],
    timing: TimingFlags | None,
    warn: Warn,
) -> IntensityFn | None:
    """The live-intensity hook for ``intensity``/``intensity_file`` (None: static figures). The
    intensity package (requests, sqlite3) is imported only when asked for. Fetching starts
    now, for the regions the constraints allow, and overlaps the planning. With the timing
    inputs each option runs in its own best window (recommender.intensity.shifting)."""
    window = timing.window if timing is not None else None
    intensity = request.intensity.strip().lower()
    if intensity == "static" and request.intensity_file is None:
        return _static_timing(timing, warn)
    from recommender.intensity import make_intensity_fn

    trace_only = request.intensity_file is not None and intensity in ("static", "csv")
    # A trace is replayed as if it were the start time: rows after it are the forecast.
    now = window.start_after if window is not None and trace_only else None
    if window is not None and not trace_only:
        from datetime import UTC, datetime, timedelta

        if window.start_after < datetime.now(UTC) - timedelta(minutes=5):
            raise BadInputError(
                "--start-after is in the past; live grid APIs can only plan from now on",
                "give a later --start-after, or plan on a trace with --intensity-file",
            )
    file = Path(request.intensity_file) if request.intensity_file is not None else None
    fn: Any = make_intensity_fn(
        request.intensity, file, warn=warn, now=now, column=request.intensity_column
    )
    if fn is None:  # e.g. --intensity live with no source configured
        return _static_timing(timing, warn)
    if window is not None:
        from recommender.intensity.shifting import ShiftedIntensity

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


def _static_timing(timing: TimingFlags | None, warn: Warn) -> IntensityFn | None:
    """With static figures every hour is alike: say so once, and start at ``start_after``."""
    if timing is None or timing.window is None or not timing.explicit:
        return None
    from recommender.intensity.shifting import ShiftedIntensity

    warn(
        "static annual intensity is the same at every hour, so there is nothing to shift: "
        "use --intensity live or --intensity-file for start times that matter"
    )
    return ShiftedIntensity(None, timing.window, warn=warn)


def _timing_flags(request: PlanRequest) -> TimingFlags | None:
    """``start_after``, ``deadline`` (hours or a time), ``interruptible``,
    ``checkpoint_minutes`` (None when none is given: the timing module is not even imported)."""
    given = (request.start_after, request.deadline, request.checkpoint_minutes)
    if all(value is None for value in given) and not request.interruptible:
        return None
    from datetime import UTC, datetime

    from recommender.inputs import timing_flags

    return timing_flags(
        request.start_after,
        request.deadline,
        request.interruptible,
        request.checkpoint_minutes,
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


# --- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """A ranked plan: :attr:`options` (a DataFrame of the JSON contract's option fields),
    :meth:`to_dict` (the ``suggest --format json`` document), :meth:`explain` (every
    assumption and source) and :meth:`pareto` (the cost/CO2e frontier rows)."""

    result: PlannerPlan  # the planner's own result (every computed column)
    request: Resolved

    @property
    def options(self) -> pd.DataFrame:
        """The ranked options, one row per option, with exactly the JSON contract's fields
        (``rank``, ``provider``, ``region``, ..., ``kgco2e``, ``cost_usd``, ``pareto``)."""
        import pandas as pd

        from recommender.reports.records import OPTION_FIELDS, option_records

        records = option_records(self.result.options)
        columns = list(records[0]) if records else list(OPTION_FIELDS)
        return pd.DataFrame(records, columns=columns)

    def to_dict(self) -> dict[str, Any]:
        """The whole plan as ``carbonplan suggest --format json`` prints it (plain values)."""
        from recommender.reports.views import plan_document

        document = plan_document(self.result, self.request.catalog, set(self.request.defaults_used))
        calibration = self.request.calibration
        if calibration is not None:  # which figures came from the pilot
            from recommender.track.calibrate import annotate, real_tdp

            annotate(document, calibration, real_tdp(calibration))
        return document

    def explain(self, width: int = 120) -> str:
        """Every assumption, constraint step and source behind the numbers, as the text
        ``suggest --explain`` prints."""
        import io

        from rich.console import Console

        from recommender.reports.views import render_explain

        out = io.StringIO()
        screen = Console(
            file=out, width=width, markup=False, emoji=False, highlight=False, soft_wrap=False
        )
        render_explain(self.result, self.request.catalog, screen)
        return out.getvalue()

    def pareto(self) -> pd.DataFrame:
        """The options on the cost/CO2e Pareto frontier (no other option is both cheaper and
        cleaner, to the ranking's precision), in rank order."""
        options = self.options
        return options[options["pareto"].astype(bool)].reset_index(drop=True)

    def __repr__(self) -> str:
        shown = len(self.result.options)
        best = self.result.options.iloc[0] if shown else None
        head = f"<Plan: {shown} of {self.result.feasible} feasible options"
        if best is None:
            return head + ">"
        return (
            f"{head}; best {best['provider']}:{best['region']} {best['instance_type']} "
            f"{best['market']}: {best['kgco2e']:.3g} kg CO2e, ${best['cost_usd']:,.0f}>"
        )


def suggest(
    gpu_hours: float | None = None,
    *,
    top: int = 20,
    all_sizes: bool = False,
    warn: Warn = warn,
    **constraints: Any,
) -> Plan:
    """Rank (cloud, region, instance, market) options for a job by carbon, cost or time.

    ``gpu_hours`` (or ``params`` and ``tokens``) is the work; every other keyword is a
    ``carbonplan suggest`` flag (:class:`PlanRequest` lists them): ``max_cost=5000``,
    ``deadline=timedelta(hours=48)``, ``provider=["aws", "gcp"]``, ``objective="cost"``...
    ``top=0`` keeps every option. Raises :class:`~recommender.errors.BadInputError` (bad
    input) or :class:`~recommender.errors.NoOptionError` (nothing satisfies the constraints).
    """
    if isinstance(top, bool) or not isinstance(top, int) or top < 0:
        raise BadInputError(f"--top must be >= 0, got {top}")
    values = dict(constraints)
    if gpu_hours is not None:
        values["gpu_hours"] = gpu_hours
    return plan_request(_request(PlanRequest, values), top=top, all_sizes=all_sizes, warn=warn)


def suggest_many(
    jobs: Any,
    *,
    top: int = 3,
    warn: Warn = warn,
    progress: Callable[[int, int], None] | None = None,
    **defaults: Any,
) -> JobsPlan:
    """Plan many jobs on one catalog (``carbonplan suggest --jobs FILE``): ``jobs`` is a jobs
    file (CSV or YAML, one job a row, columns named like the flags) or a list of mappings of
    keyword to value (``{"name": "ft-a", "gpu_hours": 400, "deadline": 48}``); ``defaults``
    are the keywords every job takes unless it gives its own (as the command line's flags
    are to a file's blank cells). Returns each job's top ``top`` options and the totals of
    the best choices (:class:`recommender.jobs.JobsPlan`: ``to_dict()`` is the JSON
    document). The first job that cannot be planned raises, naming it (and its line)."""
    from recommender.jobs import rows_from

    rows = rows_from(jobs, plan_fields())
    return plan_jobs(rows, _request(PlanRequest, defaults), top=top, warn=warn, progress=progress)


def plan_fields() -> list[str]:
    """The keywords of :class:`PlanRequest` (the flags a jobs file's columns may name)."""
    return [f.name for f in fields(PlanRequest) if f.name != "given"]


def plan_jobs(
    rows: list[Any],
    base: PlanRequest,
    *,
    top: int = 3,
    warn: Warn = warn,
    progress: Callable[[int, int], None] | None = None,
) -> JobsPlan:
    """:func:`suggest_many` for jobs already read (:mod:`recommender.jobs` rows) over the
    request ``base`` (the command line's flags)."""
    from recommender.jobs import plan_rows

    def plan_one(request: PlanRequest, top: int, warn: Warn) -> Plan:
        return plan_request(request, top=top, warn=warn)

    return plan_rows(rows, base, plan_one, top=top, warn=warn, progress=progress)


def plan_request(
    request: PlanRequest, *, top: int = 20, all_sizes: bool = False, warn: Warn = warn
) -> Plan:
    """:func:`suggest` for a :class:`PlanRequest` built beforehand."""
    resolved = resolve(request, warn=warn)
    return Plan(resolved.run(top=top or None, all_sizes=all_sizes), resolved)


@dataclass(frozen=True)
class EstimateResult:
    """Energy and CO2e of one job; :meth:`to_dict` is ``carbonplan estimate --format json``."""

    result: Estimate

    def to_dict(self) -> dict[str, Any]:
        from recommender.reports.views import estimate_document

        return estimate_document(self.result)

    def __getattr__(self, name: str) -> Any:  # energy_kwh, kgco2e, ... of the estimate
        if name == "result":
            raise AttributeError(name)
        return getattr(self.result, name)


def estimate(
    gpu: str,
    *,
    hours: float | None = None,
    count: float = 1,
    region: str | None = None,
    intensity: float | None = None,
    gpu_power_w: float | None = None,
    host_power_w: float | None = None,
    power_w: float | None = None,
    pue: float | None = None,
    utilisation: float = A.GPU_UTILISATION.value,
    embodied: float = A.EMBODIED_G_PER_GPU_HOUR.value,
    no_embodied: bool = False,
    intensity_basis: str = "grid",
    sizing: SizingRequest | None = None,
    calibrate: str | Path | None = None,
    pilot_steps: float | None = None,
    total_steps: float | None = None,
    given: frozenset[str] | None = None,
) -> EstimateResult:
    """Energy and CO2e of one job: ``gpu`` x ``count`` x ``hours`` x grid intensity (of
    ``region``, or ``intensity`` in gCO2e/kWh), plus host power, PUE and embodied emissions;
    keyword names are ``carbonplan estimate``'s flags. ``sizing`` derives the hours from the
    model instead of ``hours``. ``given``: the names the caller set (default: those that
    differ from their defaults)."""
    from recommender.catalog import load_catalog, parse_region, resolve_gpu
    from recommender.catalog.bases import check_basis
    from recommender.planner import estimate as run_estimate

    if given is None:
        values: dict[str, tuple[float | None, float | None]] = {  # (value, default)
            "gpu_power_w": (gpu_power_w, None),
            "host_power_w": (host_power_w, None),
            "utilisation": (utilisation, A.GPU_UTILISATION.value),
            "embodied": (embodied, A.EMBODIED_G_PER_GPU_HOUR.value),
        }
        given = frozenset(n for n, (value, default) in values.items() if value != default)
    check_number("--hours", hours, high=1e9)
    check_number("--count", count, high=1e6)
    check_number("--intensity", intensity, low=0, inclusive_low=True, high=2000)
    check_number("--gpu-power-w", gpu_power_w, low=0, inclusive_low=True, high=5000)
    check_number("--host-power-w", host_power_w, low=0, inclusive_low=True, high=1e7)
    check_number("--power-w", power_w, high=1e9)
    check_number("--pue", pue, low=1.0, inclusive_low=True, high=3.0)
    check_number("--utilisation", utilisation, high=1.0)
    check_number("--embodied", embodied, low=0, inclusive_low=True, high=1e4)
    powers = {n for n in ("gpu_power_w", "host_power_w", "utilisation") if n in given}
    if power_w is not None and powers:
        flags = ", ".join("--" + n.replace("_", "-") for n in sorted(powers))
        raise BadInputError(
            f"--power-w replaces the power model; it cannot be combined with {flags}",
            "give either --power-w or the per-part figures",
        )
    if region is None and intensity is None:
        raise BadInputError(
            "estimate needs a grid intensity",
            "give --region PROVIDER:REGION or --intensity G (gCO2e/kWh)",
        )
    if no_embodied and "embodied" in given:
        raise BadInputError("--embodied and --no-embodied contradict each other")

    basis = check_basis(intensity_basis)
    if basis != "grid" and intensity is not None:
        raise BadInputError(
            "--intensity gives the figure itself; --intensity-basis chooses among the shipped "
            "ones for --region",
            "give one of them",
        )
    catalog = load_catalog().with_basis(basis)
    name = resolve_gpu(gpu, catalog.gpus)
    spec = catalog.gpus.set_index("gpu").loc[name]
    sources: dict[str, str] = {}
    sizing = sizing or SizingRequest()
    pilot = None
    if (calibrate, pilot_steps, total_steps) != (None, None, None):
        from recommender.track.calibrate import for_estimate

        pilot = for_estimate(
            Path(calibrate) if calibrate is not None else None,
            pilot_steps,
            total_steps,
            gpu=name,
            gpus=catalog.gpus,
            count=count,
            hours=hours,
            sized_from_model=sizing.params is not None,
            gpu_power_w=gpu_power_w,
            power_w=power_w,
        )
        hours = pilot.hours if pilot.hours is not None else hours
    hours = _job_hours(campaign(sizing), hours, name, spec, count, sources)
    if pilot is not None and pilot.hours is not None:
        sources["hours"] = pilot.hours_source
    region_row = None
    if region is not None:
        p, r = parse_region(region, catalog.regions)
        regions = catalog.regions
        region_row = regions[(regions["provider"] == p) & (regions["region"] == r)].iloc[0]
    if intensity is not None:
        g = intensity
        sources["gco2_per_kwh"] = "--intensity"
        intensity_info: dict[str, Any] = {"intensity_basis": "--intensity"}
    else:
        assert region_row is not None
        g = float(region_row["gco2_per_kwh"])
        sources["gco2_per_kwh"] = (
            f"{region_row['provider']}:{region_row['region']}: {region_row['intensity_source']}"
            f" ({region_row['intensity_year']}; {region_row['intensity_basis']} basis, "
            f"{region_row['intensity_method']}; range {region_row['gco2_per_kwh_low']:g}-"
            f"{region_row['gco2_per_kwh_high']:g})"
        )
        intensity_info = {
            name: region_row[name]
            for name in (
                "intensity_basis",
                "intensity_method",
                "intensity_year",
                "intensity_source",
                "gco2_per_kwh_low",
                "gco2_per_kwh_high",
            )
        }
    if pue is not None:
        pue_value = pue
        sources["pue"] = "--pue"
    elif region_row is not None:
        pue_value = float(region_row["pue"])
        sources["pue"] = (
            f"{region_row['provider']}:{region_row['region']}: {region_row['pue_source']}"
        )
    else:
        pue_value = 1.0
        sources["pue"] = "default 1.0 (IT energy only: no --region or --pue given)"
    if pilot is not None:
        gpu_w = pilot.gpu_power_w
        sources["gpu_power_w"] = pilot.gpu_power_source
    elif gpu_power_w is None:
        gpu_w = float(spec["tdp_w"]) * utilisation
        sources["gpu_power_w"] = f"TDP {spec['tdp_w']:g} W x utilisation {utilisation:g}"
    else:
        gpu_w = gpu_power_w
        sources["gpu_power_w"] = "--gpu-power-w"
    if host_power_w is None:
        host_w, host_src = _default_host_w(catalog.offers, name, count)
        sources["host_power_w"] = host_src
    else:
        host_w = host_power_w
        sources["host_power_w"] = "--host-power-w"
    sources["power_w"] = "--power-w" if power_w is not None else "GPU power x count + host power"
    embodied_g = 0.0 if no_embodied else embodied
    sources["embodied_g_per_gpu_hour"] = (
        "--no-embodied"
        if no_embodied
        else "--embodied"
        if "embodied" in given
        else A.EMBODIED_G_PER_GPU_HOUR.source
    )
    return EstimateResult(
        run_estimate(
            gpu=name,
            count=count,
            hours=hours,
            gco2_per_kwh=g,
            pue=pue_value,
            gpu_power_w=gpu_w,
            host_power_w=host_w,
            power_w=power_w,
            embodied_g_per_gpu_hour=embodied_g,
            sources=sources,
            intensity=intensity_info,
        )
    )


def _job_hours(
    sized: Campaign, hours: float | None, gpu: str, spec: Any, count: float, sources: dict[str, str]
) -> float:
    """Wall hours for ``estimate``: ``hours`` (x the search's runs), or the campaign's FLOPs as
    reference-GPU hours (its BF16 peak x MFU) x rel(ref) / rel(gpu), spread over ``count`` GPUs
    (perfect scaling): the same throughput model as ``size`` and ``suggest``."""
    search, model = sized.search, sized.model
    if model is None:
        if hours is None:
            raise BadInputError(
                "Missing option '--hours' or '--params': how long does the job run?",
                "give --hours H, or --params N --tokens D to derive them from FLOPs",
            )
        sources["hours"] = "--hours"
        if search.runs != 1.0:
            sources["hours"] += f" {hours:g} x {search.trials:,} trials x {search.early_stop:g}"
        return hours * search.runs
    if hours is not None:
        raise BadInputError(
            "--hours and --params both size the job",
            "give one: --hours H (measured), or --params N --tokens D (from FLOPs)",
        )
    from recommender.catalog import load_catalog
    from recommender.planner import sizing

    need, per_gpu = model.memory.gb_required, float(spec["memory_gb"])
    if need > per_gpu * count:
        fewest = -(-need // per_gpu)
        raise BadInputError(
            f"the training state needs {need:,.1f} GB; {count:g} x {gpu} hold "
            f"{per_gpu * count:,.0f} GB",
            f"use --count {fewest:.0f} or more, --peft, or a leaner --precision/--optimizer",
        )
    gpus = load_catalog().gpus
    ref, ref_peak = sizing.MFU_REF_GPU, sizing.reference_peak(gpus)
    ref_rel, rel = sizing.reference_rel(gpus), float(spec["rel_throughput"])
    ref_hours = model.gpu_hours(ref_peak, search.runs)
    sources["hours"] = (
        f"{model.flops:.4g} FLOPs x {search.runs:g} run(s) / ({ref} peak {ref_peak:g} TFLOPS "
        f"x MFU {model.mfu:g} x 3600 s) = {ref_hours:,.4g} {ref} GPU-hours, x {ref_rel:g} / "
        f"{rel:g} (rel. throughput {ref} / {gpu}) / {count:g} GPUs; MFU applies to the "
        "reference GPU; `carbonplan size` shows the derivation"
    )
    return ref_hours * ref_rel / rel / count


def _default_host_w(offers: Any, gpu: str, count: float) -> tuple[float, str]:
    """Host power per GPU: the median over the cloud offers with this GPU, times ``count``."""
    rows = offers[(offers["gpu"] == gpu) & (offers["gpu_count"] >= 1)]
    if rows.empty:
        return 0.0, "not modelled (no cloud offer with this GPU); pass --host-power-w"
    per_gpu = (
        rows["vcpus"] * A.CPU_W_PER_VCPU.value + rows["memory_gib"] * A.MEMORY_W_PER_GIB.value
    ) / rows["gpu_count"]
    median = float(per_gpu.median())
    return median * count, (
        f"{median:.0f} W per GPU x {count:g}: median host (vCPUs x {A.CPU_W_PER_VCPU.value} W + "
        f"GiB x {A.MEMORY_W_PER_GIB.value} W) over {len(rows)} cloud offers with {gpu}"
    )


# --- report -------------------------------------------------------------------------------

#: ``formats`` of :func:`report` -> the files each one writes
REPORT_FORMATS = {
    "html": ("report.html",),
    "md": ("report.md",),
    "png": ("tradeoff.png", "regions.png", "timing.png"),
    "svg": ("tradeoff.svg",),
    "csv": ("options.csv",),
    "json": ("plan.json",),
}


@dataclass(frozen=True)
class ReportFiles:
    """What :func:`report` wrote: the directory and each file's size in bytes."""

    out: Path
    files: dict[str, int]
    options: int  # options in the report
    recommended: dict[str, Any]
    budget_ladder: list[dict[str, Any]]
    campaign_breakdown: dict[str, Any] | None = None

    @property
    def html(self) -> Path | None:
        return self.out / "report.html" if "report.html" in self.files else None


def report_document(plan: Plan) -> dict[str, Any]:
    """The plan's JSON document plus what only a report shows: the intensity curve the time
    shifter chose the recommended start on (kept by the hook: nothing is fetched twice) and,
    for a search or a job sized from the model, one run against the whole campaign."""
    from recommender.reports.campaign import applies, breakdown
    from recommender.reports.records import option_records
    from recommender.reports.report import timing_curve

    document = plan.to_dict()
    best = min(document["options"], key=lambda o: o["rank"])
    curve = timing_curve(plan.request.intensity_fn, best)
    if curve is not None:
        document["timing_curve"] = curve
    sized = plan.request.campaign
    if sized is not None and applies(sized):
        request = plan.request

        def best_for(job: Job) -> dict[str, Any]:
            return option_records(request.with_job(job).run(top=1).options)[0]

        document["campaign_breakdown"] = breakdown(
            sized, request.job, request.catalog.gpus, best, best_for
        )
    return document


def report(
    plan: Plan | dict[str, Any],
    path: str | Path,
    *,
    formats: Sequence[str] | None = None,
    top: int = 20,
    force: bool = False,
    command: str = "recommender.report(...)",
    origin: str | None = None,
) -> ReportFiles:
    """Write a shareable cost-vs-carbon report of ``plan`` into the directory ``path``: HTML,
    Markdown, PNG/SVG charts, CSV and the plan's JSON (``formats`` chooses among html, md,
    png, svg, csv, json; default all). ``plan`` is a :class:`Plan` (plan with ``top=0`` to
    chart every option) or a saved ``suggest --format json`` document. ``force`` replaces a
    report already there. Needs the ``report`` extra (matplotlib)."""
    from recommender.extras import require

    require("report")
    from recommender.reports.report import (
        build_report,
        check_target,
        render_files,
        validate_document,
        write_report,
    )

    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise BadInputError(f"--top must be >= 1, got {top}")
    wanted = list(REPORT_FORMATS) if formats is None else [str(f).lower() for f in formats]
    unknown = [f for f in wanted if f not in REPORT_FORMATS]
    if unknown or not wanted:
        raise BadInputError(
            f"unknown report format {unknown[0]!r}" if unknown else "no report format chosen",
            f"choose among {', '.join(REPORT_FORMATS)}",
        )
    out = Path(path)
    check_target(out, force)  # before the work, not after it
    if isinstance(plan, Plan):
        document = report_document(plan)
        origin = origin or "the job, planned on the shipped data"
    else:
        document = validate_document(plan, "the plan")
        origin = origin or "a saved plan"
    built = build_report(document, top=top, origin=origin, command=command)
    files = render_files(built)
    keep = {name for f in wanted for name in REPORT_FORMATS[f]}
    files = {name: content for name, content in files.items() if name in keep}
    write_report(files, out, force=force)
    rec = built.recommended
    return ReportFiles(
        out=out,
        files={name: len(content) for name, content in sorted(files.items())},
        options=len(built.options),
        recommended={k: rec.get(k) for k in ("rank", "provider", "region", "instance_type")}
        | {k: rec.get(k) for k in ("market", "kgco2e", "cost_usd")},
        budget_ladder=built.ladder,
        campaign_breakdown=built.document.get("campaign_breakdown"),
    )


# --- size ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sizing:
    """A job sized from the model: :meth:`to_dict` is ``carbonplan size --format json``;
    :attr:`gpus` one row per GPU model (GPU-hours per run and for the campaign, memory fit)."""

    document: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        import copy

        return copy.deepcopy(self.document)

    @property
    def gpus(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.document["gpus"])


def size(*, gpu: Names = None, **sizing: Any) -> Sizing:
    """FLOPs, GPU-hours per GPU type and the memory need of a job sized from the model, as
    ``carbonplan size`` shows them: ``size(params="350M", tokens="20B")``; keywords are the
    sizing flags (:class:`SizingRequest`), ``gpu`` keeps only these GPU models."""
    return size_request(_request(SizingRequest, sizing), gpu=gpu)


def size_request(request: SizingRequest, *, gpu: Names = None) -> Sizing:
    """:func:`size` for a :class:`SizingRequest` built beforehand."""
    from recommender.catalog import load_catalog, resolve_gpu
    from recommender.reports.sizing import size_document

    sized = campaign(request)
    if sized.model is None:
        raise BadInputError(
            "size needs the model: --params",
            "e.g. carbonplan size --params 350M --tokens 20B",
        )
    catalog = load_catalog()
    gpus = catalog.gpus
    wanted = [resolve_gpu(g, gpus) for g in _names(gpu, "--gpu")]
    if wanted:
        gpus = gpus[gpus["gpu"].isin(wanted)]
    gpus = gpus.sort_values(["rel_throughput", "gpu"], ascending=[False, True], kind="mergesort")
    return Sizing(size_document(sized, gpus, catalog.gpus))


# --- replay -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Replay:
    """What choosing start times (and pausing) would have saved on real traces, one record per
    trace: :meth:`to_list` is ``carbonplan replay --format json``; :attr:`frame` as a table."""

    records: list[dict[str, Any]]

    def to_list(self) -> list[dict[str, Any]]:
        import copy

        return copy.deepcopy(self.records)

    @property
    def frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.records)


def replay(
    trace: str | Path | Sequence[str | Path],
    *,
    job_hours: float | None = None,
    every: str | None = None,
    at: str = "00:00",
    jobs: str | Path | None = None,
    flex: float = 0.0,
    interruptible: bool = False,
    checkpoint_minutes: float = 5.0,
    oracle: bool = False,
    forecaster: str = "week-now",
    intensity_column: str | None = None,
    from_: str | None = None,
    until: str | None = None,
    given: frozenset[str] | None = None,
    warn: Warn = warn,
) -> Replay:
    """Replay a job pattern on grid-intensity traces (``carbonplan replay``; ``from_`` is
    ``--from``): the savings of time shifting and pausing, with a realistic forecast and with
    perfect foresight. ``given``: the names the caller set (default: those that differ from
    their defaults)."""
    from recommender.replay import daily_jobs, evaluate, jobs_from_file, load_traces
    from recommender.replay.evaluate import parse_clock, parse_duration

    if given is None:
        defaults = {"checkpoint_minutes": (checkpoint_minutes, 5.0), "at": (at, "00:00")}
        given = frozenset(name for name, (value, default) in defaults.items() if value != default)
    forecaster = str(getattr(forecaster, "value", forecaster))
    if forecaster not in ("yesterday", "week", "week-now"):
        raise BadInputError(f"unknown forecaster {forecaster!r}", "use yesterday, week or week-now")
    if flex < 0 or flex != flex or flex > 1e5:
        raise BadInputError(f"--flex must be between 0 and 1e5 hours, got {flex:g}")
    if not 0 <= checkpoint_minutes <= 1440:
        raise BadInputError(
            f"--checkpoint-minutes must be between 0 and 1440, got {checkpoint_minutes:g}"
        )
    if "checkpoint_minutes" in given and not interruptible:
        raise BadInputError(
            "--checkpoint-minutes is the restart overhead of --interruptible jobs",
            "add --interruptible, or drop --checkpoint-minutes",
        )
    if jobs is not None and (every is not None or "at" in given):
        raise BadInputError("--jobs and --every/--at both give the job pattern", "give one")
    if jobs is not None and job_hours is not None:
        raise BadInputError(
            "--job-hours is for --every; a --jobs file has a job_hours column", "drop one"
        )
    if jobs is None and job_hours is None:
        raise BadInputError(
            "Missing option '--job-hours' (or --jobs FILE): how long is each job?",
            "e.g. --job-hours 24 --every 24h --at 01:00 --flex 24",
        )
    if job_hours is not None and not 0 < job_hours <= 1e5:
        raise BadInputError(f"--job-hours must be > 0 and at most 1e5, got {job_hours:g}")
    first = _when("--from", from_)
    last = _when("--until", until)
    every_h = parse_duration("--every", every or "24h")
    at_h = parse_clock(at)
    file_jobs = jobs_from_file(Path(jobs), flex) if jobs is not None else None
    paths = [trace] if isinstance(trace, str | Path) else list(trace)

    records: list[dict[str, Any]] = []
    for path in paths:
        for one in load_traces(Path(path), intensity_column):
            if file_jobs is not None:
                pattern = _between(file_jobs, first, last)
            else:
                assert job_hours is not None
                pattern = daily_jobs(
                    one,
                    job_hours=job_hours,
                    flex_hours=flex,
                    every_hours=every_h,
                    at_hours=at_h,
                    first=first,
                    until=last,
                )
            record = evaluate(
                one,
                pattern,
                interruptible=interruptible,
                checkpoint_minutes=checkpoint_minutes,
                forecaster=forecaster,
                oracle=oracle,
                on_skip=warn if file_jobs is not None else None,
            )
            if not record["jobs"]:
                span = f"{one.start:%Y-%m-%d} to {one.end:%Y-%m-%d}"
                warn(f"{one.name}: no job fits in the trace ({span})")
            records.append(record)
    return Replay(records)


def _when(flag: str, text: str | None) -> Any:
    import pandas as pd

    if text is None:
        return None
    try:
        value = pd.Timestamp(text.strip())
    except ValueError:
        raise BadInputError(f"{flag} {text!r} is not a date", "e.g. 2020-01-01") from None
    return value.tz_localize("UTC") if value.tzinfo is None else value.tz_convert("UTC")


def _between(jobs: Any, first: Any, last: Any) -> Any:
    """The jobs submitted in [first, last)."""
    import numpy as np

    from recommender.replay import Jobs

    keep = np.ones(len(jobs), dtype=bool)
    if first is not None:
        keep &= np.asarray(jobs.submit >= first)
    if last is not None:
        keep &= np.asarray(jobs.submit < last)
    return Jobs(jobs.submit[keep], jobs.hours[keep], jobs.deadline[keep], jobs.pattern)
