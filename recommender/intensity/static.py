"""The shipped annual figures as a source: always available, never a network request."""

from __future__ import annotations

from recommender.intensity.model import SourceFault, Target, ZoneSeries
from recommender.intensity.registry import FetchContext
from recommender.intensity.settings import IntensitySettings


class StaticSource:
    name = "static"
    label = "shipped annual figures"
    needs_network = False
    signal = "annual"

    def __init__(self, settings: IntensitySettings) -> None:
        self.settings = settings

    def credentials_problem(self) -> str | None:
        return None

    def zone_for(self, target: Target) -> str | None:
        return target.key

    def fetch(self, zone: str, ctx: FetchContext, *, history: bool = False) -> ZoneSeries:
        # The planner keeps a region's static columns as they are; nothing to fetch.
        raise SourceFault("static figures are not a series")
