"""Default modelling assumptions, each with its unit and source.

Every default here is also a flag, and every result echoes the values it used, so a reader can
see (and change) what the numbers rest on. Values marked ``estimated`` are judgement calls, not
measurements.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """A number with its unit and where it came from."""

    value: float
    unit: str
    source: str
    estimated: bool = False


GPU_UTILISATION = Figure(
    0.8,
    "fraction of TDP",
    "assumption: training keeps GPUs near full load; 80% of board TDP on average is a middle "
    "estimate (BLOOM's accounting used 100% of TDP, 400 W per A100)",
    estimated=True,
)
# The range of GPU_UTILISATION that each option's kgco2e_low/high spans
# (recommender/planner/ranges.py). Not flags: --utilisation sets a known draw (no range).
GPU_UTILISATION_LOW = Figure(
    0.6,
    "fraction of TDP",
    "assumption for the low end, below measured full-load training: an 8x H100 node training "
    "Llama2-13B and ResNet peaked at 8.4 kW of its 10.2 kW rating (Latif et al. 2024, "
    "arXiv:2412.08602), and compute-heavy training ran at about 76% of that rating (Newkirk "
    "et al. 2025, arXiv:2506.14551); small batches and communication-bound multi-GPU jobs "
    "draw less",
    estimated=True,
)
GPU_UTILISATION_HIGH = Figure(
    1.0,
    "fraction of TDP",
    "board TDP, the sustained power limit a GPU is held to; BLOOM's training accounting "
    "(Luccioni et al., JMLR 2023) counted 100% of TDP, 400 W per A100",
)
CPU_W_PER_VCPU = Figure(
    2.12,
    "W per vCPU",
    "Cloud Carbon Footprint AWS fallback coefficients: 0.74 W idle + 50% x (3.5 - 0.74) W "
    "(AVG_CPU_UTILIZATION 50%), SPECpower-based",
)
MEMORY_W_PER_GIB = Figure(
    0.392,
    "W per GiB",
    "Cloud Carbon Footprint MEMORY_COEFFICIENT 0.000392 kWh per GB-hour",
)
EMBODIED_G_PER_GPU_HOUR = Figure(
    10.35,
    "gCO2e per GPU-hour",
    "BLOOM method (Luccioni et al., JMLR 2023): (2500 kg/server / 8 + 150 kg/GPU) over "
    "6 years at 85% utilisation",
)
SCALING_EFFICIENCY = Figure(
    0.9,
    "fraction",
    "assumption: throughput per GPU when a job spans more than one instance "
    "(data-parallel over the network); 1.0 within one instance",
    estimated=True,
)
CARBON_PRICE_USD_PER_T = Figure(
    190.0,
    "USD per t CO2e",
    "US EPA 2023 social cost of carbon, 2020 emissions, 2% discount rate",
)

# Everyday equivalents. Each converts kg CO2e (or kWh) into something people picture.
CAR_G_PER_KM = Figure(
    248.5,
    "g CO2 per km",
    "US EPA 2023, typical passenger vehicle ~400 g CO2 per mile (EPA-420-F-23-014)",
)
FLIGHT_KG_LHR_JFK = Figure(
    833.0,
    "kg CO2e per passenger, one way",
    "London-New York economy, 5,555 km x 0.150 kg CO2e/passenger-km "
    "(UK DESNZ 2024 long-haul factor incl. radiative forcing)",
    estimated=True,
)
HOUSEHOLD_KWH_PER_DAY = Figure(
    29.6,
    "kWh per day",
    "US EIA: average US household used 10,791 kWh of electricity in 2022",
)
