"""GPU energy through NVML (``nvidia-ml-py``), behind a small injectable backend.

Where the GPU has NVML's total-energy counter (Volta and later) the energy is the counter's
difference; otherwise power samples (``nvmlDeviceGetPowerUsage``) are integrated with the
trapezoid rule over the sampling times. Tests inject a backend; the real one wraps pynvml.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass, field
from typing import Any, Protocol


class NvmlBackend(Protocol):
    """What the meter asks of NVML; every method may raise (a GPU that falls off the bus)."""

    def device_count(self) -> int: ...
    def name(self, index: int) -> str: ...
    def total_energy_mj(self, index: int) -> int | None:
        """Millijoules since the driver loaded, or None where the GPU has no counter."""
        ...

    def power_mw(self, index: int) -> float: ...
    def utilization_percent(self, index: int) -> float | None: ...
    def close(self) -> None: ...


class PynvmlBackend:
    """The real NVML, through ``pynvml`` (package ``nvidia-ml-py``)."""

    def __init__(self) -> None:
        import pynvml

        self._nvml: Any = pynvml
        pynvml.nvmlInit()
        self._handles = [
            pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())
        ]

    def device_count(self) -> int:
        return len(self._handles)

    def name(self, index: int) -> str:
        name = self._nvml.nvmlDeviceGetName(self._handles[index])
        return name.decode() if isinstance(name, bytes) else str(name)

    def total_energy_mj(self, index: int) -> int | None:
        try:
            return int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handles[index]))
        except self._nvml.NVMLError:  # NOT_SUPPORTED before Volta
            return None

    def power_mw(self, index: int) -> float:
        return float(self._nvml.nvmlDeviceGetPowerUsage(self._handles[index]))

    def utilization_percent(self, index: int) -> float | None:
        try:
            return float(self._nvml.nvmlDeviceGetUtilizationRates(self._handles[index]).gpu)
        except self._nvml.NVMLError:
            return None

    def close(self) -> None:
        with contextlib.suppress(self._nvml.NVMLError):
            self._nvml.nvmlShutdown()


def open_backend() -> tuple[NvmlBackend | None, str]:
    """The real backend, or None and why (no driver, no GPU)."""
    try:
        backend = PynvmlBackend()
    except Exception as exc:  # pynvml raises NVMLError_LibraryNotFound, DriverNotLoaded, ...
        return None, f"no NVIDIA GPU measured ({type(exc).__name__})"
    if backend.device_count() == 0:
        backend.close()
        return None, "no NVIDIA GPU found"
    return backend, ""


@dataclass
class _Device:
    name: str
    start_mj: int | None
    last_mj: int | None
    samples: list[tuple[float, float]] = field(default_factory=list)  # (time s, W)
    utilization: list[float] = field(default_factory=list)


@dataclass
class GpuMeter:
    """Energy of every GPU ``backend`` sees, from ``start`` to the last ``sample``."""

    backend: NvmlBackend
    devices: list[_Device] = field(default_factory=list)

    def start(self, now: float) -> None:
        self.devices = []
        for i in range(self.backend.device_count()):
            counter = self.backend.total_energy_mj(i)
            self.devices.append(_Device(self.backend.name(i), counter, counter))
        self.sample(now)

    def sample(self, now: float) -> None:
        for i, device in enumerate(self.devices):
            try:
                if device.start_mj is not None:
                    counter = self.backend.total_energy_mj(i)
                    if counter is not None:
                        device.last_mj = counter
                device.samples.append((now, self.backend.power_mw(i) / 1000.0))
                used = self.backend.utilization_percent(i)
                if used is not None:
                    device.utilization.append(used)
            except Exception:  # NVMLError and anything else: the sample is skipped
                continue

    @property
    def count(self) -> int:
        return len(self.devices)

    @property
    def model(self) -> str:
        """CodeCarbon's form: ``8 x NVIDIA A100-SXM4-40GB`` (one ``N x NAME`` per model)."""
        counts: dict[str, int] = {}
        for device in self.devices:
            counts[device.name] = counts.get(device.name, 0) + 1
        return "".join(f"{n} x {name}" for name, n in counts.items())

    def joules(self) -> float:
        total = 0.0
        for device in self.devices:
            if device.start_mj is not None and device.last_mj is not None:
                total += (device.last_mj - device.start_mj) / 1000.0
            else:
                total += _trapezoid(device.samples)
        return total

    @property
    def source(self) -> str:
        if not self.devices:
            return "none"
        counters = sum(d.start_mj is not None for d in self.devices)
        if counters == len(self.devices):
            return "nvml energy counter"
        if counters == 0:
            return "nvml power samples (trapezoid)"
        return "nvml energy counter, power samples where the GPU has none"

    def utilization_percent(self) -> float:
        values = [v for d in self.devices for v in d.utilization]
        return sum(values) / len(values) if values else 0.0


def _trapezoid(samples: list[tuple[float, float]]) -> float:
    return sum((t1 - t0) * (w0 + w1) / 2.0 for (t0, w0), (t1, w1) in itertools.pairwise(samples))
