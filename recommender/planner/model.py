"""Inputs of a plan: the job, the modelling settings and the user's constraints."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from recommender import assumptions as A

OBJECTIVES = ("carbon", "cost", "time", "balanced")
MARKETS = ("on-demand", "spot")


@dataclass(frozen=True)
class Job:
    """Work to do, in GPU-hours on the reference GPU, repeated ``trials`` times.

    A job sized from the model (``flops`` set; see :mod:`recommender.planner.sizing`) states
    ``gpu_hours`` as the reference GPU's hours at its BF16 peak x ``mfu``; from there on it is
    the same as a job given in GPU-hours: every GPU's speed is its benchmarked relative
    throughput over the reference's, so both ways of stating one job rank GPUs alike."""

    gpu_hours: float
    ref_gpu: str = "A100"
    trials: int = 1
    trial_fraction: float = 1.0  # early stopping: the average trial runs this much of a run
    flops: float | None = None  # FLOPs of one full run, when sized from the model
    mfu: float | None = None
    memory_gb_required: float | None = None  # training state that must fit one instance
    details: tuple[tuple[str, Any], ...] = ()  # sizing inputs, echoed in the JSON job section

    @property
    def total_ref_gpu_hours(self) -> float:
        return self.gpu_hours * self.trials * self.trial_fraction

    @property
    def label(self) -> str:
        """A one-line title: the GPU-hours, or the model and FLOPs it was sized from."""
        if self.flops is None:
            return f"{self.total_ref_gpu_hours:,.10g} GPU-hours on {self.ref_gpu}"
        runs = f"{self.trials:,} trials x " if self.trials > 1 else ""
        if self.trial_fraction != 1.0:
            runs += f"{self.trial_fraction:g} x "
        return (
            f"{runs}{self.flops:.3g} FLOPs at MFU {self.mfu:g} on {self.ref_gpu} "
            f"(= {self.total_ref_gpu_hours:,.4g} {self.ref_gpu} GPU-hours)"
        )

    @property
    def speed_column(self) -> str:
        """The GPU column speed is taken from: the benchmarked relative throughput, for a job
        given in GPU-hours and for one sized from FLOPs alike (one throughput model)."""
        return "rel_throughput"


@dataclass(frozen=True)
class Settings:
    """Modelling assumptions; each default is sourced in :mod:`recommender.assumptions`."""

    gpu_utilisation: float = A.GPU_UTILISATION.value
    cpu_w_per_vcpu: float = A.CPU_W_PER_VCPU.value
    memory_w_per_gib: float = A.MEMORY_W_PER_GIB.value
    embodied_g_per_gpu_hour: float = A.EMBODIED_G_PER_GPU_HOUR.value
    scaling_efficiency: float = A.SCALING_EFFICIENCY.value
    carbon_price_usd_per_t: float = A.CARBON_PRICE_USD_PER_T.value
    objective: str = "carbon"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Constraints:
    """What the user allows. ``None`` means unconstrained."""

    providers: tuple[str, ...] | None = None
    regions: tuple[tuple[str, str], ...] | None = None
    exclude_regions: tuple[tuple[str, str], ...] = ()
    gpus: tuple[str, ...] | None = None
    min_gpu_memory_gb: float | None = None
    markets: tuple[str, ...] = MARKETS
    max_instances: int = 8
    deadline_hours: float | None = None
    max_cost_usd: float | None = None
    max_kgco2e: float | None = None
    # When to run (--start-after, --deadline TIME, --interruptible): ISO 8601 UTC times.
    start_after: str | None = None
    deadline_at: str | None = None
    interruptible: bool | None = None
    checkpoint_minutes: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("extra")
        # plain JSON values: the Python API's Plan.to_dict() equals the CLI's parsed JSON
        for name in ("providers", "gpus", "markets"):
            if out[name] is not None:
                out[name] = list(out[name])
        out["regions"] = [f"{p}:{r}" for p, r in self.regions] if self.regions else None
        out["exclude_regions"] = [f"{p}:{r}" for p, r in self.exclude_regions]
        return out
