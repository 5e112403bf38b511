"""Offers x job -> ranked options.

Everything here is a function of DataFrames: columns are computed for all candidates at once,
constraints are boolean masks, and inputs are never mutated. The formulas are those of
DESIGN.md ("Domain model"); their defaults live in :mod:`recommender.assumptions`.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recommender.errors import BadInputError, NoOptionError
from recommender.planner.model import Constraints, Job, Settings
from recommender.planner.precision import RANK_DIGITS, significant
from recommender.planner.ranges import Spread, add_ranges, reference_spread

_REGION_COLUMNS = [
    "provider",
    "region",
    "location",
    "country",
    "country_code",
    "em_zone",
    "watttime_region",  # the live intensity sources' keys (recommender.intensity)
    "lat",
    "lon",
    "gco2_per_kwh",
    "gco2_per_kwh_low",  # the static figure's spread (planner/ranges.py)
    "gco2_per_kwh_high",
    "intensity_source",
    "intensity_year",
    "intensity_basis",
    "intensity_method",
    "pue",
    "pue_source",
]
_GPU_COLUMNS = [
    "gpu",
    "tdp_w",
    "memory_gb",
    "bf16_tflops",
    "rel_throughput",
    "rel_throughput_low",  # the factor's spread (planner/ranges.py)
    "rel_throughput_high",
    "throughput_basis",
]
_IDENTITY = ["provider", "region", "instance_type", "market"]
_GROUP = ["provider", "region", "gpu", "market"]
_DERIVED_STEPS = {"memory-fit"}  # constraints that come from sizing, not a flag
_SORT_KEYS = {
    "carbon": ["kgco2e", "cost_usd", "wall_hours"],
    "cost": ["cost_usd", "kgco2e", "wall_hours"],
    "time": ["wall_hours", "kgco2e", "cost_usd"],
    "balanced": ["score_usd", "kgco2e", "wall_hours"],
}


@dataclass(frozen=True)
class Step:
    """How many options were left after one constraint was applied."""

    name: str
    remaining: int
    detail: str = ""


@dataclass(frozen=True)
class Plan:
    """A ranked plan and how it was reached."""

    options: pd.DataFrame  # the ranked options shown (after --top)
    feasible: int  # options satisfying every constraint (before hiding and --top)
    candidates: int  # options before any constraint
    steps: tuple[Step, ...]
    job: Job
    settings: Settings
    constraints: Constraints
    baseline: tuple[str, str] | None = None
    hidden_sizes: int = 0  # other instance sizes of a shown (region, GPU, market)
    notes: tuple[str, ...] = field(default_factory=tuple)
    # settings taken from the config file or environment: (name, origin), for the output
    configured: tuple[tuple[str, str], ...] = ()


def expand_markets(offers: pd.DataFrame) -> pd.DataFrame:
    """One row per (offer, market): on-demand always, spot where a spot price exists."""
    on_demand = offers.assign(market="on-demand", usd_per_hour=offers["usd_per_hour"])
    spot_rows = offers[offers["spot_usd_per_hour"].notna()]
    spot = spot_rows.assign(market="spot", usd_per_hour=spot_rows["spot_usd_per_hour"])
    frame = pd.concat([on_demand, spot], ignore_index=True)
    return frame.drop(columns=["spot_usd_per_hour"])


def candidate_frame(
    offers: pd.DataFrame, regions: pd.DataFrame, gpus: pd.DataFrame
) -> pd.DataFrame:
    """Offers joined with their region (intensity, PUE) and GPU (power, throughput)."""
    return _joined(expand_markets(offers), regions, gpus)


def _joined(frame: pd.DataFrame, regions: pd.DataFrame, gpus: pd.DataFrame) -> pd.DataFrame:
    frame = frame.merge(regions[_REGION_COLUMNS], on=["provider", "region"], how="left")
    gpu_cols = gpus[_GPU_COLUMNS].rename(columns={"memory_gb": "gpu_memory_gb"})
    frame = frame.merge(gpu_cols, on="gpu", how="left")
    return frame.assign(intensity_kind="static", intensity_observed_at=None, start=None)


#: Replaces the grid-intensity columns row by row, given the options with their wall hours
#: (live or forecast sources average over the hours each option would run). It returns a
#: frame aligned with its input holding any of: gco2_per_kwh, intensity_source,
#: intensity_year, intensity_kind ("static", "live", "forecast", "cached", ...),
#: intensity_observed_at, start; a time-shifting hook (planner/timing.py) adds its timing
#: columns and run_now_gco2_per_kwh, and scales energy_kwh, gpu_hours and cost_usd by the
#: restart overheads of an interruptible run.
IntensityFn = Callable[[pd.DataFrame], pd.DataFrame]


def compute_metrics(
    frame: pd.DataFrame,
    job: Job,
    settings: Settings,
    ref_throughput: float,
    deadline_hours: float | None,
    intensity_fn: IntensityFn | None = None,
    *,
    ref_spread: Spread,
) -> pd.DataFrame:
    """Add instances, wall hours, energy, emissions and cost columns (vectorised), and their
    low/high ranges (:mod:`recommender.planner.ranges`; ``ref_spread`` is the reference GPU's
    throughput spread, :func:`recommender.planner.ranges.reference_spread`)."""
    work = job.total_ref_gpu_hours
    speed = frame[job.speed_column] / ref_throughput
    rate = speed * frame["gpu_count"]  # reference GPU-hours done per wall hour, one instance
    single_wall = work / rate
    if deadline_hours is None:
        instances = pd.Series(1, index=frame.index, dtype="int64")
    else:
        needed = np.ceil(work / (rate * settings.scaling_efficiency * deadline_hours) - 1e-9)
        instances = pd.Series(
            np.where(single_wall <= deadline_hours, 1, np.maximum(needed, 2)),
            index=frame.index,
        ).astype("int64")
    efficiency = np.where(instances > 1, settings.scaling_efficiency, 1.0)
    wall = work / (rate * instances * efficiency)
    gpu_kw = frame["gpu_count"] * frame["tdp_w"] * settings.gpu_utilisation / 1000.0
    host_kw = (
        frame["vcpus"] * settings.cpu_w_per_vcpu + frame["memory_gib"] * settings.memory_w_per_gib
    ) / 1000.0
    energy = (gpu_kw + host_kw) * instances * wall * frame["pue"]
    gpu_hours = frame["gpu_count"] * instances * wall
    frame = frame.assign(
        speed=speed,
        instances=instances,
        wall_hours=wall,
        gpu_hours=gpu_hours,
        gpu_power_kw=gpu_kw,
        host_power_kw=host_kw,
        energy_kwh=energy,
        cost_usd=wall * instances * frame["usd_per_hour"],
    )
    if intensity_fn is not None:
        replaced = intensity_fn(frame)
        before = frame
        frame = add_emissions(frame.assign(**{c: replaced[c] for c in replaced.columns}), settings)
        if "run_now_gco2_per_kwh" in replaced.columns:  # time shifting (planner/timing.py)
            from recommender.planner.timing import add_run_now

            frame = add_run_now(frame, before["energy_kwh"], before["gpu_hours"], settings)
    else:
        frame = add_emissions(frame, settings)
    # after the hook: a live figure drops the static intensity spread
    return add_ranges(frame, settings, job.ref_gpu, ref_spread)


def add_emissions(frame: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Operational, embodied and total kg CO2e, and the carbon-priced score, from energy,
    grid intensity and GPU-hours."""
    operational = frame["energy_kwh"] * frame["gco2_per_kwh"] / 1000.0
    embodied = frame["gpu_hours"] * settings.embodied_g_per_gpu_hour / 1000.0
    kg = operational + embodied
    return frame.assign(
        operational_kgco2e=operational,
        embodied_kgco2e=embodied,
        kgco2e=kg,
        score_usd=frame["cost_usd"] + settings.carbon_price_usd_per_t * kg / 1000.0,
    )


def pareto_mask(cost: pd.Series, kg: pd.Series, digits: int | None = None) -> pd.Series:
    """True where no other row is at least as good on both cost and kg and better on one.

    With ``digits``, both are compared at that many significant figures (as :func:`rank`
    compares them, ``RANK_DIGITS``): figures equal to that precision tie, so a row is marked
    dominated only when another beats it by more than rounding."""
    if digits is None:
        c, k = cost.to_numpy(dtype=float), kg.to_numpy(dtype=float)
    else:
        c, k = significant(cost, digits), significant(kg, digits)
    order = np.lexsort((k, c))  # by cost, then kg
    cs, ks = c[order], k[order]
    # Identical points form a block; each is judged against the rows before its block, which
    # are all cheaper, or as cheap and cleaner.
    new_block = np.ones(len(cs), dtype=bool)
    new_block[1:] = (cs[1:] != cs[:-1]) | (ks[1:] != ks[:-1])
    block_start = np.maximum.accumulate(np.where(new_block, np.arange(len(cs)), 0))
    best_before = np.concatenate(([np.inf], np.minimum.accumulate(ks)[:-1]))
    front_sorted = ks < best_before[block_start]
    front = np.empty(len(cs), dtype=bool)
    front[order] = front_sorted
    return pd.Series(front, index=cost.index)


def _codes(frame: pd.DataFrame, columns: list[str]) -> list[np.ndarray]:
    """Integer codes that sort like the (string) columns, for fast numeric sorting/grouping."""
    return [pd.factorize(frame[c], sort=True)[0] for c in columns]


def rank(frame: pd.DataFrame, objective: str) -> pd.DataFrame:
    """Sort by the objective, then the next criteria, and number from 1.

    Figures equal to RANK_DIGITS significant figures count as ties (the inputs are not more
    precise than that), so two options with the same kg and $ are ordered by hours. Remaining
    ties fall to provider, region, instance type and market, so input order never matters."""
    if objective not in _SORT_KEYS:
        raise BadInputError(
            f"unknown objective {objective!r}", "use carbon, cost, time or balanced"
        )
    criteria = _SORT_KEYS[objective]
    keys = [
        *(significant(frame[c], RANK_DIGITS) for c in criteria),
        *(frame[c].to_numpy(dtype=float) for c in criteria),
        *_codes(frame, _IDENTITY),
    ]
    order = np.lexsort(keys[::-1])  # lexsort's primary key is the last one
    ranked = frame.iloc[order].reset_index(drop=True)
    return ranked.assign(rank=np.arange(1, len(ranked) + 1))


_INSTANCE = ["provider", "region", "instance_type"]
#: combine_markets' price columns, one per market.
MARKET_COST_COLUMNS = {"spot": "spot_cost_usd", "on-demand": "on_demand_cost_usd"}


def combine_markets(options: pd.DataFrame, top: int | None = None) -> pd.DataFrame:
    """One row per (provider, region, instance type) of ranked ``options``: the row of its
    best-ranked market (the one the objective prefers), with every market's cost side by side
    (``spot_cost_usd``, ``on_demand_cost_usd``; NaN where that market is not among
    ``options``) and the other market's rank (``other_rank``, NaN when there is none). Ranks
    are kept as they are, so a row's rank is its market's rank in ``options``. With ``top``,
    only the first ``top`` such rows (the rest of the frame is not copied: suggest's start-up
    time)."""
    group = np.zeros(len(options), dtype=np.int64)  # one integer per instance (factorized)
    for codes in _codes(options, _INSTANCE):
        group = group * (int(codes.max(initial=0)) + 1) + codes
    first = ~pd.Series(group).duplicated().to_numpy()
    best_pos = np.flatnonzero(first)[:top] if top else np.flatnonzero(first)
    best_group = group[best_pos]
    # Work on a few plain columns (the frame is wide; copying it is what costs).
    ranks = options["rank"].to_numpy(dtype=float)
    markets = options["market"].to_numpy(dtype=object)
    costs = options["cost_usd"].to_numpy(dtype=float)
    order = np.argsort(group, kind="stable")  # rank order within each instance

    def first_where(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Per best row: ``values`` at its instance's first row where ``mask`` holds."""
        hit = order[mask[order]]
        keys, at = np.unique(group[hit], return_index=True)
        lookup = pd.Series(values[hit[at]], index=keys)
        return lookup.reindex(best_group).to_numpy(dtype=float)

    columns: dict[str, np.ndarray] = {"other_rank": first_where(~first, ranks)}
    for market, column in MARKET_COST_COLUMNS.items():
        columns[column] = first_where(markets == market, costs)
    return options.iloc[best_pos].reset_index(drop=True).assign(**columns)


def architecture(frame: pd.DataFrame) -> np.ndarray:
    """``arm64`` or ``x86_64``: the host CPU of each offer. offers.csv has no architecture
    column, so it is read from the name: AWS marks Graviton families with a ``g`` among the
    letters after the generation (``g5g``, ``c7gn``; not ``g6e``, ``gr6``), and every GB200/GB300
    host is NVIDIA Grace (Arm). Every other GPU offer in the catalogue is x86."""
    family = frame["instance_type"].astype(str).str.split(".", n=1).str[0]
    graviton = (frame["provider"] == "aws").to_numpy() & family.str.fullmatch(
        r"[a-z]+\d+[a-z]*g[a-z]*"
    ).to_numpy(dtype=bool)
    grace = frame["gpu"].astype(str).str.match(r"GB\d").to_numpy(dtype=bool)
    return np.where(graviton | grace, "arm64", "x86_64")


_BASE_KEYS = ["gpu", "gpu_count", "market", "arch"]


def _baseline_columns(frame: pd.DataFrame, base: pd.DataFrame) -> pd.DataFrame:
    """Match each option with the same instance type and market in the baseline region, else
    with the closest instance there of the same GPU model and count, market and CPU
    architecture (closest: least |log vCPU ratio| + |log memory ratio|, then cheapest), and
    add what the option saves against it. ``baseline_match`` says which: ``same-instance``,
    ``same-gpus``, or missing where the baseline region has nothing comparable."""
    specs = ["instance_type", "vcpus", "memory_gib"]
    base = base[[*specs, "gpu", "gpu_count", "market", "kgco2e", "cost_usd"]].assign(
        arch=architecture(base)
    )
    left = frame[[*specs, "gpu", "gpu_count", "market"]].assign(
        arch=architecture(frame), _row=np.arange(len(frame))
    )
    pairs = left.merge(base, on=_BASE_KEYS, suffixes=("", "_base"))
    same = (pairs["instance_type"] == pairs["instance_type_base"]).to_numpy()
    ratio = lambda c: np.abs(  # noqa: E731
        np.log(np.maximum(pairs[f"{c}_base"], 1e-9) / np.maximum(pairs[c], 1e-9))
    )
    distance = np.where(same, -1.0, ratio("vcpus") + ratio("memory_gib"))
    best = (
        pairs.assign(_distance=distance, _same=same)
        .sort_values(["_row", "_distance", "cost_usd", "instance_type_base"], kind="mergesort")
        .drop_duplicates("_row")
        .set_index("_row")
        .reindex(range(len(frame)))
    )
    base_kg = best["kgco2e"].to_numpy(dtype=float)
    base_cost = best["cost_usd"].to_numpy(dtype=float)
    kind = np.where(best["_same"].fillna(False).to_numpy(dtype=bool), "same-instance", "same-gpus")
    match = pd.Series(kind, dtype=object).where(best["instance_type_base"].notna().to_numpy())
    return frame.assign(
        # text in pandas' default text dtype even where no row has a match, so that the
        # dtype does not depend on which rows are shown
        baseline_instance_type=pd.array(
            best["instance_type_base"].to_numpy(), dtype=pd.Series(["text"]).dtype
        ),
        baseline_match=match,
        baseline_kgco2e=base_kg,
        baseline_cost_usd=base_cost,
        saves_kgco2e=base_kg - frame["kgco2e"].to_numpy(),
        saves_usd=base_cost - frame["cost_usd"].to_numpy(),
    )


def _no_option_error(step: Step, before: pd.DataFrame, constraints: Constraints) -> NoOptionError:
    hints = {
        "deadline": lambda: (
            f"the fastest option needs {before['single_wall'].min():,.1f} h on one instance; "
            f"raise --deadline or --max-instances (now {constraints.max_instances})"
        ),
        "max-cost": lambda: (
            f"the cheapest remaining option costs ${before['cost_usd'].min():,.2f}; "
            "raise --max-cost"
        ),
        "max-kg": lambda: (
            f"the lowest-carbon remaining option emits {before['kgco2e'].min():,.1f} kg; "
            "raise --max-kg"
        ),
        "memory-fit": lambda: (
            "the largest instance left has "
            f"{(before['gpu_memory_gb'] * before['gpu_count']).max():,.0f} GB of GPU memory; "
            "use --peft, a leaner --precision/--optimizer, or --gpu with larger GPUs (a model "
            "sharded over several instances is not modelled)"
        ),
    }
    hint = hints.get(step.name, lambda: "")()
    counts = f"{len(before)} options were left before {step.name}" + (
        f" ({step.detail})" if step.detail else ""
    )
    label = f"the {step.name} check" if step.name in _DERIVED_STEPS else f"--{step.name}"
    return NoOptionError(f"no option satisfies {label}: {counts}", hint or None)


def _region_mask(frame: pd.DataFrame, pairs: tuple[tuple[str, str], ...]) -> pd.Series:
    keys = pd.Series(list(zip(frame["provider"], frame["region"], strict=True)), index=frame.index)
    return keys.isin(set(pairs))


def _static_masks(
    frame: pd.DataFrame, job: Job, c: Constraints
) -> list[tuple[str, pd.Series | None, str]]:
    """The constraints on what an option is, in the order their steps are reported."""
    return [
        (
            "provider",
            frame["provider"].isin(c.providers) if c.providers else None,
            ",".join(c.providers or ()),
        ),
        ("region", _region_mask(frame, c.regions) if c.regions else None, ""),
        (
            "exclude-region",
            ~_region_mask(frame, c.exclude_regions) if c.exclude_regions else None,
            "",
        ),
        ("gpu", frame["gpu"].isin(c.gpus) if c.gpus else None, ",".join(c.gpus or ())),
        (
            "min-gpu-memory",
            # per GPU; a fractional instance (gpu_count < 1) gets only its share of one GPU
            frame["gpu_memory_gb"] * frame["gpu_count"].clip(upper=1.0) >= c.min_gpu_memory_gb
            if c.min_gpu_memory_gb
            else None,
            f"{c.min_gpu_memory_gb} GB",
        ),
        (
            "memory-fit",
            frame["gpu_memory_gb"] * frame["gpu_count"] >= job.memory_gb_required
            if job.memory_gb_required is not None
            else None,
            f"{job.memory_gb_required or 0:,.1f} GB of weights, gradients and optimizer state "
            "on one instance's GPUs",
        ),
        (
            "market",
            frame["market"].isin(c.markets) if set(c.markets) != {"on-demand", "spot"} else None,
            ",".join(c.markets),
        ),
    ]


def _apply_masks(
    frame: pd.DataFrame,
    masks: list[tuple[str, pd.Series | None, str]],
    steps: list[Step],
    constraints: Constraints,
) -> pd.DataFrame:
    """Apply each mask in turn, recording what is left; none left is a NoOptionError."""
    for name, mask, detail in masks:
        if mask is None:
            continue
        kept = frame[mask.reindex(frame.index, fill_value=False)]
        step = Step(name, len(kept), detail)
        steps.append(step)
        if kept.empty:
            raise _no_option_error(step, frame, constraints)
        frame = kept
    return frame


def plan(
    offers: pd.DataFrame,
    regions: pd.DataFrame,
    gpus: pd.DataFrame,
    job: Job,
    settings: Settings | None = None,
    constraints: Constraints | None = None,
    *,
    baseline: tuple[str, str] | None = None,
    top: int | None = 20,
    all_sizes: bool = False,
    intensity_fn: IntensityFn | None = None,
) -> Plan:
    """Rank every (offer, market) for ``job`` under ``constraints`` by ``settings.objective``.

    On the shipped (static) figures the options are ranked on plain arrays of the catalog's
    candidate table (:func:`candidate_table`, built once per catalog) and only the rows shown are
    built as a frame; an intensity hook needs every option's frame, so it takes the frame
    path. Both give the same plan, bit for bit (tests/test_planner_golden.py)."""
    settings = settings or Settings()
    constraints = constraints or Constraints()
    # One throughput model: a job sized from FLOPs is already stated in reference-GPU hours,
    # so every GPU (with or without a BF16 peak) scales by rel_throughput, as for --gpu-hours.
    ref = gpus.loc[gpus["gpu"] == job.ref_gpu, job.speed_column].dropna()
    if ref.empty:
        raise BadInputError(f"reference GPU {job.ref_gpu!r} is not in the catalog")
    table = candidate_table(offers, regions, gpus)
    if intensity_fn is None and table.arrays is not None:
        return _plan_arrays(
            table, job, settings, constraints, float(ref.iloc[0]), baseline, top, all_sizes
        )
    frame = table.frame()
    candidates = len(frame)
    steps: list[Step] = []
    c = constraints
    # Constraints on what an option is (cloud, region, GPU, memory, market) apply before any
    # figure is computed, so live intensity is fetched only for the regions allowed. The
    # baseline region's rows are kept aside for the comparison even when not allowed.
    in_baseline = (
        (frame["provider"] == baseline[0]) & (frame["region"] == baseline[1])
        if baseline
        else pd.Series(False, index=frame.index)
    )
    allowed = _apply_masks(frame, _static_masks(frame, job, c), steps, constraints)
    frame = compute_metrics(
        frame[frame.index.isin(allowed.index) | in_baseline],
        job,
        settings,
        float(ref.iloc[0]),
        constraints.deadline_hours,
        intensity_fn,
        ref_spread=reference_spread(gpus, job.ref_gpu),
    )
    frame = frame.assign(
        single_wall=job.total_ref_gpu_hours / (frame["speed"] * frame["gpu_count"])
    )
    base_rows = frame[in_baseline.reindex(frame.index).to_numpy()] if baseline else None
    frame = frame[frame.index.isin(allowed.index)]
    masks: list[tuple[str, pd.Series | None, str]] = [
        (
            "deadline",
            frame["instances"] <= c.max_instances if c.deadline_hours is not None else None,
            f"{c.deadline_hours} h with at most {c.max_instances} instance(s)",
        ),
        (
            "max-cost",
            frame["cost_usd"] <= c.max_cost_usd if c.max_cost_usd is not None else None,
            f"${c.max_cost_usd:,.2f}" if c.max_cost_usd is not None else "",
        ),
        (
            "max-kg",
            frame["kgco2e"] <= c.max_kgco2e if c.max_kgco2e is not None else None,
            f"{c.max_kgco2e} kg" if c.max_kgco2e is not None else "",
        ),
    ]
    frame = _apply_masks(frame, masks, steps, constraints)

    feasible = len(frame)
    # at the ranking's precision, so that a row tied with rank 1 within rounding is not
    # shown as dominated by it
    frame = frame.assign(pareto=pareto_mask(frame["cost_usd"], frame["kgco2e"], digits=RANK_DIGITS))
    ranked = rank(frame, settings.objective)
    hidden = 0
    if not all_sizes:
        # One row per (region, GPU, market): its best instance size for the objective. Sizes
        # of the same GPU differ mostly in parallelism and host; --all-sizes shows them all.
        group = pd.DataFrame(dict(zip(_GROUP, _codes(ranked, _GROUP), strict=True)))
        best = ~group.duplicated().to_numpy()
        hidden = int((~best).sum())
        ranked = ranked[best].reset_index(drop=True)
        ranked = ranked.assign(rank=range(1, len(ranked) + 1))
    if base_rows is not None:
        ranked = _baseline_columns(ranked, base_rows)
    if top is not None:
        ranked = ranked.head(top)
    return Plan(
        options=ranked.drop(columns=["single_wall"]),
        feasible=feasible,
        candidates=candidates,
        steps=tuple(steps),
        job=job,
        settings=settings,
        constraints=constraints,
        baseline=baseline,
        hidden_sizes=hidden,
    )


# --- the candidate table of a catalog, and ranking on its arrays --------------------------


@dataclass(frozen=True)
class _Arrays:
    """Per (offer, market) option, in the order of :func:`candidate_frame`: on-demand rows in
    offer order, then the spot rows. Region and GPU figures are looked up through small
    per-pair and per-GPU tables, so a large catalog costs a few bytes per option."""

    offer: np.ndarray  # int32: the option's row in offers
    spot: np.ndarray  # bool: its market is spot
    usd_per_hour: np.ndarray  # float64: the market's price
    pair: np.ndarray  # int32 per offer: its (provider, region) in ``pairs``
    pairs: pd.DataFrame  # provider, region; with the region's figures (NaN where unknown)
    gpu: np.ndarray  # int32 per offer: its GPU in ``gpu_table``
    gpu_table: pd.DataFrame  # gpu; with the GPU's figures (NaN where unknown)
    identity: np.ndarray  # int64 per offer: sorts as (provider, region, instance_type)
    group: np.ndarray  # int32 per offer: (provider, region, gpu), dense from 0
    groups: int
    gpu_count: np.ndarray
    vcpus: np.ndarray
    memory_gib: np.ndarray


class CandidateTable:
    """A catalog's options, built once and reused by every plan of that catalog (a jobs file
    plans hundreds of jobs on one catalog). :attr:`arrays` is None when the catalog's keys are
    not unique (the frame path then reproduces the joins' duplicates)."""

    def __init__(self, offers: pd.DataFrame, regions: pd.DataFrame, gpus: pd.DataFrame) -> None:
        # weak: a kept table does not keep its catalog alive
        self._refs = tuple(weakref.ref(f) for f in (offers, regions, gpus))
        self._frame: pd.DataFrame | None = None
        self.arrays = _arrays(offers, regions, gpus)

    def of(self, offers: pd.DataFrame, regions: pd.DataFrame, gpus: pd.DataFrame) -> bool:
        """Whether this is the table of these very frames."""
        return all(ref() is f for ref, f in zip(self._refs, (offers, regions, gpus), strict=True))

    def _get(self, at: int) -> pd.DataFrame:
        frame = self._refs[at]()
        assert frame is not None, "a candidate table outlived its catalog"
        return frame

    @property
    def offers(self) -> pd.DataFrame:
        return self._get(0)

    @property
    def regions(self) -> pd.DataFrame:
        return self._get(1)

    @property
    def gpus(self) -> pd.DataFrame:
        return self._get(2)

    def frame(self) -> pd.DataFrame:
        """Every option as one wide frame (:func:`candidate_frame`), built on first use."""
        if self._frame is None:
            self._frame = candidate_frame(self.offers, self.regions, self.gpus)
        return self._frame

    def rows(self, options: np.ndarray) -> pd.DataFrame:
        """The wide frame of just these options (positions in candidate order, in any order
        and possibly empty), as :func:`candidate_frame` would give them."""
        a = self.arrays
        assert a is not None
        if len(a.offer) <= _WIDE_ROWS:  # the whole frame is small: keep it, take rows from it
            return self.frame().iloc[options].reset_index(drop=True)
        spot = a.spot[options]
        offers = self.offers
        on_demand = offers.iloc[a.offer[options[~spot]]]
        on_demand = on_demand.assign(market="on-demand", usd_per_hour=on_demand["usd_per_hour"])
        spot_rows = offers.iloc[a.offer[options[spot]]]
        spot_part = spot_rows.assign(market="spot", usd_per_hour=spot_rows["spot_usd_per_hour"])
        frame = pd.concat([on_demand, spot_part], ignore_index=True)
        frame = frame.drop(columns=["spot_usd_per_hour"])
        # back to the order asked for: on-demand rows came first, each part in that order
        order = np.empty(len(options), dtype=np.int64)
        order[np.flatnonzero(~spot)] = np.arange(int((~spot).sum()))
        order[np.flatnonzero(spot)] = np.arange(int((~spot).sum()), len(options))
        return _joined(frame.iloc[order].reset_index(drop=True), self.regions, self.gpus)


#: Up to this many options the table also keeps them all as one wide frame (what the
#: frame path ranks, and where the shown rows are taken from); beyond, rows are joined anew.
_WIDE_ROWS = 200_000
_INDEX = np.int32  # row numbers in the candidate table (2**31 options are far beyond memory)
_TABLES: dict[tuple[int, int, int], tuple[tuple[Any, ...], CandidateTable]] = {}
_TABLES_KEPT = 8


#: The columns the candidate table copies figures from, by frame (offers, regions, gpus).
_COPIED = (
    ("gpu_count", "vcpus", "memory_gib", "usd_per_hour", "spot_usd_per_hour"),
    ("gco2_per_kwh", "pue"),
    ("tdp_w", "memory_gb", "rel_throughput"),
)


def _fingerprint(frame: pd.DataFrame, copied: tuple[str, ...]) -> tuple[Any, ...]:
    """Shape and columns; for a small frame the bytes of the figures the table copies too (a
    cheap guard against a frame changed in place between plans: the catalog's never are)."""
    shape = (len(frame), tuple(frame.columns))
    if len(frame) > 50_000:
        return shape
    present = [c for c in copied if c in frame.columns]
    return (*shape, hash(frame[present].to_numpy(dtype=float).tobytes()))


def candidate_table(
    offers: pd.DataFrame, regions: pd.DataFrame, gpus: pd.DataFrame
) -> CandidateTable:
    """The candidate table of this catalog: built on the first plan and kept (for the last
    few catalogs, while their frames live)."""
    key = (id(offers), id(regions), id(gpus))
    prints = tuple(
        _fingerprint(frame, copied)
        for frame, copied in zip((offers, regions, gpus), _COPIED, strict=True)
    )
    kept = _TABLES.get(key)
    if kept is not None:
        seen, table = kept
        if table.of(offers, regions, gpus) and seen == prints:
            return table
    table = CandidateTable(offers, regions, gpus)
    for old_key, (_, old) in list(_TABLES.items()):  # tables of catalogs gone
        if any(ref() is None for ref in old._refs):
            del _TABLES[old_key]
    _TABLES[key] = (prints, table)
    while len(_TABLES) > _TABLES_KEPT:
        _TABLES.pop(next(iter(_TABLES)))
    return table


def _codes_of(values: pd.Series) -> tuple[np.ndarray, int]:
    codes, uniques = pd.factorize(values, sort=True)
    return codes.astype(np.int64), max(len(uniques), 1)


def _arrays(offers: pd.DataFrame, regions: pd.DataFrame, gpus: pd.DataFrame) -> _Arrays | None:
    if regions.duplicated(["provider", "region"]).any() or gpus["gpu"].duplicated().any():
        return None
    if offers[["provider", "region", "instance_type", "gpu"]].isna().to_numpy().any():
        return None  # factorize codes of missing names would not sort as the frame path does
    n = len(offers)
    has_spot = offers["spot_usd_per_hour"].notna().to_numpy()
    offer = np.concatenate([np.arange(n), np.flatnonzero(has_spot)]).astype(_INDEX)
    spot = np.concatenate([np.zeros(n, dtype=bool), np.ones(int(has_spot.sum()), dtype=bool)])
    usd = np.concatenate(
        [
            offers["usd_per_hour"].to_numpy(dtype=float),
            offers["spot_usd_per_hour"].to_numpy(dtype=float)[has_spot],
        ]
    )
    p, _ = _codes_of(offers["provider"])
    r, nr = _codes_of(offers["region"])
    i, ni = _codes_of(offers["instance_type"])
    g, ng = _codes_of(offers["gpu"])
    identity = (p * nr + r) * ni + i
    pair = pd.factorize(p * nr + r)[0].astype(_INDEX)
    pairs = offers[["provider", "region"]].iloc[np.unique(pair, return_index=True)[1]]
    where = regions.set_index(["provider", "region"])[["gco2_per_kwh", "pue"]]
    pairs = pairs.join(where, on=["provider", "region"])
    gpu_table = offers[["gpu"]].iloc[np.unique(g, return_index=True)[1]]
    gpu_table = gpu_table.join(
        gpus.set_index("gpu")[["tdp_w", "memory_gb", "rel_throughput"]], on="gpu"
    )
    group_codes, group_uniques = pd.factorize((p * nr + r) * ng + g)
    return _Arrays(
        offer=offer,
        spot=spot,
        usd_per_hour=usd,
        pair=pair,
        pairs=pairs.reset_index(drop=True),
        gpu=g.astype(_INDEX),
        gpu_table=gpu_table.reset_index(drop=True),
        identity=identity,
        group=group_codes.astype(_INDEX),
        groups=max(len(group_uniques), 1),
        gpu_count=offers["gpu_count"].to_numpy(dtype=float),
        vcpus=offers["vcpus"].to_numpy(dtype=float),
        memory_gib=offers["memory_gib"].to_numpy(dtype=float),
    )


def _sig(values: np.ndarray) -> np.ndarray:
    return significant(pd.Series(values, copy=False), RANK_DIGITS)


def _plan_arrays(
    table: CandidateTable,
    job: Job,
    settings: Settings,
    c: Constraints,
    ref_throughput: float,
    baseline: tuple[str, str] | None,
    top: int | None,
    all_sizes: bool,
) -> Plan:
    """:func:`plan` on the static figures, ranked on arrays: each option's figures are computed
    with the same operations, in the same order, as :func:`compute_metrics` (so they are the
    same floats); the ranking keys are those of :func:`rank`, with the identity as one integer;
    only the options shown are built as a frame (by :func:`compute_metrics` itself)."""
    a = table.arrays
    assert a is not None
    steps: list[Step] = []
    candidates_n = len(a.offer)
    offer = a.offer
    pair_of = a.pair[offer]
    gpu_of = a.gpu[offer]
    gpu_count = a.gpu_count[offer]
    memory = a.gpu_table["memory_gb"].to_numpy(dtype=float)
    need_memory = bool(c.min_gpu_memory_gb) or job.memory_gb_required is not None
    gpu_memory = memory[gpu_of] if need_memory else np.empty(0)

    def names_in(table_column: pd.Series, codes: np.ndarray, names: Any) -> np.ndarray:
        return table_column.isin(names).to_numpy(dtype=bool)[codes]

    def pair_in(pairs: tuple[tuple[str, str], ...], codes: np.ndarray) -> np.ndarray:
        wanted = set(pairs)
        keys = zip(a.pairs["provider"], a.pairs["region"], strict=True)
        return np.array([key in wanted for key in keys], dtype=bool)[codes]

    static: list[tuple[str, np.ndarray | None, str]] = [
        (
            "provider",
            names_in(a.pairs["provider"], pair_of, c.providers) if c.providers else None,
            ",".join(c.providers or ()),
        ),
        ("region", pair_in(c.regions, pair_of) if c.regions else None, ""),
        ("exclude-region", ~pair_in(c.exclude_regions, pair_of) if c.exclude_regions else None, ""),
        (
            "gpu",
            names_in(a.gpu_table["gpu"], gpu_of, c.gpus) if c.gpus else None,
            ",".join(c.gpus or ()),
        ),
        (
            "min-gpu-memory",
            gpu_memory * np.minimum(gpu_count, 1.0) >= c.min_gpu_memory_gb
            if c.min_gpu_memory_gb
            else None,
            f"{c.min_gpu_memory_gb} GB",
        ),
        (
            "memory-fit",
            gpu_memory * gpu_count >= job.memory_gb_required
            if job.memory_gb_required is not None
            else None,
            f"{job.memory_gb_required or 0:,.1f} GB of weights, gradients and optimizer state "
            "on one instance's GPUs",
        ),
        (
            "market",
            np.isin(np.where(a.spot, "spot", "on-demand"), list(c.markets))
            if set(c.markets) != {"on-demand", "spot"}
            else None,
            ",".join(c.markets),
        ),
    ]
    keep = np.ones(candidates_n, dtype=bool)
    for name, mask, detail in static:
        if mask is None:
            continue
        kept = keep & mask
        step = Step(name, int(kept.sum()), detail)
        steps.append(step)
        if not step.remaining:
            before = pd.DataFrame(
                {"gpu_memory_gb": memory[gpu_of[keep]], "gpu_count": gpu_count[keep]}
            )
            raise _no_option_error(step, before, c)
        keep = kept
    allowed = np.flatnonzero(keep)
    del keep, gpu_memory

    # compute_metrics, on arrays (same operations, same order)
    o, pc, gc = offer[allowed], pair_of[allowed], gpu_count[allowed]
    del pair_of, gpu_count
    work = job.total_ref_gpu_hours
    speed = a.gpu_table[job.speed_column].to_numpy(dtype=float)[gpu_of[allowed]] / ref_throughput
    rate = speed * gc
    del speed
    single_wall = work / rate
    deadline = c.deadline_hours
    if deadline is None:
        instances = np.ones(len(allowed), dtype=np.int64)
        wall = work / (rate * instances * 1.0)
    else:
        needed = np.ceil(work / (rate * settings.scaling_efficiency * deadline) - 1e-9)
        instances = np.where(single_wall <= deadline, 1, np.maximum(needed, 2)).astype(np.int64)
        del needed
        efficiency = np.where(instances > 1, settings.scaling_efficiency, 1.0)
        wall = work / (rate * instances * efficiency)
        del efficiency
    del rate
    tdp = a.gpu_table["tdp_w"].to_numpy(dtype=float)[gpu_of[allowed]]
    energy = gc * tdp * settings.gpu_utilisation / 1000.0
    del tdp
    energy += (
        a.vcpus[o] * settings.cpu_w_per_vcpu + a.memory_gib[o] * settings.memory_w_per_gib
    ) / 1000.0
    energy *= instances
    energy *= wall
    energy *= a.pairs["pue"].to_numpy(dtype=float)[pc]
    gpu_hours = gc * instances * wall
    cost = wall * instances * a.usd_per_hour[allowed]
    kg = energy * a.pairs["gco2_per_kwh"].to_numpy(dtype=float)[pc] / 1000.0
    del energy
    kg += gpu_hours * settings.embodied_g_per_gpu_hour / 1000.0
    del gpu_hours, o, gc

    checks = [
        ("deadline", instances <= c.max_instances if deadline is not None else None),
        ("max-cost", cost <= c.max_cost_usd if c.max_cost_usd is not None else None),
        ("max-kg", kg <= c.max_kgco2e if c.max_kgco2e is not None else None),
    ]
    details = {
        "deadline": f"{c.deadline_hours} h with at most {c.max_instances} instance(s)",
        "max-cost": f"${c.max_cost_usd:,.2f}" if c.max_cost_usd is not None else "",
        "max-kg": f"{c.max_kgco2e} kg" if c.max_kgco2e is not None else "",
    }
    keep = np.ones(len(allowed), dtype=bool)
    for name, mask in checks:
        if mask is None:
            continue
        kept = keep & mask
        step = Step(name, int(kept.sum()), details[name])
        steps.append(step)
        if not step.remaining:
            before = pd.DataFrame(
                {"single_wall": single_wall[keep], "cost_usd": cost[keep], "kgco2e": kg[keep]}
            )
            raise _no_option_error(step, before, c)
        keep = kept
    del instances, single_wall, checks
    if not keep.all():
        feasible_at = np.flatnonzero(keep)
        allowed, wall, cost, kg = (x[feasible_at] for x in (allowed, wall, cost, kg))
    del keep
    feasible = len(allowed)

    columns = {"kgco2e": kg, "cost_usd": cost, "wall_hours": wall}
    if settings.objective == "balanced":
        columns["score_usd"] = cost + settings.carbon_price_usd_per_t * kg / 1000.0
    if settings.objective not in _SORT_KEYS:
        raise BadInputError(
            f"unknown objective {settings.objective!r}", "use carbon, cost, time or balanced"
        )
    criteria = _SORT_KEYS[settings.objective]
    rounded = {name: _sig(columns[name]) for name in criteria}
    raw = [columns[name] for name in criteria]
    identity = a.identity[offer[allowed]] * 2 + a.spot[allowed]
    group = a.group[offer[allowed]].astype(np.int64) * 2 + a.spot[allowed]

    def ranked(rows: np.ndarray) -> np.ndarray:
        """``rows`` in rank order (stable: equal keys keep candidate order, as rank() does)."""
        keys = [*(rounded[n][rows] for n in criteria), *(k[rows] for k in raw), identity[rows]]
        return rows[np.lexsort(keys[::-1])]

    primary = rounded[criteria[0]]
    everything = np.arange(feasible)
    hidden = 0
    if not all_sizes:
        # one row per (provider, region, GPU, market): the best one of each group has the
        # group's least primary key, so only those rows are sorted
        least = np.full(2 * a.groups, np.inf)
        np.fmin.at(least, group, primary)  # NaN keys are ignored: such a group keeps inf
        present = np.zeros(2 * a.groups, dtype=bool)
        present[group] = True
        hidden = feasible - int(present.sum())
        mins = least[group]
        contending = (primary == mins) | (mins == np.inf)
        if top is not None and top < len(least[present]):
            # the first ``top`` groups are among those whose least key is the top-th least
            contending &= mins <= np.partition(least[present], top - 1)[top - 1]
        order = ranked(np.flatnonzero(contending))
        first = ~pd.Series(group[order]).duplicated().to_numpy()
        shown = order[first]
        if top is not None:
            shown = shown[:top]
    elif top is not None and top < feasible:
        cut = np.partition(primary, top - 1)[top - 1]
        contenders = everything if np.isnan(cut) else np.flatnonzero(primary <= cut)
        shown = ranked(contenders)[:top]
    else:
        shown = ranked(everything)
        if top is not None:
            shown = shown[:top]

    pareto = _pareto_of(
        shown,
        _sig(cost) if "cost_usd" not in rounded else rounded["cost_usd"],
        rounded["kgco2e"] if "kgco2e" in rounded else _sig(kg),
    )
    frame = _metrics_frame(table, allowed[shown], job, settings, ref_throughput, c)
    frame = frame.assign(
        single_wall=job.total_ref_gpu_hours / (frame["speed"] * frame["gpu_count"]),
        pareto=pareto,
        rank=np.arange(1, len(frame) + 1),
    )
    if baseline is not None:
        provider, region = baseline
        in_base = (a.pairs["provider"] == provider) & (a.pairs["region"] == region)
        base = np.flatnonzero(in_base.to_numpy(dtype=bool)[a.pair[a.offer]])
        base_rows = _metrics_frame(table, base, job, settings, ref_throughput, c)
        frame = _baseline_columns(frame, base_rows)
    return Plan(
        options=frame.drop(columns=["single_wall"]),
        feasible=feasible,
        candidates=candidates_n,
        steps=tuple(steps),
        job=job,
        settings=settings,
        constraints=c,
        baseline=baseline,
        hidden_sizes=hidden,
    )


def _metrics_frame(
    table: CandidateTable,
    options: np.ndarray,
    job: Job,
    settings: Settings,
    ref_throughput: float,
    c: Constraints,
) -> pd.DataFrame:
    table_ref = table.gpus
    return compute_metrics(
        table.rows(options),
        job,
        settings,
        ref_throughput,
        c.deadline_hours,
        None,
        ref_spread=reference_spread(table_ref, job.ref_gpu),
    )


def _pareto_of(rows: np.ndarray, cost: np.ndarray, kg: np.ndarray) -> np.ndarray:
    """:func:`pareto_mask` of just ``rows`` (``cost`` and ``kg`` already at the ranking's
    precision): a row is on the frontier unless an option is cheaper and as clean, or as cheap
    and cleaner. With few rows asked for, every option is placed among the rows' distinct
    costs once (a binary search) instead of sorting them all."""
    if len(rows) > 1000 or np.isnan(cost).any() or np.isnan(kg).any():
        mask = pareto_mask(pd.Series(cost, copy=False), pd.Series(kg, copy=False))
        return mask.to_numpy(dtype=bool)[rows]
    levels = np.unique(cost[rows])  # the distinct costs of the rows asked about
    right = np.searchsorted(levels, cost, side="right")  # cost < levels[t] <=> right <= t
    left = np.searchsorted(levels, cost, side="left")
    below = np.full(len(levels) + 1, np.inf)
    np.minimum.at(below, right, kg)
    cheaper = np.minimum.accumulate(below)[: len(levels)]  # least kg costing < levels[t]
    same = right - left == 1  # cost == levels[left]
    equal = np.full(len(levels), np.inf)
    np.minimum.at(equal, left[same], kg[same])  # least kg costing exactly levels[t]
    at = np.searchsorted(levels, cost[rows])
    k = kg[rows]
    return ~((cheaper[at] <= k) | (equal[at] < k))
