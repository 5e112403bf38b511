"""carbonplan: plan GPU training jobs across clouds for the least CO2e within budget and time.

The Python API (the same application layer as the ``carbonplan`` command line; keyword names
are its flags)::

    import recommender

    plan = recommender.suggest(gpu_hours=400, top=10)
    plan.options      # pandas DataFrame, the JSON contract's option fields
    plan.to_dict()    # what `carbonplan suggest --format json` prints
    plan.pareto()     # the cost/CO2e frontier rows
    print(plan.explain())

``estimate``, ``size``, ``replay`` and ``report`` follow the commands of the same names. The
names in ``__all__`` are the stable API. Importing this package is light: pandas and the rest
load when a function that needs them is called.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "EstimateResult",
    "Plan",
    "PlanRequest",
    "Replay",
    "ReportFiles",
    "Sizing",
    "SizingRequest",
    "__version__",
    "estimate",
    "replay",
    "report",
    "size",
    "suggest",
    "suggest_many",
]

if TYPE_CHECKING:
    from recommender.api import (
        EstimateResult,
        Plan,
        PlanRequest,
        Replay,
        ReportFiles,
        Sizing,
        SizingRequest,
        estimate,
        replay,
        report,
        size,
        suggest,
        suggest_many,
    )


def __getattr__(name: str) -> Any:
    """The API's names, imported from :mod:`recommender.api` on first use (so that ``import
    recommender`` and the command line's start-up stay light)."""
    if name in __all__:
        from recommender import api

        value = getattr(api, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'recommender' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """``recommender.replay`` is both the public function and the name of the subpackage that
    replays traces (:mod:`recommender.replay`). Importing a subpackage sets it as an attribute
    of its parent, which would hide the function; here the attribute stays the function, and
    the subpackage is reached as modules are, through ``sys.modules`` (``from
    recommender.replay import ...`` is unaffected)."""

    @property
    def replay(self) -> Any:
        return __getattr__("replay")

    @replay.setter
    def replay(self, module: Any) -> None:
        self.__dict__["_replay_package"] = module  # what the import system sets


sys.modules[__name__].__class__ = _Package


# recommender.track(...): measure a run, ``with recommender.track(...) as t:`` or as a
# decorator. The name is the subpackage recommender.track, which is callable; loaded on use.
_api_getattr = __getattr__


def __getattr__(name: str) -> Any:  # type: ignore[no-redef]
    if name == "track":
        import importlib

        return importlib.import_module("recommender.track")
    return _api_getattr(name)
