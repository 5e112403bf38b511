"""Job sizing from the model and the experiment plan: pure arithmetic, no I/O.

A training run of a transformer with N parameters on D tokens costs about 6 x N x D FLOPs
(forward 2ND + backward 4ND; Kaplan et al. 2020, "Scaling Laws for Neural Language Models",
section 2.1). The reference GPU (``MFU_REF_GPU``, the A100 80GB SXM) does ``peak x MFU``
useful FLOPs per second, and every other GPU does the work as fast as its benchmarked
training throughput says (``rel_throughput`` in gpus.csv, the same factor a job given in
GPU-hours uses), so

    ref_gpu_hours  = FLOPs / (bf16_tflops(ref) x 1e12 x MFU x 3600)
    gpu_hours(gpu) = ref_gpu_hours x rel_throughput(ref) / rel_throughput(gpu)

Only the reference GPU needs a BF16 peak. Peak FLOPS ratios would rank GPUs differently
(H100 3.2x an A100 on paper, about 2x in measured training), and a job must rank hardware
the same whichever way it is stated. A hyper-parameter search multiplies the work by its
trial count (times the average fraction of a full run that a trial lasts with early
stopping).

The memory check is the usual ZeRO accounting (Rajbhandari et al. 2020, "ZeRO", section 3.1):
weights + gradients + optimizer state per parameter, e.g. 16 bytes for mixed-precision Adam
(2 bf16 weights + 2 bf16 gradients + 4 fp32 master weights + 4 + 4 fp32 Adam moments).
Activations, buffers and fragmentation are not counted, so fitting is necessary, not
sufficient.

Every flag name in an error message is the user's flag: ``from_flags`` turns command-line
values into a validated :class:`Campaign` and is the only place that parses them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recommender.assumptions import Figure
from recommender.errors import BadInputError
from recommender.planner.model import Job

SECONDS_PER_HOUR = 3600.0
BYTES_PER_GB = 1e9  # GPU memory in gpus.csv is in vendor GB

FLOPS_PER_PARAM_TOKEN = 6.0
PEFT_FLOPS_PER_PARAM_TOKEN = 4.0

#: The GPU the MFU applies to: the GPU of the runs the MFU default comes from (BLOOM, Llama 2:
#: A100 80GB) and the reference of the throughput factors (rel_throughput = 1.0).
MFU_REF_GPU = "A100-80GB"

MFU = Figure(
    0.40,
    f"fraction of the reference GPU's ({MFU_REF_GPU}) peak BF16 FLOPS",
    "middle of published large-run model-FLOPs utilisation: PaLM 540B 46.2% on TPU v4 "
    "(Chowdhery et al. 2022, table 3); Llama 3 405B 38-43% BF16 MFU on H100 (Dubey et al. "
    "2024, table 4); implied by 6ND over reported A100 GPU-hours: BLOOM-176B 32% (1,082,990 h), "
    "Llama 2 7B 41% and 70B 43% (Touvron et al. 2023, table 2); small models and fine-tunes "
    "often reach less",
    estimated=True,
)
PEFT_FLOPS_FACTOR = Figure(
    PEFT_FLOPS_PER_PARAM_TOKEN / FLOPS_PER_PARAM_TOKEN,
    "fraction of full-training FLOPs",
    "LoRA/PEFT: forward 2ND + backward activation gradients 2ND; the weight-gradient half of "
    "the backward pass (2ND) is skipped for frozen weights, so 4ND instead of 6ND. Hu et al. "
    "2021 (LoRA) measured 25% higher training throughput on GPT-3 175B, i.e. a smaller saving "
    "than this FLOP count in practice",
    estimated=True,
)
PEFT_TRAINABLE_FRACTION = Figure(
    0.01,
    "trainable parameters as a fraction of the model's",
    "LoRA adapters: r=8 on the attention projections of a 7B model is ~0.1%, r=64 on every "
    "linear layer ~2.4% (QLoRA's setting); 1% is a middle figure for the memory check",
    estimated=True,
)

PRECISIONS = ("mixed", "bf16", "fp32")
OPTIMIZERS = ("adam", "sgd")
SEARCHES = ("grid", "random")

# (weight bytes, gradient bytes, bytes per optimizer moment, master-copy bytes) per parameter.
_PRECISION_BYTES = {
    "mixed": (2, 2, 4, 4),  # bf16 weights and gradients; fp32 master weights and moments
    "bf16": (2, 2, 2, 0),  # everything in bf16 (no master copy)
    "fp32": (4, 4, 4, 0),
}
_MOMENTS = {"adam": 2, "sgd": 1}  # Adam/AdamW keep m and v; SGD with momentum keeps one

_SUFFIXES = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}
_COUNT = re.compile(r"(?P<num>(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)(?P<suffix>[kmbt]?)", re.I)


def parse_count(flag: str, text: str, *, low: float = 1.0, high: float = 1e15) -> float:
    """A count written as ``350M``, ``1.3B``, ``2e9``, ``20B`` or ``50k`` (K, M, B, T suffixes,
    case-insensitive, no spaces)."""
    value = text.strip()
    match = _COUNT.fullmatch(value)
    if match is None:
        raise BadInputError(
            f"{flag} {text!r} is not a count",
            "write a number with an optional K, M, B or T suffix and no spaces or words, "
            "e.g. 350M, 1.3B, 20B or 2e9",
        )
    number = float(match["num"]) * _SUFFIXES[match["suffix"].lower()]
    if not math.isfinite(number) or number < low:
        raise BadInputError(
            f"{flag} must be at least {low:g}, got {text!r}", "e.g. 350M, 1.3B, 20B or 2e9"
        )
    if number > high:
        raise BadInputError(
            f"{flag}={text} is implausibly large (limit {high:g})",
            "check the suffix: K = 1e3, M = 1e6, B = 1e9, T = 1e12",
        )
    return number


def human(value: float) -> str:
    """``2e8`` -> ``200M``; ``1.76e11`` -> ``176B`` (three significant figures)."""
    for suffix, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


@dataclass(frozen=True)
class Memory:
    """Bytes per parameter of the training state, and the total in GB."""

    precision: str
    optimizer: str
    peft: bool
    params: float
    weight_bytes: float
    gradient_bytes: float
    optimizer_bytes: float
    trainable_params: float

    @property
    def bytes_per_trainable_param(self) -> float:
        return self.weight_bytes + self.gradient_bytes + self.optimizer_bytes

    @property
    def gb_required(self) -> float:
        if self.peft:
            # Frozen base weights, plus the full training state of the (extra) adapters.
            total = self.params * self.weight_bytes
            total += self.trainable_params * self.bytes_per_trainable_param
        else:
            total = self.params * self.bytes_per_trainable_param
        return total / BYTES_PER_GB

    def describe(self) -> str:
        parts = (
            f"weights {self.weight_bytes:g} + gradients {self.gradient_bytes:g} + optimizer "
            f"{self.optimizer_bytes:g} = {self.bytes_per_trainable_param:g} bytes/param "
            f"({self.precision}, {self.optimizer})"
        )
        if self.peft:
            return (
                f"frozen {human(self.params)} x {self.weight_bytes:g} bytes + adapters "
                f"{human(self.trainable_params)} x {parts}"
            )
        return f"{human(self.params)} x {parts}"


def memory(params: float, precision: str, optimizer: str, peft: bool = False) -> Memory:
    """Training-state memory of a model with ``params`` parameters (all held, MoE included)."""
    if precision not in _PRECISION_BYTES:
        raise BadInputError(f"unknown --precision {precision!r}", "use mixed, bf16 or fp32")
    if optimizer not in _MOMENTS:
        raise BadInputError(f"unknown --optimizer {optimizer!r}", "use adam or sgd")
    weight, grad, moment, master = _PRECISION_BYTES[precision]
    return Memory(
        precision=precision,
        optimizer=optimizer,
        peft=peft,
        params=params,
        weight_bytes=weight,
        gradient_bytes=grad,
        optimizer_bytes=master + _MOMENTS[optimizer] * moment,
        trainable_params=params * PEFT_TRAINABLE_FRACTION.value if peft else params,
    )


@dataclass(frozen=True)
class Model:
    """One training run of a model, sized from its parameters and tokens."""

    params: float
    tokens: float  # per run (examples x seq_len x epochs for a fine-tune)
    active_params: float | None = None  # MoE: parameters used per token
    finetune: bool = False
    peft: bool = False
    mfu: float = MFU.value
    precision: str = "mixed"
    optimizer: str = "adam"
    examples: float | None = None
    seq_len: int | None = None
    epochs: float | None = None

    @property
    def compute_params(self) -> float:
        return self.active_params if self.active_params is not None else self.params

    @property
    def flops_per_param_token(self) -> float:
        return PEFT_FLOPS_PER_PARAM_TOKEN if self.peft else FLOPS_PER_PARAM_TOKEN

    @property
    def flops(self) -> float:
        """FLOPs of one full run: 6 (4 with PEFT) x active params x tokens."""
        return self.flops_per_param_token * self.compute_params * self.tokens

    @property
    def memory(self) -> Memory:
        return memory(self.params, self.precision, self.optimizer, self.peft)

    def gpu_hours(self, peak_tflops: float, runs: float = 1.0) -> float:
        """GPU-hours for ``runs`` full runs on a GPU of ``peak_tflops`` dense BF16 at this
        model's MFU (used for the reference GPU; see :meth:`Campaign.gpu_hours_by_gpu`)."""
        return runs * self.flops / (peak_tflops * 1e12 * self.mfu * SECONDS_PER_HOUR)


@dataclass(frozen=True)
class Search:
    """How many runs the campaign makes: one, a random search of N, or a full grid."""

    kind: str  # "single", "random" or "grid"
    trials: int  # the trials planned (the grid's product for a grid search)
    early_stop: float = 1.0  # the average trial runs this fraction of a full run
    grid: tuple[tuple[str, int], ...] = ()
    random_trials: int | None = None  # --trials, shown beside the grid when both are given

    @property
    def grid_trials(self) -> int | None:
        return grid_trials(levels for _, levels in self.grid) if self.grid else None

    @property
    def runs(self) -> float:
        """Full-run equivalents: trials x the early-stopping fraction."""
        return self.trials * self.early_stop

    def alternatives(self) -> list[tuple[str, int]]:
        """(kind, trials) of each search worth showing side by side: grid and random."""
        out: list[tuple[str, int]] = []
        if self.grid_trials is not None:
            out.append(("grid", self.grid_trials))
        if self.random_trials is not None and (self.grid or self.kind == "random"):
            out.append(("random", self.random_trials))
        return out


def grid_trials(levels: Iterable[int]) -> int:
    """A full grid runs every combination: the product of the levels of each dimension."""
    return math.prod(levels)


def parse_grid(values: Sequence[str]) -> tuple[tuple[str, int], ...]:
    """``["lr=4", "batch=3"]`` or ``["4", "3"]`` -> ``(("lr", 4), ("batch", 3))``."""
    dims: list[tuple[str, int]] = []
    for i, value in enumerate(values, start=1):
        name, sep, levels = value.partition("=")
        if not sep:
            name, levels = f"dim{i}", name
        name = name.strip()
        if not name or not levels.strip().isdigit() or int(levels) < 1:
            raise BadInputError(
                f"--grid {value!r} is not a dimension",
                "give each dimension as NAME=LEVELS or LEVELS, e.g. --grid lr=4,batch=3",
            )
        if name in {n for n, _ in dims}:
            raise BadInputError(f"--grid names dimension {name!r} twice")
        dims.append((name, int(levels)))
    return tuple(dims)


@dataclass(frozen=True)
class Campaign:
    """A model-sized run (or None when the job is given in GPU-hours) and its search."""

    model: Model | None
    search: Search

    @property
    def flops(self) -> float | None:
        return None if self.model is None else self.model.flops * self.search.runs

    def ref_gpu_hours(self, gpus: pd.DataFrame, runs: float | None = None) -> float:
        """Campaign GPU-hours on ``MFU_REF_GPU`` at its BF16 peak x MFU (``gpus`` must hold
        that GPU: the full catalog, not a filtered one)."""
        assert self.model is not None
        runs = self.search.runs if runs is None else runs
        return self.model.gpu_hours(reference_peak(gpus), runs)

    def gpu_hours_by_gpu(
        self, gpus: pd.DataFrame, runs: float | None = None, catalog: pd.DataFrame | None = None
    ) -> pd.Series:
        """Campaign GPU-hours per GPU model in ``gpus``: the reference GPU's hours x
        rel_throughput(ref) / rel_throughput(gpu). ``catalog`` holds the reference GPU when
        ``gpus`` is a filtered selection (default: ``gpus`` itself)."""
        catalog = gpus if catalog is None else catalog
        ref_hours = self.ref_gpu_hours(catalog, runs)
        ref_rel = reference_rel(catalog)
        rel = gpus["rel_throughput"].to_numpy(dtype=float)
        return pd.Series(ref_hours * ref_rel / rel, index=gpus["gpu"].to_numpy(), name="gpu_hours")

    def min_gpus_for_memory(self, gpus: pd.DataFrame) -> pd.Series:
        """The fewest GPUs of each model whose memory together holds the training state."""
        assert self.model is not None
        need = self.model.memory.gb_required
        count = np.ceil(need / gpus["memory_gb"].to_numpy(dtype=float) - 1e-9)
        return pd.Series(np.maximum(count, 1).astype(int), index=gpus["gpu"].to_numpy())


def from_flags(
    *,
    params: str | None = None,
    active_params: str | None = None,
    tokens: str | None = None,
    mfu: float | None = None,
    finetune: bool = False,
    examples: str | None = None,
    seq_len: int | None = None,
    epochs: float | None = None,
    peft: bool = False,
    precision: str | None = None,
    optimizer: str | None = None,
    trials: int | None = None,
    search: str | None = None,
    grid: Sequence[str] | None = None,
    early_stop: float | None = None,
) -> Campaign:
    """Validate the sizing flags together and build the campaign they describe."""
    model = _model_from_flags(
        params=params,
        active_params=active_params,
        tokens=tokens,
        mfu=mfu,
        finetune=finetune,
        examples=examples,
        seq_len=seq_len,
        epochs=epochs,
        peft=peft,
        precision=precision,
        optimizer=optimizer,
    )
    return Campaign(model, _search_from_flags(trials, search, list(grid or ()), early_stop))


def _model_from_flags(
    *,
    params: str | None,
    active_params: str | None,
    tokens: str | None,
    mfu: float | None,
    finetune: bool,
    examples: str | None,
    seq_len: int | None,
    epochs: float | None,
    peft: bool,
    precision: str | None,
    optimizer: str | None,
) -> Model | None:
    model_flags = {
        "--active-params": active_params is not None,
        "--tokens": tokens is not None,
        "--mfu": mfu is not None,
        "--finetune": finetune,
        "--examples": examples is not None,
        "--seq-len": seq_len is not None,
        "--epochs": epochs is not None,
        "--peft": peft,
        "--precision": precision is not None,
        "--optimizer": optimizer is not None,
    }
    if params is None:
        given = [flag for flag, on in model_flags.items() if on]
        if given:
            raise BadInputError(
                f"{given[0]} describes a job sized from the model; it needs --params",
                "add --params (e.g. --params 350M --tokens 20B), or drop it",
            )
        return None
    n = parse_count("--params", params, high=1e14)
    active = parse_count("--active-params", active_params, high=1e14) if active_params else None
    if active is not None and active > n:
        raise BadInputError(
            f"--active-params {active_params} exceeds --params {params}",
            "for a mixture of experts --params is the total and --active-params the part "
            "used per token",
        )
    if mfu is not None and (math.isnan(mfu) or not 0.0 < mfu <= 1.0):
        raise BadInputError(f"--mfu must be in (0, 1], got {mfu:g}", "e.g. --mfu 0.4")
    fine_flags = [f for f in ("--examples", "--seq-len", "--epochs") if model_flags[f]]
    if fine_flags and not finetune:
        raise BadInputError(
            f"{fine_flags[0]} describes a fine-tune", "add --finetune, or give --tokens directly"
        )
    if peft and not finetune:
        raise BadInputError(
            "--peft adapts a pre-trained model", "add --finetune (and its --tokens or --examples)"
        )
    if tokens is not None and fine_flags:
        raise BadInputError(
            f"--tokens and {fine_flags[0]} both size the data",
            "give --tokens, or --examples N --seq-len L [--epochs E], not both",
        )
    n_examples: float | None = None
    if tokens is not None:
        d = parse_count("--tokens", tokens, high=1e16)
    elif finetune:
        if examples is None or seq_len is None:
            raise BadInputError(
                "--finetune needs the data size",
                "give --examples N --seq-len L [--epochs E], or --tokens directly",
            )
        n_examples = parse_count("--examples", examples, high=1e13)
        if seq_len < 1 or seq_len > 10_000_000:
            raise BadInputError(f"--seq-len must be between 1 and 10,000,000, got {seq_len}")
        if epochs is not None and (math.isnan(epochs) or not 0 < epochs <= 1e4):
            raise BadInputError(f"--epochs must be > 0, got {epochs:g}")
        d = n_examples * seq_len * (1.0 if epochs is None else epochs)
        if d < 1:
            raise BadInputError(f"--examples x --seq-len x --epochs is {d:g} tokens, below 1")
    else:
        raise BadInputError(
            "--params needs the number of training tokens",
            "add --tokens (e.g. --tokens 20B), or --finetune with --examples and --seq-len",
        )
    return Model(
        params=n,
        tokens=d,
        active_params=active,
        finetune=finetune,
        peft=peft,
        mfu=MFU.value if mfu is None else mfu,
        precision=precision or "mixed",
        optimizer=optimizer or "adam",
        examples=n_examples,
        seq_len=seq_len if n_examples is not None else None,
        epochs=(1.0 if epochs is None else epochs) if n_examples is not None else None,
    )


def _search_from_flags(
    trials: int | None, search: str | None, grid_values: list[str], early_stop: float | None
) -> Search:
    if trials is not None and not 1 <= trials <= 1_000_000:
        raise BadInputError(f"--trials must be between 1 and 1,000,000, got {trials}")
    if search is not None and search not in SEARCHES:
        raise BadInputError(f"unknown --search {search!r}", "use grid or random")
    grid = parse_grid(grid_values)
    if search == "grid" and not grid:
        raise BadInputError(
            "--search grid needs the grid", "give its dimensions, e.g. --grid lr=4,batch=3"
        )
    if search == "random" and trials is None:
        raise BadInputError("--search random needs --trials N")
    if search is not None:
        kind = search
    elif grid:
        kind = "grid"  # with --trials too: plan the grid, show the random search beside it
    else:
        kind = "random" if trials is not None and trials > 1 else "single"
    planned = grid_trials(n for _, n in grid) if kind == "grid" else (trials or 1)
    if planned > 1_000_000:
        raise BadInputError(f"--grid has {planned:,} combinations (limit 1,000,000)")
    if early_stop is not None:
        if math.isnan(early_stop) or not 0.0 < early_stop <= 1.0:
            raise BadInputError(f"--early-stop must be in (0, 1], got {early_stop:g}")
        if planned < 2:
            raise BadInputError(
                "--early-stop scales the trials of a search",
                "add --trials N (N > 1) or --grid, or drop --early-stop",
            )
    return Search(
        kind=kind,
        trials=planned,
        early_stop=1.0 if early_stop is None else early_stop,
        grid=grid,
        random_trials=trials,
    )


def describe(campaign: Campaign) -> dict[str, Any]:
    """The sizing inputs and derived figures, as plain values for JSON/the job section."""
    s = campaign.search
    out: dict[str, Any] = {"search": s.kind, "trials": s.trials, "early_stop": s.early_stop}
    if s.grid:
        out["grid"] = {name: levels for name, levels in s.grid}
        out["grid_trials"] = s.grid_trials
    if s.random_trials is not None:
        out["random_trials"] = s.random_trials
    out["full_run_equivalents"] = s.runs
    m = campaign.model
    if m is None:
        return out
    mem = m.memory
    out.update(
        params=m.params,
        active_params=m.active_params,
        tokens_per_run=m.tokens,
        finetune=m.finetune,
        peft=m.peft,
        examples=m.examples,
        seq_len=m.seq_len,
        epochs=m.epochs,
        flops_per_param_token=m.flops_per_param_token,
        flops_per_run=m.flops,
        flops=campaign.flops,
        mfu=m.mfu,
        precision=m.precision,
        optimizer=m.optimizer,
        bytes_per_param=mem.bytes_per_trainable_param,
        memory_gb_required=mem.gb_required,
    )
    return out


def _ref_row(gpus: pd.DataFrame) -> pd.Series:
    rows = gpus[gpus["gpu"] == MFU_REF_GPU]
    if rows.empty:
        raise BadInputError(
            f"the reference GPU {MFU_REF_GPU} is not in gpus.csv",
            "a job sized from the model is stated on it; rebuild data/ with scripts/build_data.py",
        )
    return rows.iloc[0]


def reference_peak(gpus: pd.DataFrame) -> float:
    """Dense BF16 TFLOPS of ``MFU_REF_GPU``: the one peak FLOPs-to-hours needs."""
    peak = _ref_row(gpus)["bf16_tflops"]
    if pd.isna(peak):
        raise BadInputError(
            f"reference GPU {MFU_REF_GPU} has no BF16 peak in gpus.csv",
            "FLOPs are turned into hours on the reference GPU's peak; give --gpu-hours instead",
        )
    return float(peak)


def reference_rel(gpus: pd.DataFrame) -> float:
    """rel_throughput of ``MFU_REF_GPU`` (1.0 in the shipped data: it is the factors' base)."""
    return float(_ref_row(gpus)["rel_throughput"])


def basis_text(model: Model, ref_peak: float) -> str:
    """How a model-sized job's hours were derived, for the JSON job section and --explain."""
    return (
        f"{model.flops_per_param_token:g} x params x tokens / ({MFU_REF_GPU} peak "
        f"{ref_peak:g} TFLOPS x MFU {model.mfu:g}) = {MFU_REF_GPU} GPU-hours; every GPU then "
        f"scales by rel_throughput / rel_throughput({MFU_REF_GPU}), as for --gpu-hours"
    )


def job_for(campaign: Campaign, gpu_hours: float | None, ref_gpu: str, gpus: pd.DataFrame) -> Job:
    """The planner's job: ``gpu_hours`` on ``ref_gpu``, or the campaign's FLOPs stated as
    hours on ``MFU_REF_GPU`` at its BF16 peak x MFU (``ref_gpu`` then plays no part: the
    command line refuses --ref-gpu with --params). The planner scales either by each GPU's
    relative throughput, so the two ways of stating a job rank GPUs alike."""
    search = campaign.search
    details = tuple(describe(campaign).items()) if search.kind != "single" else ()
    model = campaign.model
    if model is None:
        assert gpu_hours is not None
        return Job(
            gpu_hours=gpu_hours,
            ref_gpu=ref_gpu,
            trials=search.trials,
            trial_fraction=search.early_stop,
            details=details,
        )
    ref_peak = reference_peak(gpus)
    return Job(
        gpu_hours=model.gpu_hours(ref_peak),
        ref_gpu=MFU_REF_GPU,
        trials=search.trials,
        trial_fraction=search.early_stop,
        flops=model.flops,
        mfu=model.mfu,
        memory_gb_required=model.memory.gb_required,
        details=(*describe(campaign).items(), ("gpu_hours_basis", basis_text(model, ref_peak))),
    )
