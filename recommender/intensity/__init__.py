"""Grid-intensity sources behind one interface: static, electricitymaps, watttime, ukgrid and a
user's CSV file; an ordered fallback; an on-disk cache; run-hour averages for the planner.

Importing this package is light; ``requests`` and ``sqlite3`` load only when a source fetches.

- :func:`fetch_series` - each region's series (native resolution, source and kind per point).
- :func:`make_intensity_fn` - the planner hook for ``--intensity``.
- :func:`register` / :func:`get_source` - the source registry.
"""

from recommender.intensity.model import Point, SourceFault, Target, ZoneSeries, window_means
from recommender.intensity.planner import LiveIntensity, make_intensity_fn
from recommender.intensity.registry import (
    FetchContext,
    IntensitySource,
    get_source,
    names,
    register,
)
from recommender.intensity.resolve import Resolution, build_chain, fetch_series, region_targets
from recommender.intensity.settings import IntensitySettings, load_settings

__all__ = [
    "FetchContext",
    "IntensitySettings",
    "IntensitySource",
    "LiveIntensity",
    "Point",
    "Resolution",
    "SourceFault",
    "Target",
    "ZoneSeries",
    "build_chain",
    "fetch_series",
    "get_source",
    "load_settings",
    "make_intensity_fn",
    "names",
    "region_targets",
    "register",
    "window_means",
]
