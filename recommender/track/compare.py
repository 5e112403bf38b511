"""Planned vs measured: a saved plan (``suggest --format json``) against a run's row of a
CodeCarbon ``emissions.csv`` (from CodeCarbon or ``carbonplan track``).

The plan's figures multiply out as ``kg = power x hours x PUE x intensity``; the measured ones
are put in the same form (IT power = (cpu + gpu + ram energy) / the row's pue / hours, the
plan's PUE, the row's intensity), so each input's error says how much of the difference in kg
it explains. The cost is the plan's hourly price over the measured hours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recommender.errors import BadInputError
from recommender.track.columns import Row, read_rows

REQUIRED = ("duration", "cpu_energy", "gpu_energy", "ram_energy", "energy_consumed", "emissions")


@dataclass(frozen=True)
class Figure:
    name: str
    unit: str
    planned: float
    measured: float

    @property
    def error(self) -> float | None:
        """(measured - planned) / planned."""
        if not self.planned or not math.isfinite(self.measured):
            return None
        return (self.measured - self.planned) / self.planned


def choose_option(plan: dict[str, Any], row: Row, rank: int | None) -> tuple[dict[str, Any], str]:
    options = plan["options"]
    if rank is not None:
        for option in options:
            if option["rank"] == rank:
                return option, f"--rank {rank}"
        ranks = ", ".join(str(o["rank"]) for o in options)
        raise BadInputError(f"the plan has no option of rank {rank}", f"its ranks: {ranks}")
    provider, region = row.text("cloud_provider").lower(), row.text("cloud_region").lower()
    for option in options:
        if provider and option["provider"] == provider and option["region"] == region:
            return option, f"the best-ranked option in the run's region {provider}:{region}"
    return options[0], "rank 1 (the run's region is not among the plan's options; or give --rank)"


def compare(
    plan_path: Path, run_path: Path, rank: int | None = None, run_id: str | None = None
) -> dict[str, Any]:
    from recommender import planfile

    plan = planfile.read(plan_path)
    rows = read_rows(run_path, REQUIRED)
    if run_id is not None:
        chosen = [r for r in rows if r.text("run_id") == run_id]
        if not chosen:
            raise BadInputError(
                f"{run_path.name} has no run {run_id!r}",
                "its runs: " + ", ".join(r.text("run_id") or "?" for r in rows[-5:]),
            )
        row = chosen[-1]
    else:
        row = rows[-1]
    option, why = choose_option(plan, row, rank)
    instances = float(option.get("instances", 1))
    hours = row.number("duration", positive=True) / 3600.0
    row_pue = row.number("pue", required=False, positive=True) if "pue" in row.values else 1.0
    row_pue = 1.0 if math.isnan(row_pue) else row_pue
    it_kwh = sum(row.number(c) for c in ("cpu_energy", "gpu_energy", "ram_energy")) / row_pue
    consumed = row.number("energy_consumed")
    recorded_kg = row.number("emissions", required=False)
    if "gco2_per_kwh" in row.values and row.text("gco2_per_kwh"):
        g, g_source = row.number("gco2_per_kwh"), f"{run_path.name} gco2_per_kwh"
    elif consumed > 0 and math.isfinite(recorded_kg):
        g, g_source = recorded_kg / consumed * 1000.0, f"{run_path.name} emissions / energy"
    else:
        g, g_source = math.nan, "none"
    pue = _number(option, "pue", 1.0)
    planned_power = (_number(option, "gpu_power_kw") + _number(option, "host_power_kw")) * instances
    planned_hours = _number(option, "wall_hours")
    measured_energy = it_kwh * pue
    figures = [
        Figure("power_kw", "kW", planned_power, it_kwh / hours),
        Figure("wall_hours", "h", planned_hours, hours),
        Figure("gco2_per_kwh", "g/kWh", _number(option, "gco2_per_kwh"), g),
        Figure("energy_kwh", "kWh", _number(option, "energy_kwh"), measured_energy),
        Figure(
            "operational_kgco2e",
            "kg",
            _number(option, "operational_kgco2e"),
            measured_energy * g / 1000.0,
        ),
        Figure(
            "cost_usd",
            "USD",
            _number(option, "cost_usd"),
            hours * instances * _number(option, "usd_per_hour"),
        ),
    ]
    return {
        "plan": {
            "file": plan_path.name,
            "rank": option["rank"],
            "chosen": why,
            "provider": option["provider"],
            "region": option["region"],
            "instance_type": option["instance_type"],
            "market": option["market"],
            "instances": option["instances"],
            "gpu": option.get("gpu"),
            "gpus_per_instance": option.get("gpus_per_instance"),
            "pue": pue,
        },
        "run": {
            "file": run_path.name,
            "line": row.line,
            "run_id": row.text("run_id"),
            "cloud_provider": row.text("cloud_provider"),
            "cloud_region": row.text("cloud_region"),
            "gpu_model": row.text("gpu_model"),
            "pue": row_pue,
            "energy_consumed_kwh": consumed,
            "emissions_kgco2e_recorded": None if math.isnan(recorded_kg) else recorded_kg,
            "intensity_source": g_source,
        },
        "figures": [
            {
                "name": f.name,
                "unit": f.unit,
                "planned": f.planned,
                "measured": None if math.isnan(f.measured) else f.measured,
                "error": f.error,
            }
            for f in figures
        ],
        "notes": [
            "measured power is IT power: (cpu + gpu + ram energy) / the row's pue / duration",
            f"measured energy and kg use the plan's PUE {pue:g}, so the errors of power, hours "
            "and intensity multiply to the error of kg",
            "the measured cost is the plan's hourly price over the measured hours",
        ],
    }


def _number(option: dict[str, Any], key: str, default: float = 0.0) -> float:
    value = option.get(key, default)
    if value is None:
        return default
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise BadInputError(f"the plan's option {option.get('rank')}: {key} is not a number")
    return float(value)
