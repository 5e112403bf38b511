"""``suggest --plot``: the cost/carbon trade-off as a small scatter of characters.

No plotting library: a character grid, coloured by provider through rich (colour drops out
when the output is not a terminal), with the market, the Pareto frontier and the recommended
option told by the character itself so that it reads without colour too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from rich.text import Text

if TYPE_CHECKING:
    from recommender.planner import Plan

PROVIDER_COLOUR = {"aws": "yellow", "gcp": "blue", "azure": "green"}
MARKET_CHAR = {"on-demand": "o", "spot": "^"}
FRONTIER, RECOMMENDED, BASELINE = "P", "*", "B"
_PRIORITY = {RECOMMENDED: 3, BASELINE: 2, FRONTIER: 1}  # what wins a shared cell


@dataclass(frozen=True)
class Axis:
    low: float
    high: float
    log: bool

    @classmethod
    def fit(cls, values: np.ndarray) -> Axis:
        lo, hi = float(values.min()), float(values.max())
        log = lo > 0 and hi / lo > 20
        if hi == lo:
            lo, hi = (lo * 0.9, hi * 1.1) if lo else (0.0, 1.0)
        return cls(lo, hi, log)

    def position(self, values: np.ndarray, cells: int) -> np.ndarray:
        """Cell index 0..cells-1 of each value."""
        if self.log:
            frac = (np.log10(values) - math.log10(self.low)) / (
                math.log10(self.high) - math.log10(self.low)
            )
        else:
            frac = (values - self.low) / (self.high - self.low)
        return np.clip(np.round(frac * (cells - 1)), 0, cells - 1).astype(int)

    def value_at(self, frac: float) -> float:
        if self.log:
            return float(10 ** (math.log10(self.low) + frac * math.log10(self.high / self.low)))
        return self.low + frac * (self.high - self.low)


def _num(value: float, unit: str = "") -> str:
    text = f"{value:,.0f}" if value >= 100 else f"{value:,.3g}"
    return f"{unit}{text}"


def tradeoff_text(
    options: pd.DataFrame,
    *,
    baseline: tuple[float, float] | None = None,
    width: int = 64,
    height: int = 16,
) -> Text:
    """A scatter of ``options`` (cost_usd, kgco2e, provider, market, pareto, rank)."""
    cost = options["cost_usd"].to_numpy(dtype=float)
    kg = options["kgco2e"].to_numpy(dtype=float)
    xs = np.append(cost, baseline[0]) if baseline else cost
    ys = np.append(kg, baseline[1]) if baseline else kg
    xa, ya = Axis.fit(xs), Axis.fit(ys)
    col = xa.position(cost, width)
    row = (height - 1) - ya.position(kg, height)  # row 0 is the top (most kg)
    grid: dict[tuple[int, int], tuple[str, str]] = {}
    best_rank = int(options["rank"].min())
    pareto = options["pareto"].to_numpy(dtype=bool) if "pareto" in options else None
    for i, (r, c) in enumerate(zip(row, col, strict=True)):
        char = MARKET_CHAR.get(str(options["market"].iat[i]), "+")
        if int(options["rank"].iat[i]) == best_rank:
            char = RECOMMENDED
        elif pareto is not None and pareto[i]:
            char = FRONTIER
        style = PROVIDER_COLOUR.get(str(options["provider"].iat[i]), "")
        held = grid.get((int(r), int(c)))
        if held is None or _PRIORITY.get(char, 0) > _PRIORITY.get(held[0], 0):
            grid[(int(r), int(c))] = (char, style)
    if baseline:
        bc = int(xa.position(np.array([baseline[0]]), width)[0])
        br = (height - 1) - int(ya.position(np.array([baseline[1]]), height)[0])
        if grid.get((br, bc), ("", ""))[0] != RECOMMENDED:
            grid[(br, bc)] = (BASELINE, "bold")
    y_labels = {0: _num(ya.high), height // 2: _num(ya.value_at(0.5)), height - 1: _num(ya.low)}
    pad = max(len(s) for s in y_labels.values())
    out = Text()
    scale = lambda a: " (log)" if a.log else ""  # noqa: E731
    out.append(f"kg CO2e{scale(ya)} vs cost{scale(xa)}: {len(options)} options\n", style="bold")
    for r in range(height):
        out.append(f"{y_labels.get(r, ''):>{pad}} |")
        for c in range(width):
            char, style = grid.get((r, c), (" ", ""))
            out.append(char, style=style)
        out.append("\n")
    out.append(" " * pad + " +" + "-" * width + "\n")
    left, mid, right = _num(xa.low, "$"), _num(xa.value_at(0.5), "$"), _num(xa.high, "$")
    gap = max(1, width - len(left) - len(mid) - len(right))
    out.append(
        " " * (pad + 2) + left + " " * (gap // 2) + mid + " " * (gap - gap // 2) + right + "\n"
    )
    out.append(f"{RECOMMENDED} recommended  {FRONTIER} Pareto frontier  ")
    if baseline:
        out.append(f"{BASELINE} baseline  ")
    out.append("o on-demand  ^ spot;  ")
    for provider in sorted(set(options["provider"])):
        out.append(provider, style=PROVIDER_COLOUR.get(provider, ""))
        out.append(" ")
    out.append("\n")
    return out


def split_for_plot(plan: Plan, top: int) -> tuple[Plan, Text]:
    """From a plan of every option: the plan with the ``top`` shown (0 = all) and a scatter
    of them all."""
    options = plan.options
    first = options.iloc[0]
    baseline = None
    if "baseline_kgco2e" in options and pd.notna(first["baseline_kgco2e"]):
        baseline = (float(first["baseline_cost_usd"]), float(first["baseline_kgco2e"]))
    chart = tradeoff_text(options, baseline=baseline)
    shown = replace(plan, options=options.head(top)) if top else plan
    return shown, chart
