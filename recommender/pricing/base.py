"""What every price source returns, and the registry of sources by provider name."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from recommender.catalog.overlay import SPOT_RANGE, USD_RANGE


@dataclass
class Price:
    """One instance type's refreshed prices in one region."""

    instance_type: str
    usd_per_hour: float | None = None
    spot_usd_per_hour: float | None = None
    zones: int | None = None


@dataclass
class RegionResult:
    """What one region's refresh found, or why it failed (``error``: safe to print)."""

    region: str
    prices: dict[str, Price] = field(default_factory=dict)
    unavailable: list[str] = field(default_factory=list)  # known types not offered there
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> items left out
    error: str | None = None

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + n

    def price(self, instance_type: str) -> Price:
        return self.prices.setdefault(instance_type, Price(instance_type))


@dataclass(frozen=True)
class Target:
    """What to refresh for one provider: its regions and the instance types the catalog
    knows for it (only those can be planned: their GPUs and sizes come from the catalog)."""

    provider: str
    regions: tuple[str, ...]
    instance_types: frozenset[str]
    # instance type -> (gpu, gpu_count, vcpus, memory_gib), for sources that price parts
    specs: dict[str, tuple[str, float, float, float]] = field(default_factory=dict)
    # region -> instance types the catalog lists there
    offered: dict[str, frozenset[str]] = field(default_factory=dict)


#: progress(region or page label, advance) -> None
Progress = Callable[[str, float], None]


class PriceSource(Protocol):
    """A cloud's price API. ``fetch`` returns one result per region of the target (a region
    that failed carries its ``error``); it raises :class:`SourceFailure` when nothing at all
    could be fetched (no credentials, the first request refused)."""

    provider: str
    label: str  # e.g. "Azure Retail Prices API": written as each row's price_source
    steps_per_region: int  # progress units per region

    def fetch(self, target: Target, progress: Progress) -> list[RegionResult]: ...


class SourceFailure(Exception):
    """A whole source failed; the message is safe to print (no URL, key or token)."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def plausible_usd(value: Any) -> float | None:
    """A USD/hour figure within the catalog's bounds, else None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number) or not USD_RANGE[0] <= number <= USD_RANGE[1]:
        return None
    return number


def plausible_spot(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number) or not SPOT_RANGE[0] <= number <= SPOT_RANGE[1]:
        return None
    return number


#: provider -> (module, class): imported only when that provider is refreshed
SOURCES: dict[str, tuple[str, str]] = {
    "azure": ("recommender.pricing.azure", "AzureRetailPrices"),
    "aws": ("recommender.pricing.aws", "AwsPriceList"),
    "gcp": ("recommender.pricing.gcp", "GcpBillingCatalog"),
}


def source_for(provider: str) -> PriceSource:
    import importlib

    module, name = SOURCES[provider]
    source: PriceSource = getattr(importlib.import_module(module), name)()
    return source
