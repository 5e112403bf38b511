"""Measure a real run (CodeCarbon-compatible CSV) and calibrate plans from it.

The package itself is callable, so that ``recommender.track(...)`` is the tracker whether or
not this subpackage has been imported (an import of it would otherwise replace a function of
that name on ``recommender``)::

    with recommender.track(output="emissions.csv", region="aws:eu-north-1") as t:
        ...

``track`` and ``Tracker`` load on first use: importing the package costs nothing.
"""

from __future__ import annotations

import sys
import types
from typing import Any

__all__ = ["Tracker", "track"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from recommender.track import tracker

        return getattr(tracker, name)
    raise AttributeError(name)


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from recommender.track.tracker import track

        return track(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
