"""One small interface for grid-intensity sources, and the registry that names them.

Built-in sources register themselves exactly as a plug-in would::

    register("mysource", lambda settings: MySource(settings))

(:mod:`recommender.intensity.sources` does so for the built-ins; this module imports no source.)

A source is cheap and stateless: the HTTP session, tokens and the on-disk cache live in the
:class:`FetchContext` and :mod:`recommender.intensity.cache`, not in the source.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from recommender.errors import BadInputError
from recommender.intensity.model import Target, ZoneSeries
from recommender.intensity.settings import IntensitySettings

if TYPE_CHECKING:
    from recommender.intensity.http import Http


@runtime_checkable
class IntensitySource(Protocol):
    """A grid-intensity source.

    ``zone_for`` maps a cloud region to the source's own key for its grid (None: the source
    does not cover it, which is not a fault); ``fetch`` returns that zone's series or raises
    :class:`~recommender.intensity.model.SourceFault`."""

    name: str
    label: str
    needs_network: bool
    signal: str  # what is measured (cache key part), e.g. "lifecycle", "co2_aoer"

    def credentials_problem(self) -> str | None:
        """Why this source cannot be used as configured (None: it can)."""
        ...

    def zone_for(self, target: Target) -> str | None: ...

    def fetch(self, zone: str, ctx: FetchContext, *, history: bool = False) -> ZoneSeries: ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class FetchContext:
    """What one run shares between fetches: the clock, the HTTP session, tokens."""

    settings: IntensitySettings
    now: datetime
    _http: Http | None = None
    tokens: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # never persisted
    clock: Callable[[], datetime] = field(default=_utcnow)  # for token ages (tests move it)
    token_lock: threading.Lock = field(default_factory=threading.Lock)
    memo: dict[Any, Any] = field(default_factory=dict)

    @property
    def http(self) -> Http:
        if self._http is None:
            from recommender.intensity.http import Http

            self._http = Http(self.settings)
        return self._http

    @property
    def requests_made(self) -> int:
        return self._http.requests if self._http is not None else 0

    def close(self) -> None:
        if self._http is not None:
            self._http.close()


SourceFactory = Callable[[IntensitySettings], IntensitySource]
_REGISTRY: dict[str, SourceFactory] = {}


def register(name: str, factory: SourceFactory) -> None:
    """Make a source available under ``name`` (lower-case) to --intensity."""
    _REGISTRY[name.lower()] = factory


def names() -> list[str]:
    return sorted(_REGISTRY)


def get_source(name: str, settings: IntensitySettings) -> IntensitySource:
    """The source registered as ``name``; unknown names list the valid ones."""
    key = name.strip().lower()
    if key not in _REGISTRY:
        valid = sorted(_REGISTRY)
        close = difflib.get_close_matches(key, [*valid, "live"], n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise BadInputError(
            f"unknown intensity source {name!r}",
            f"{hint}valid: live, {', '.join(valid)}",
        )
    return _REGISTRY[key](settings)
