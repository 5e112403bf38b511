"""The one-job calculator: GPU x count x hours x grid intensity -> energy and CO2e.

This is what the ML CO2 Impact calculator and the papers do by hand, with the host, PUE and
embodied terms made explicit and each input's origin recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from recommender import assumptions as A


@dataclass(frozen=True)
class Estimate:
    gpu: str
    count: float
    hours: float
    gco2_per_kwh: float
    pue: float
    gpu_power_w: float | None  # average W per GPU (None when --power-w replaced the model)
    host_power_w: float | None  # average W for everything else (likewise)
    power_w: float  # total average IT power
    embodied_g_per_gpu_hour: float
    sources: dict[str, str]
    # Where gco2_per_kwh came from: intensity_basis, intensity_method, intensity_year,
    # intensity_source, gco2_per_kwh_low/high (the region's row), or the flag that gave it.
    intensity: dict[str, Any] = field(default_factory=dict)

    @property
    def energy_kwh(self) -> float:
        return self.power_w * self.hours * self.pue / 1000.0

    @property
    def operational_kgco2e(self) -> float:
        return self.energy_kwh * self.gco2_per_kwh / 1000.0

    @property
    def gpu_hours(self) -> float:
        return self.count * self.hours

    @property
    def embodied_kgco2e(self) -> float:
        return self.gpu_hours * self.embodied_g_per_gpu_hour / 1000.0

    @property
    def kgco2e(self) -> float:
        return self.operational_kgco2e + self.embodied_kgco2e

    def equivalents(self) -> dict[str, dict[str, Any]]:
        return equivalents(self.kgco2e, self.energy_kwh)

    def as_dict(self) -> dict[str, Any]:
        return {
            "gpu": self.gpu,
            "count": self.count,
            "hours": self.hours,
            "gpu_hours": self.gpu_hours,
            "gco2_per_kwh": self.gco2_per_kwh,
            **self.intensity,
            "pue": self.pue,
            "gpu_power_w": self.gpu_power_w,
            "host_power_w": self.host_power_w,
            "power_w": self.power_w,
            "embodied_g_per_gpu_hour": self.embodied_g_per_gpu_hour,
            "energy_kwh": self.energy_kwh,
            "operational_kgco2e": self.operational_kgco2e,
            "embodied_kgco2e": self.embodied_kgco2e,
            "kgco2e": self.kgco2e,
            "equivalents": self.equivalents(),
            "sources": dict(self.sources),
        }


def equivalents(kgco2e: float, energy_kwh: float) -> dict[str, dict[str, Any]]:
    """Everyday equivalents of an amount of CO2e and energy, each with its source."""
    return {
        "car_km": {
            "value": kgco2e * 1000.0 / A.CAR_G_PER_KM.value,
            "basis": f"{A.CAR_G_PER_KM.value} {A.CAR_G_PER_KM.unit}",
            "source": A.CAR_G_PER_KM.source,
        },
        "flights_london_new_york": {
            "value": kgco2e / A.FLIGHT_KG_LHR_JFK.value,
            "basis": f"{A.FLIGHT_KG_LHR_JFK.value:g} {A.FLIGHT_KG_LHR_JFK.unit}",
            "source": A.FLIGHT_KG_LHR_JFK.source,
        },
        "household_days_electricity": {
            "value": energy_kwh / A.HOUSEHOLD_KWH_PER_DAY.value,
            "basis": f"{A.HOUSEHOLD_KWH_PER_DAY.value} {A.HOUSEHOLD_KWH_PER_DAY.unit}",
            "source": A.HOUSEHOLD_KWH_PER_DAY.source,
        },
    }


def estimate(
    *,
    gpu: str,
    count: float,
    hours: float,
    gco2_per_kwh: float,
    pue: float,
    gpu_power_w: float,
    host_power_w: float,
    power_w: float | None = None,
    embodied_g_per_gpu_hour: float = A.EMBODIED_G_PER_GPU_HOUR.value,
    sources: dict[str, str] | None = None,
    intensity: dict[str, Any] | None = None,
) -> Estimate:
    """Energy and emissions of ``count`` GPUs running ``hours``.

    ``gpu_power_w`` is per GPU; ``host_power_w`` is for the rest of the machine(s);
    ``power_w``, when given, replaces both as the total average IT power.
    """
    modelled = power_w is None
    total = gpu_power_w * count + host_power_w if power_w is None else power_w
    return Estimate(
        gpu=gpu,
        count=count,
        hours=hours,
        gco2_per_kwh=gco2_per_kwh,
        pue=pue,
        gpu_power_w=gpu_power_w if modelled else None,
        host_power_w=host_power_w if modelled else None,
        power_w=total,
        embodied_g_per_gpu_hour=embodied_g_per_gpu_hour,
        sources=sources or {},
        intensity=intensity or {},
    )
