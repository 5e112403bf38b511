"""The built-in sources, registered the way a plug-in would register its own."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from recommender.intensity.registry import SourceFactory


def register_builtins(register: Callable[[str, SourceFactory], None]) -> None:
    from recommender.intensity.csvfile import CsvSource
    from recommender.intensity.electricitymaps import ElectricityMaps
    from recommender.intensity.static import StaticSource
    from recommender.intensity.ukgrid import UkGrid
    from recommender.intensity.watttime import WattTime

    register("static", StaticSource)
    register("electricitymaps", ElectricityMaps)
    register("watttime", WattTime)
    register("ukgrid", UkGrid)
    register("csv", CsvSource)
