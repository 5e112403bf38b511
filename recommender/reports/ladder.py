"""The budget ladder: what each extra dollar buys in avoided CO2e.

For budgets that are multiples of the cheapest option's cost, the lowest-carbon option within
each budget, and the marginal cost per tonne avoided from one step to the next: the figure a
team can weigh against a carbon price. Pure: a frame of options in, plain rows out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

BUDGET_MULTIPLES = (1.0, 1.25, 1.5, 2.0, 3.0)


@dataclass(frozen=True)
class LadderRow:
    """One budget step and the lowest-carbon option it affords."""

    multiple: float | None  # x the cheapest option's cost; None = no budget limit
    budget_usd: float | None
    index: Any  # the option's index label in the frame given
    cost_usd: float
    kgco2e: float
    avoided_kgco2e: float  # vs the previous step (0 on the first row)
    extra_usd: float  # vs the previous step
    usd_per_t_avoided: float | None  # extra $ / avoided t; None when nothing more is avoided

    def as_dict(self, option: dict[str, Any]) -> dict[str, Any]:
        return {
            "budget_multiple": self.multiple,
            "budget_usd": self.budget_usd,
            **{k: option.get(k) for k in _OPTION_KEYS},
            "cost_usd": self.cost_usd,
            "kgco2e": self.kgco2e,
            "avoided_kgco2e": self.avoided_kgco2e,
            "extra_usd": self.extra_usd,
            "usd_per_t_avoided": self.usd_per_t_avoided,
        }


_OPTION_KEYS = ("rank", "provider", "region", "location", "instance_type", "gpu", "market")


def budget_ladder(
    options: pd.DataFrame, multiples: tuple[float, ...] = BUDGET_MULTIPLES
) -> list[LadderRow]:
    """The lowest-kg option within each budget ``cheapest cost x multiple``.

    The first row is the cheapest option (the cleanest of equally cheap ones); each budget
    contains the previous one, so kg never rises down the ladder. A last row with no budget
    limit is added when the lowest-carbon option overall costs more than the largest step."""
    if options.empty:
        return []
    cost = options["cost_usd"].to_numpy(dtype=float)
    kg = options["kgco2e"].to_numpy(dtype=float)
    cheapest = float(cost.min())
    steps: list[tuple[float | None, float | None]] = [(m, cheapest * m) for m in multiples]
    steps.append((None, None))
    rows: list[LadderRow] = []
    for multiple, budget in steps:
        within = np.ones(len(cost), dtype=bool) if budget is None else cost <= budget
        # lowest kg, then lowest cost, then the earliest row (the planner's rank order)
        candidates = np.flatnonzero(within)
        order = np.lexsort((candidates, cost[candidates], kg[candidates]))
        pos = int(candidates[order[0]])
        if multiple is None and rows and rows[-1].index == options.index[pos]:
            break  # the largest budget already affords the lowest-carbon option
        prev_cost = rows[-1].cost_usd if rows else cost[pos]
        prev_kg = rows[-1].kgco2e if rows else kg[pos]
        avoided = float(prev_kg - kg[pos])
        extra = float(cost[pos] - prev_cost)
        rows.append(
            LadderRow(
                multiple=multiple,
                budget_usd=budget,
                index=options.index[pos],
                cost_usd=float(cost[pos]),
                kgco2e=float(kg[pos]),
                avoided_kgco2e=avoided,
                extra_usd=extra,
                # below a microgram nothing is avoided (and the ratio would overflow)
                usd_per_t_avoided=extra * 1000.0 / avoided if avoided > 1e-9 else None,
            )
        )
    return rows
