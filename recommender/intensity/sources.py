"""The built-in sources, registered the way a plug-in registers its own: this module imports the
registry and the sources and calls :func:`~recommender.intensity.registry.register`; the registry
imports none of them (dependencies point one way, from the sources to the interface).

Importing :mod:`recommender.intensity` (or its resolver) imports this module, so the built-ins
are always registered before a source is looked up by name.
"""

from __future__ import annotations

from recommender.intensity.csvfile import CsvSource
from recommender.intensity.electricitymaps import ElectricityMaps
from recommender.intensity.registry import register
from recommender.intensity.static import StaticSource
from recommender.intensity.ukgrid import UkGrid
from recommender.intensity.watttime import WattTime

register("static", StaticSource)
register("electricitymaps", ElectricityMaps)
register("watttime", WattTime)
register("ukgrid", UkGrid)
register("csv", CsvSource)
