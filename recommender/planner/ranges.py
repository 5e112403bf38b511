"""Low/high ranges of each option's hours, energy and kg CO2e, from the spread of its inputs.

Three inputs are uncertain, each given as a low/high pair around its central value:

- **GPU throughput** (``rel_throughput_low``/``_high`` in gpus.csv): a job's speed on GPU g is
  ``rel(g) / rel(ref)``, so both factors' spreads enter, at the corners
  ``[rel_low(g) / rel_high(ref), rel_high(g) / rel_low(ref)]``. A job stated in reference-GPU
  hours and run on the reference GPU itself has no throughput uncertainty: its speed is 1 by
  definition, so the spread is not applied there. Wall hours, energy and embodied emissions
  scale with 1 / speed.
- **GPU power draw** (:data:`recommender.assumptions.GPU_UTILISATION_LOW`/``_HIGH``): the
  fraction of TDP a training job draws. Only the GPU part of an instance's power moves; the
  host's does not. A utilisation the user sets (``--utilisation``, config or environment, any
  value other than the default) is taken as known: no power spread then.
- **Grid intensity**: a static annual figure carries the region's ``gco2_per_kwh_low``/``_high``
  (its spread across years and bases, from regions.csv). A figure an intensity hook replaced
  (``intensity_kind`` live, forecast or cached: an observed or forecast series averaged over
  the run) carries no intensity spread: the static bounds describe another number, and the
  forecast's own error is not modelled.

Every output is monotone in each factor, so the range is interval arithmetic over the
corners: ``low`` takes the fastest GPU, the lowest draw and the cleanest grid, ``high`` the
opposite, and ``low <= central <= high`` always. The number of instances is the plan's (a
slower-than-central run is not re-planned), so ``wall_hours_high`` may pass a deadline.
Embodied emissions per GPU-hour, PUE, host power and (for a job sized from the model) the
MFU are taken at their central values.

Comparing two options (:func:`not_clearly_different`), uncertainty they share cancels: the
same GPU model's throughput, the reference GPU's, the power-draw fraction (one assumption for
every GPU) and the year-to-year intensity of the same grid zone. Two options are clearly
different on carbon only when one emits more at every joint corner of what differs between
them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recommender import assumptions as A
from recommender.errors import DataError
from recommender.planner.model import Settings
from recommender.planner.precision import RANK_DIGITS, significant

#: What :func:`add_ranges` adds (and, for a row with a live figure, overwrites: the intensity
#: bounds then equal the live figure).
RANGE_COLUMNS = [
    "wall_hours_low",
    "wall_hours_high",
    "energy_kwh_low",
    "energy_kwh_high",
    "kgco2e_low",
    "kgco2e_high",
    "gco2_per_kwh_low",
    "gco2_per_kwh_high",
]

METHOD = (
    "kgco2e_low/high, wall_hours_low/high and energy_kwh_low/high are interval arithmetic over "
    "the corners of three uncertain inputs (every figure is monotone in each): GPU throughput "
    "(speed = rel_throughput(gpu) / rel_throughput(ref_gpu), each between its "
    "rel_throughput_low and rel_throughput_high; none on the reference GPU itself, whose "
    "speed is 1 by definition), GPU power draw (gpu_utilisation_low to gpu_utilisation_high "
    "of TDP; the host's power is fixed) and grid intensity (gco2_per_kwh_low to "
    "gco2_per_kwh_high: a static figure's spread across years and bases; a live, forecast or "
    "cached figure carries none, and its low and high equal it). Instances, PUE, host power, "
    "embodied gCO2e per GPU-hour and MFU stay at their central values."
)
COMPARISON = (
    "Options are not clearly different on carbon when either could emit less at some corner "
    "of the uncertainty that differs between them; what they share (the same GPU model's "
    "throughput, the reference GPU's, the power-draw fraction, the same grid zone's "
    "intensity) cancels and is left out of the comparison."
)


@dataclass(frozen=True)
class Spread:
    """A factor's low and high as ratios to its central value (1, 1: no spread)."""

    low: float = 1.0
    high: float = 1.0

    def __post_init__(self) -> None:
        if not (0 < self.low <= 1.0 <= self.high):
            raise ValueError(f"a spread needs 0 < low <= 1 <= high, got {self}")


def reference_spread(gpus: pd.DataFrame, ref_gpu: str) -> Spread:
    """The reference GPU's relative-throughput spread, from the GPU catalog."""
    row = gpus.loc[gpus["gpu"] == ref_gpu]
    if row.empty:
        raise DataError(f"reference GPU {ref_gpu!r} is not in gpus.csv")
    central, low, high = (
        float(row[c].iloc[0])
        for c in ("rel_throughput", "rel_throughput_low", "rel_throughput_high")
    )
    if not (np.isfinite([central, low, high]).all() and 0 < low <= central <= high):
        raise DataError(
            f"gpus.csv: {ref_gpu} needs rel_throughput_low <= rel_throughput <= "
            f"rel_throughput_high (got {low:g}, {central:g}, {high:g})"
        )
    return Spread(low / central, high / central)


def power_spread(settings: Settings) -> Spread:
    """The spread of the GPUs' power draw: the sourced range around the default utilisation,
    none around a utilisation the user set."""
    central = settings.gpu_utilisation
    if central != A.GPU_UTILISATION.value:
        return Spread()
    return Spread(A.GPU_UTILISATION_LOW.value / central, A.GPU_UTILISATION_HIGH.value / central)


def utilisation_bounds(settings: Settings) -> tuple[float, float]:
    """The GPU utilisation range a plan used, as fractions of TDP."""
    spread = power_spread(settings)
    return settings.gpu_utilisation * spread.low, settings.gpu_utilisation * spread.high


def _checked_ratio(frame: pd.DataFrame, name: str, what: str, keys: list[str]) -> np.ndarray:
    """``name_low / name`` and ``name_high / name`` per row, refusing missing or inverted
    bounds (the catalog validates them; this guards a frame built elsewhere)."""
    central = frame[name].to_numpy(dtype=float)
    low = frame[f"{name}_low"].to_numpy(dtype=float)
    high = frame[f"{name}_high"].to_numpy(dtype=float)
    bad = ~(np.isfinite(low) & np.isfinite(high) & (low <= central) & (central <= high))
    if bad.any():
        rows = frame.loc[bad, keys].astype(str).agg(":".join, axis=1)
        names = ", ".join(sorted(set(rows))[:5])
        raise DataError(
            f"{what}: {name}_low <= {name} <= {name}_high does not hold for {names}",
            "rebuild the data (python scripts/build_data.py) or fix the rows named",
        )
    return np.stack([low, high])


def _factors(frame: pd.DataFrame, ref_gpu: str, ref: Spread) -> dict[str, np.ndarray]:
    """Per row: the wall-hours ratio bounds (t_low, t_high), the GPU throughput ratio bounds
    (x_low, x_high), whether it runs on the reference GPU, and the intensity bounds in use."""
    rel = frame["rel_throughput"].to_numpy(dtype=float)
    rel_low, rel_high = _checked_ratio(frame, "rel_throughput", "gpus.csv", ["gpu"])
    x_low, x_high = rel_low / rel, rel_high / rel
    on_ref = (frame["gpu"] == ref_gpu).to_numpy()
    g = frame["gco2_per_kwh"].to_numpy(dtype=float)
    kinds = (
        frame["intensity_kind"].fillna("static").to_numpy()
        if "intensity_kind" in frame
        else np.full(len(frame), "static", dtype=object)
    )
    static = kinds == "static"
    if static.any():
        g_low, g_high = _checked_ratio(
            frame[static], "gco2_per_kwh", "regions.csv", ["provider", "region"]
        )
        g_lo, g_hi = g.copy(), g.copy()
        g_lo[static], g_hi[static] = g_low, g_high
    else:
        g_lo, g_hi = g.copy(), g.copy()
    return {
        "x_low": x_low,
        "x_high": x_high,
        "on_ref": on_ref,
        "t_low": np.where(on_ref, 1.0, ref.low / x_high),
        "t_high": np.where(on_ref, 1.0, ref.high / x_low),
        "g_low": g_lo,
        "g_high": g_hi,
    }


def _gpu_share(frame: pd.DataFrame) -> np.ndarray:
    """The GPUs' share of an instance's IT power (what the power-draw spread moves)."""
    gpu_kw = frame["gpu_power_kw"].to_numpy(dtype=float)
    host_kw = frame["host_power_kw"].to_numpy(dtype=float)
    total = gpu_kw + host_kw
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, gpu_kw / np.where(total > 0, total, 1.0), 0.0)


def add_ranges(frame: pd.DataFrame, settings: Settings, ref_gpu: str, ref: Spread) -> pd.DataFrame:
    """The options with :data:`RANGE_COLUMNS` added (see the module docstring for the method).

    ``frame`` holds the planner's columns after emissions: ``wall_hours``, ``energy_kwh``,
    ``embodied_kgco2e``, ``gpu_power_kw``, ``host_power_kw``, ``gco2_per_kwh`` (+ ``_low``,
    ``_high``), ``intensity_kind`` and the GPU's ``rel_throughput`` (+ ``_low``, ``_high``).
    The central figures are left as they are; the ranges are the central ones times the
    factors' ratios, so restart overheads of an interruptible run carry over."""
    f = _factors(frame, ref_gpu, ref)
    power = power_spread(settings)
    share = _gpu_share(frame)
    p_low = 1.0 + share * (power.low - 1.0)
    p_high = 1.0 + share * (power.high - 1.0)
    wall = frame["wall_hours"].to_numpy(dtype=float)
    energy = frame["energy_kwh"].to_numpy(dtype=float)
    embodied = frame["embodied_kgco2e"].to_numpy(dtype=float)
    energy_low = energy * p_low * f["t_low"]
    energy_high = energy * p_high * f["t_high"]
    return frame.assign(
        wall_hours_low=wall * f["t_low"],
        wall_hours_high=wall * f["t_high"],
        energy_kwh_low=energy_low,
        energy_kwh_high=energy_high,
        kgco2e_low=energy_low * f["g_low"] / 1000.0 + embodied * f["t_low"],
        kgco2e_high=energy_high * f["g_high"] / 1000.0 + embodied * f["t_high"],
        gco2_per_kwh_low=f["g_low"],
        gco2_per_kwh_high=f["g_high"],
    )


# Corners of the comparison of option b with option a: one bit per factor, in this order.
# b's GPU and grid bits follow a's where they share them (the same variable).
_U, _XREF, _XA, _XB, _GA, _GB = range(6)
_CORNERS = (np.arange(64)[:, None] >> np.arange(6)[None, :]) & 1  # (64, 6), 1 = high


def _zone_keys(frame: pd.DataFrame) -> np.ndarray:
    """Rows whose intensity moves together: the same grid zone (else region) and the same
    figures."""
    # Plain Python over the (few) rows shown: pandas string operations cost more here.
    zones = frame["em_zone"].tolist() if "em_zone" in frame else [None] * len(frame)
    figures = zip(
        *(
            frame[c].to_numpy(dtype=float).tolist()
            for c in ("gco2_per_kwh", "gco2_per_kwh_low", "gco2_per_kwh_high")
        ),
        strict=True,
    )
    keys = [
        (f"zone:{zone}" if isinstance(zone, str) and zone else f"{provider}:{region}")
        + "|"
        + "|".join(repr(v) for v in values)
        for provider, region, zone, values in zip(
            frame["provider"].tolist(), frame["region"].tolist(), zones, figures, strict=True
        )
    ]
    return np.array(keys, dtype=object)


def corner_kg(frame: pd.DataFrame, settings: Settings, ref_gpu: str, ref: Spread) -> np.ndarray:
    """kg CO2e of every option at every corner of (power draw, reference GPU throughput, own
    GPU throughput, grid intensity): shape (options, 16), bits as in :data:`_CORNERS`
    restricted to u, xref, x and g. Used for comparisons and tests."""
    f = _factors(frame, ref_gpu, ref)
    power = power_spread(settings)
    share = _gpu_share(frame)
    energy = frame["energy_kwh"].to_numpy(dtype=float)
    embodied = frame["embodied_kgco2e"].to_numpy(dtype=float)
    bits = (np.arange(16)[:, None] >> np.arange(4)[None, :]) & 1  # u, xref, x, g
    u = np.where(bits[:, 0], power.high, power.low)[None, :]
    xref = np.where(bits[:, 1], ref.high, ref.low)[None, :]
    x = np.where(bits[:, 2][None, :] == 1, f["x_high"][:, None], f["x_low"][:, None])
    g = np.where(bits[:, 3][None, :] == 1, f["g_high"][:, None], f["g_low"][:, None])
    t = np.where(f["on_ref"][:, None], 1.0, xref / x)
    p = 1.0 + share[:, None] * (u - 1.0)
    return energy[:, None] * p * t * g / 1000.0 + embodied[:, None] * t


def not_clearly_different(
    options: pd.DataFrame, settings: Settings, ref_gpu: str, ref: Spread
) -> np.ndarray:
    """For each option, whether its kg CO2e cannot be told apart from the first option's:
    at some joint corner of the uncertainty that differs between the two it emits no more,
    to the ranking's three significant figures (shared factors take the same value for
    both). The first option is True.

    Each option's kg is multilinear in its factors (power draw, the reference GPU's and its
    own GPU's throughput as 1/x, grid intensity), so the difference of two is too, and its
    extremes over the joint box lie at the corners enumerated here."""
    n = len(options)
    if n == 0:
        return np.zeros(0, dtype=bool)
    kg = corner_kg(options, settings, ref_gpu, ref)  # (n, 16)
    gpus = options["gpu"].to_numpy()
    zones = _zone_keys(options)
    same_gpu = gpus == gpus[0]
    same_zone = zones == zones[0]
    c = _CORNERS
    # index into the 16 single-option corners: bit0 u, bit1 xref, bit2 x, bit3 g
    a_idx = c[:, _U] | (c[:, _XREF] << 1) | (c[:, _XA] << 2) | (c[:, _GA] << 3)
    xb = np.where(same_gpu[:, None], c[None, :, _XA], c[None, :, _XB])
    gb = np.where(same_zone[:, None], c[None, :, _GA], c[None, :, _GB])
    b_idx = c[None, :, _U] | (c[None, :, _XREF] << 1) | (xb << 2) | (gb << 3)  # (n, 64)
    # figures equal to the ranking's precision tie, as they do in the ranking
    rounded = significant(pd.Series(kg.ravel()), RANK_DIGITS).reshape(kg.shape)
    diff = np.take_along_axis(rounded, b_idx, axis=1) - rounded[0, a_idx][None, :]
    return diff.min(axis=1) <= 0.0


def ranks_text(ranks: list[int]) -> str:
    """``1-4``, ``1-2, 5``."""
    parts: list[str] = []
    start = prev = ranks[0]
    for r in [*ranks[1:], None]:
        if r is not None and r == prev + 1:
            prev = r
            continue
        parts.append(f"{start}" if start == prev else f"{start}-{prev}")
        if r is not None:
            start = prev = r
    return ", ".join(parts)


def carbon_ties(options: pd.DataFrame, settings: Settings, ref_gpu: str, ref: Spread) -> list[int]:
    """The ranks, among ``options`` (ranked by carbon), that are not clearly different from
    the first on carbon; empty when the first is clearly the lowest or the ranking is not
    by carbon."""
    if settings.objective != "carbon" or len(options) < 2 or "kgco2e_low" not in options:
        return []
    tied = not_clearly_different(options, settings, ref_gpu, ref)
    ranks = [int(r) for r in options["rank"].to_numpy()[tied]]
    return ranks if len(ranks) > 1 else []


def ties_note(ranks: list[int]) -> str | None:
    """The footer line for :func:`carbon_ties`' ranks (None when there are none)."""
    if not ranks:
        return None
    return (
        f"ranks {ranks_text(ranks)}: kg ranges overlap, even leaving out the uncertainty they "
        "share; not clearly different on carbon."
    )
