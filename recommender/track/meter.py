"""One measurement of a run: GPU (NVML), CPU and DRAM (RAPL) energy, sampled in a thread.

Where a part cannot be measured it is estimated with the planner's own figures, and the row
says so (``cpu_power_source``, ``ram_power_source``):

- CPU without readable RAPL: ``vCPUs x CPU_W_PER_VCPU`` (Cloud Carbon Footprint's average
  coefficient, the one ``suggest`` plans with).
- RAM without a RAPL ``dram`` domain: ``total GiB x MEMORY_W_PER_GIB`` (CCF's 0.392 W per GiB),
  also the planner's figure. CodeCarbon's own RAM model differs; ours keeps plan and
  measurement comparable (``carbonplan compare``).
"""

from __future__ import annotations

import os
import platform
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from recommender import assumptions as A
from recommender.track.nvml import GpuMeter, NvmlBackend
from recommender.track.rapl import Rapl


@dataclass(frozen=True)
class Measurement:
    """What a run used. Energies in kWh, powers in W (averages over the duration)."""

    duration_s: float
    cpu_energy_kwh: float
    gpu_energy_kwh: float
    ram_energy_kwh: float
    cpu_power_source: str
    ram_power_source: str
    gpu_energy_source: str
    gpu_count: int
    gpu_model: str
    cpu_count: int
    cpu_model: str
    ram_total_gb: float
    cpu_utilization_percent: float
    gpu_utilization_percent: float
    ram_utilization_percent: float
    ram_used_gb: float

    def power_w(self, energy_kwh: float) -> float:
        return energy_kwh * 3.6e6 / self.duration_s if self.duration_s > 0 else 0.0


def _meminfo() -> dict[str, float]:
    """/proc/meminfo in GiB (empty where there is none)."""
    out: dict[str, float] = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                out[key] = int(parts[0]) / 1024**2  # kB -> GiB
    except OSError:
        pass
    return out


def _cpu_times() -> tuple[float, float] | None:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    values = [float(v) for v in first[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0.0)
    return sum(values) - idle, sum(values)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


class Meter:
    """Samples every ``interval_s`` in a daemon thread from :meth:`start` to :meth:`stop`."""

    def __init__(
        self,
        interval_s: float = 1.0,
        *,
        nvml: NvmlBackend | None = None,
        nvml_note: str = "",
        rapl: Rapl | None = None,
    ) -> None:
        self.interval_s = interval_s
        self.gpu = GpuMeter(nvml) if nvml is not None else None
        self.nvml_note = nvml_note
        self.rapl = rapl if rapl is not None else Rapl.open()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._ram_used: list[float] = []
        self._start = 0.0
        self._cpu0: tuple[float, float] | None = None

    def start(self, *, sampling: bool = True) -> None:
        """Take the first readings; sample in a thread now, or from :meth:`start_sampling`
        (a thread inherits the signal mask of the thread that starts it)."""
        self._start = time.monotonic()
        self._cpu0 = _cpu_times()
        if self.gpu is not None:
            self.gpu.start(self._start)
        self._sample()
        if sampling:
            self.start_sampling()

    def start_sampling(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="carbonplan-meter", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def _sample(self) -> None:
        with self._lock:
            now = time.monotonic()
            self.rapl.sample()
            if self.gpu is not None:
                self.gpu.sample(now)
            info = _meminfo()
            if "MemTotal" in info and "MemAvailable" in info:
                self._ram_used.append(info["MemTotal"] - info["MemAvailable"])

    def stop(self) -> Measurement:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._sample()
        duration = time.monotonic() - self._start
        hours = duration / 3600.0
        vcpus = os.cpu_count() or 1
        if self.rapl.has("package"):
            cpu_kwh = self.rapl.joules("package") / 3.6e6
            cpu_source = "rapl (package)"
        else:
            cpu_w = vcpus * A.CPU_W_PER_VCPU.value
            cpu_kwh = cpu_w * hours / 1000.0
            why = "; ".join(self.rapl.skipped[:2]) or "no RAPL package domain"
            cpu_source = (
                f"estimate: {vcpus} vCPUs x {A.CPU_W_PER_VCPU.value:g} W "
                f"(CCF average, as suggest plans; RAPL: {why})"
            )
        total_gib = _meminfo().get("MemTotal", 0.0)
        if self.rapl.has("dram"):
            ram_kwh = self.rapl.joules("dram") / 3.6e6
            ram_source = "rapl (dram)"
        else:
            ram_kwh = total_gib * A.MEMORY_W_PER_GIB.value * hours / 1000.0
            ram_source = (
                f"estimate: {total_gib:.1f} GiB x {A.MEMORY_W_PER_GIB.value:g} W per GiB (CCF)"
            )
        if self.gpu is not None and self.gpu.count:
            gpu_kwh = self.gpu.joules() / 3.6e6
            gpu_source, gpu_count, gpu_model = self.gpu.source, self.gpu.count, self.gpu.model
            gpu_used = self.gpu.utilization_percent()
        else:
            gpu_kwh, gpu_count, gpu_model, gpu_used = 0.0, 0, "", 0.0
            gpu_source = f"none ({self.nvml_note})" if self.nvml_note else "none"
        busy = 0.0
        cpu1 = _cpu_times()
        if self._cpu0 is not None and cpu1 is not None and cpu1[1] > self._cpu0[1]:
            busy = 100.0 * (cpu1[0] - self._cpu0[0]) / (cpu1[1] - self._cpu0[1])
        used = sum(self._ram_used) / len(self._ram_used) if self._ram_used else 0.0
        return Measurement(
            duration_s=duration,
            cpu_energy_kwh=cpu_kwh,
            gpu_energy_kwh=gpu_kwh,
            ram_energy_kwh=ram_kwh,
            cpu_power_source=cpu_source,
            ram_power_source=ram_source,
            gpu_energy_source=gpu_source,
            gpu_count=gpu_count,
            gpu_model=gpu_model,
            cpu_count=vcpus,
            cpu_model=_cpu_model(),
            ram_total_gb=total_gib,
            cpu_utilization_percent=busy,
            gpu_utilization_percent=gpu_used,
            ram_utilization_percent=100.0 * used / total_gib if total_gib else 0.0,
            ram_used_gb=used,
        )
