"""The pure planning core: DataFrames in, DataFrames out; no I/O, no printing."""

from recommender.planner.core import Plan, pareto_mask, plan
from recommender.planner.estimate import Estimate, estimate
from recommender.planner.model import MARKETS, OBJECTIVES, Constraints, Job, Settings

__all__ = [
    "MARKETS",
    "OBJECTIVES",
    "Constraints",
    "Estimate",
    "Job",
    "Plan",
    "Settings",
    "estimate",
    "pareto_mask",
    "plan",
]
