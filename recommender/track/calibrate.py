"""``--calibrate FILE``: a pilot's measured GPU power (and throughput) replace the defaults.

From the last row of a CodeCarbon ``emissions.csv`` (written by CodeCarbon or ``carbonplan
track``), for the GPU named in ``gpu_model``:

- power per GPU = ``gpu_energy / pue / duration / gpu_count`` (kWh and s -> kW; CodeCarbon
  multiplies energies by its ``pue``, 1 unless set, and the plan applies each region's own),
  used instead of TDP x utilisation for every option on that GPU;
- with ``--pilot-steps`` (or the row's ``steps``, recorded by ``track``) and
  ``--total-steps``: the pilot's steps per second on its ``gpu_count`` GPUs size the job, in
  GPU-hours on that GPU (other GPUs scale by their relative throughput, as always).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recommender.errors import BadInputError
from recommender.track.columns import read_rows

REQUIRED = ("duration", "gpu_energy", "gpu_count", "gpu_model")
_MODEL = re.compile(r"(\d+)\s*x\s*(.+?)(?=\d+\s*x\s|$)")
_NOISE = ("nvidia ", "tesla ", "geforce ")


@dataclass(frozen=True)
class Pilot:
    """What one pilot run measured."""

    file: str
    line: int
    run_id: str
    gpu: str  # canonical catalog name
    gpu_model: str  # as written in the CSV
    gpu_count: int
    duration_s: float
    gpu_energy_kwh: float
    pue: float
    steps: float | None

    @property
    def gpu_power_kw(self) -> float:
        """Average IT power per GPU."""
        return self.gpu_energy_kwh / self.pue / (self.duration_s / 3600.0) / self.gpu_count

    @property
    def source(self) -> str:
        return (
            f"pilot {self.file} line {self.line} (run {self.run_id or '?'}): gpu_energy "
            f"{self.gpu_energy_kwh:g} kWh / pue {self.pue:g} / {self.duration_s:g} s / "
            f"{self.gpu_count} x {self.gpu}"
        )

    def gpu_hours(self, total_steps: float, pilot_steps: float) -> float:
        """GPU-hours on the pilot's GPU for ``total_steps`` at the pilot's rate."""
        seconds = total_steps / (pilot_steps / self.duration_s)
        return seconds * self.gpu_count / 3600.0


def gpu_name(model: str, gpus: Any) -> str:
    """The catalog GPU of a ``gpu_model`` cell (CodeCarbon's ``8 x NVIDIA A100-SXM4-40GB``
    or a plain name); one GPU model per pilot."""
    from recommender.catalog import resolve_gpu

    found = [(int(n), name.strip()) for n, name in _MODEL.findall(model.strip())]
    names = [name for _, name in found] or [model.strip()]
    if len(set(names)) > 1:
        raise BadInputError(
            f"the pilot ran on more than one GPU model ({model!r})",
            "calibrate from a pilot on one GPU model",
        )
    raw = names[0]
    key = raw.lower()
    for noise in _NOISE:
        key = key.removeprefix(noise)
    for candidate in (raw, key, re.sub(r"\s+(hbm\d*e?|pcie|sxm\d?)$", "", key)):
        try:
            return resolve_gpu(candidate, gpus)
        except BadInputError:
            continue
    try:
        return resolve_gpu(key, gpus)
    except BadInputError as exc:
        raise BadInputError(f"the pilot's gpu_model {model!r}: {exc.message}", exc.hint) from None


def load_pilot(path: Path, gpus: Any) -> Pilot:
    """The last row of ``path``, checked; one error with the file and line otherwise."""
    row = read_rows(path, REQUIRED)[-1]
    count = row.number("gpu_count")
    if count < 1 or not float(count).is_integer():
        raise BadInputError(
            f"{row.name} line {row.line}: gpu_count must be a whole number >= 1 to calibrate "
            f"GPU power, got {row.text('gpu_count')!r}",
            "calibrate from a run that used GPUs (CodeCarbon writes 0 where it saw none)",
        )
    if not row.text("gpu_model"):
        raise BadInputError(f"{row.name} line {row.line}: gpu_model is empty")
    pue = row.number("pue", required=False, positive=True) if "pue" in row.values else 1.0
    steps = row.number("steps", required=False, positive=True) if "steps" in row.values else None
    try:
        gpu = gpu_name(row.text("gpu_model"), gpus)
    except BadInputError as exc:
        raise BadInputError(f"{row.name} line {row.line}: {exc.message}", exc.hint) from None
    return Pilot(
        file=path.name,
        line=row.line,
        run_id=row.text("run_id"),
        gpu=gpu,
        gpu_model=row.text("gpu_model"),
        gpu_count=int(count),
        duration_s=row.number("duration", positive=True),
        gpu_energy_kwh=row.number("gpu_energy", positive=True),
        pue=1.0 if math.isnan(pue) else pue,
        steps=None if steps is None or math.isnan(steps) else steps,
    )


@dataclass(frozen=True)
class Calibration:
    """A pilot applied to a plan: which figures it replaced."""

    pilot: Pilot
    gpu_hours: float | None = None  # the job, when sized from the pilot's throughput
    pilot_steps: float | None = None
    total_steps: float | None = None
    steps_source: str = ""

    def as_dict(self) -> dict[str, Any]:
        p = self.pilot
        out: dict[str, Any] = {
            "file": p.file,
            "line": p.line,
            "run_id": p.run_id,
            "gpu": p.gpu,
            "gpu_model": p.gpu_model,
            "gpu_count": p.gpu_count,
            "duration_s": p.duration_s,
            "gpu_energy_kwh": p.gpu_energy_kwh,
            "pue": p.pue,
            "gpu_power_kw_per_gpu": p.gpu_power_kw,
            "from_pilot": ["gpu_power_kw"] + (["gpu_hours"] if self.gpu_hours else []),
        }
        if self.gpu_hours is not None:
            out.update(
                pilot_steps=self.pilot_steps,
                pilot_steps_source=self.steps_source,
                total_steps=self.total_steps,
                steps_per_second=(self.pilot_steps or 0) / p.duration_s,
                gpu_hours=self.gpu_hours,
                gpu_hours_on=p.gpu,
            )
        return out

    def lines(self) -> list[str]:
        p = self.pilot
        out = [
            f"calibrated from {p.file} (line {p.line}): {p.gpu} options use the measured "
            f"{p.gpu_power_kw * 1000:.0f} W per GPU instead of TDP x utilisation"
        ]
        if self.gpu_hours is not None:
            out.append(
                f"job sized from the pilot: {self.total_steps:g} steps at "
                f"{(self.pilot_steps or 0) / p.duration_s:.4g} steps/s on {p.gpu_count} x "
                f"{p.gpu} = {self.gpu_hours:,.4g} {p.gpu} GPU-hours"
            )
        return out


def calibrate(
    path: Path,
    gpus: Any,
    pilot_steps: float | None,
    total_steps: float | None,
) -> Calibration:
    """Read the pilot and check the step flags together."""
    pilot = load_pilot(path, gpus)
    for flag, value in (("--pilot-steps", pilot_steps), ("--total-steps", total_steps)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise BadInputError(f"{flag} must be a positive number, got {value:g}")
    if pilot_steps is not None and total_steps is None:
        raise BadInputError(
            "--pilot-steps needs --total-steps: how many steps does the full job take?",
            "give --total-steps N",
        )
    if total_steps is None:
        return Calibration(pilot)
    steps, source = pilot_steps, "--pilot-steps"
    if steps is None:
        steps, source = pilot.steps, f"{pilot.file} steps column"
    if steps is None:
        raise BadInputError(
            f"--total-steps needs the pilot's steps; {pilot.file} line {pilot.line} has none",
            "give --pilot-steps N, or record progress with carbonplan track --progress-regex "
            "(or t.step() in Python)",
        )
    return Calibration(
        pilot,
        gpu_hours=pilot.gpu_hours(total_steps, steps),
        pilot_steps=steps,
        total_steps=total_steps,
        steps_source=source,
    )


def calibrated_gpus(gpus: Any, calibration: Calibration, utilisation: float) -> Any:
    """The GPU table with the pilot GPU's ``tdp_w`` set so that TDP x utilisation (the
    planner's power model) equals the measured power: the planner itself is unchanged. Only
    the plan sees this table; what is shown of the GPU keeps its real TDP."""
    pilot = calibration.pilot
    watts = pilot.gpu_power_kw * 1000.0 / utilisation
    tdp = gpus["tdp_w"].where(gpus["gpu"] != pilot.gpu, watts)
    return gpus.assign(tdp_w=tdp)


def annotate(document: dict[str, Any], calibration: Calibration, real_tdp: Any) -> None:
    """Say in a plan document which figures came from the pilot: a ``calibration`` section,
    ``gpu_power_source`` on every option, and the real TDP back in ``data.gpus``."""
    pilot = calibration.pilot
    document["calibration"] = calibration.as_dict()
    for option in document.get("options", []):
        option["gpu_power_source"] = (
            f"pilot {pilot.file} line {pilot.line}"
            if option.get("gpu") == pilot.gpu
            else "TDP x utilisation"
        )
    for gpu in (document.get("data") or {}).get("gpus", []):
        if gpu.get("gpu") in real_tdp:
            gpu["tdp_w"] = real_tdp[gpu["gpu"]]


# --- the hooks of suggest (cliopts.build_request) and estimate ------------------------------


def for_plan(args: Any) -> tuple[Any, Calibration]:
    """``suggest``/``report``/``launch`` flags -> (the flags with the job sized from the pilot
    where steps say so, the calibration). ``args`` is a PlanArgs (its calibrate, pilot_steps,
    total_steps, gpu_hours, params and ref_gpu fields)."""
    from dataclasses import replace

    from recommender.catalog import load_catalog

    if args.calibrate is None:
        raise BadInputError(
            "--pilot-steps and --total-steps come from a pilot run", "give --calibrate FILE too"
        )
    calibration = calibrate(args.calibrate, load_catalog().gpus, args.pilot_steps, args.total_steps)
    if calibration.gpu_hours is None:
        return args, calibration
    if args.gpu_hours is not None or args.params is not None:
        flag = "--gpu-hours" if args.gpu_hours is not None else "--params"
        raise BadInputError(
            f"--total-steps sizes the job from the pilot; {flag} sizes it too",
            f"give one of them: drop {flag}, or drop --total-steps",
        )
    return replace(
        args, gpu_hours=calibration.gpu_hours, ref_gpu=calibration.pilot.gpu
    ), calibration


def apply(catalog: Any, calibration: Calibration, utilisation: float) -> Any:
    """The catalog the plan runs on: the pilot GPU's power is the measured one."""
    from dataclasses import replace

    return replace(catalog, gpus=calibrated_gpus(catalog.gpus, calibration, utilisation))


def real_tdp(calibration: Calibration) -> dict[str, float]:
    from recommender.catalog import load_catalog

    gpus = load_catalog().gpus
    row = gpus[gpus["gpu"] == calibration.pilot.gpu]
    return {calibration.pilot.gpu: float(row["tdp_w"].iloc[0])} if not row.empty else {}


@dataclass(frozen=True)
class EstimateCalibration:
    """What ``estimate --calibrate`` replaces: the GPU power, and the hours with steps."""

    gpu_power_w: float
    gpu_power_source: str
    hours: float | None
    hours_source: str


def for_estimate(
    path: Path | None,
    pilot_steps: float | None,
    total_steps: float | None,
    *,
    gpu: str,
    gpus: Any,
    count: float,
    hours: float | None,
    sized_from_model: bool,
    gpu_power_w: float | None,
    power_w: float | None,
) -> EstimateCalibration:
    if path is None:
        raise BadInputError(
            "--pilot-steps and --total-steps come from a pilot run", "give --calibrate FILE too"
        )
    for flag, value in (("--gpu-power-w", gpu_power_w), ("--power-w", power_w)):
        if value is not None:
            raise BadInputError(
                f"--calibrate measures the GPU power; {flag} gives it too", "give one of them"
            )
    calibration = calibrate(path, gpus, pilot_steps, total_steps)
    pilot = calibration.pilot
    if pilot.gpu != gpu:
        raise BadInputError(
            f"the pilot in {pilot.file} ran on {pilot.gpu}, the estimate is for --gpu {gpu}",
            f"estimate for --gpu {pilot.gpu}, or calibrate from a pilot on {gpu}",
        )
    job_hours, hours_source = None, ""
    if calibration.gpu_hours is not None:
        if hours is not None or sized_from_model:
            flag = "--hours" if hours is not None else "--params"
            raise BadInputError(
                f"--total-steps sizes the job from the pilot; {flag} sizes it too",
                f"give one of them: drop {flag}, or drop --total-steps",
            )
        job_hours = calibration.gpu_hours / count
        hours_source = (
            f"pilot {pilot.file} line {pilot.line}: {calibration.total_steps:g} steps at "
            f"{(calibration.pilot_steps or 0) / pilot.duration_s:.4g} steps/s on "
            f"{pilot.gpu_count} x {pilot.gpu} = {calibration.gpu_hours:,.4g} GPU-hours, over "
            f"{count:g} GPUs (perfect scaling)"
        )
    return EstimateCalibration(pilot.gpu_power_kw * 1000.0, pilot.source, job_hours, hours_source)
