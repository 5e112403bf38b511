"""The user's overlay of refreshed prices (``carbonplan data refresh``) on the shipped offers.

The overlay lives in the user data directory (``$CARBONPLAN_OVERLAY_DIR`` overrides it), one
JSON file per provider, each written whole by :mod:`recommender.pricing.store`. It never
changes the packaged data: :func:`apply_overlay` returns a new catalog whose offers carry the
refreshed prices, with each row's ``price_as_of`` and ``price_source`` saying where its
price came from.

Merge rules, per (provider, region, instance type) in an overlay file:

- a shipped offer takes the refreshed on-demand price and the refreshed spot price (none
  when the cloud lists no spot price for it: a refreshed region is taken as the current
  truth), its zones where the refresh counted them, and the refresh's date and source;
- an instance type that the shipped data knows in another region of the same cloud is added
  in this region (its GPUs, vCPUs and memory taken from the shipped rows);
- an offer the refresh found not offered in the region (AWS availability) is dropped;
- rows naming an unknown region or instance type are ignored (nothing to plan them with).

A missing overlay costs one directory listing: ``suggest`` starts as fast as without one.
A damaged overlay file is skipped with a warning, never a crash.
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from recommender.catalog.load import Catalog

OVERLAY_DIR_ENV = "CARBONPLAN_OVERLAY_DIR"
MAX_AGE_ENV = "CARBONPLAN_PRICES_MAX_AGE_DAYS"
DEFAULT_MAX_AGE_DAYS = 90.0
FORMAT_VERSION = 1
PROVIDERS = ("aws", "azure", "gcp")
# Bounds of the shipped schema (recommender/catalog/schema.py OFFERS).
USD_RANGE = (0.01, 1000.0)
SPOT_RANGE = (0.001, 1000.0)


def overlay_dir() -> Path:
    """Where refreshed prices are kept: ``$CARBONPLAN_OVERLAY_DIR``, else
    ``<user data dir>/carbonplan/prices``."""
    override = os.environ.get(OVERLAY_DIR_ENV)
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir("carbonplan", appauthor=False)) / "prices"


def overlay_file(provider: str, directory: Path | None = None) -> Path:
    return (directory or overlay_dir()) / f"{provider}.json"


class OverlayError(ValueError):
    """An overlay file that cannot be used (the reason is safe to print)."""


def read_overlay_file(path: Path) -> dict[str, Any]:
    """Read and check one provider's overlay document; raise :class:`OverlayError`."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise OverlayError(f"cannot be read ({type(exc).__name__})") from None
    except json.JSONDecodeError as exc:
        raise OverlayError(f"is not valid JSON (line {exc.lineno})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT_VERSION:
        raise OverlayError(f"is not a format-{FORMAT_VERSION} price overlay")
    provider = document.get("provider")
    if provider not in PROVIDERS or path.stem != provider:
        raise OverlayError(f"names provider {provider!r}, not {path.stem!r}")
    offers = document.get("offers")
    regions = document.get("regions")
    if not isinstance(offers, list) or not isinstance(regions, dict):
        raise OverlayError("lacks its offers or regions")
    for i, row in enumerate(offers):
        _check_row(row, i)
    unavailable = document.setdefault("unavailable", [])
    if not isinstance(unavailable, list) or not all(
        isinstance(u, dict)
        and isinstance(u.get("region"), str)
        and isinstance(u.get("instance_type"), str)
        for u in unavailable
    ):
        raise OverlayError("has a malformed 'unavailable' list")
    return document


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_row(row: Any, i: int) -> None:
    where = f"offers[{i}]"
    if not isinstance(row, dict):
        raise OverlayError(f"{where} is not an object")
    for key in ("region", "instance_type", "price_as_of", "price_source"):
        if not isinstance(row.get(key), str) or not row[key]:
            raise OverlayError(f"{where}.{key} is missing")
    usd: Any = row.get("usd_per_hour")
    if not _number(usd) or not USD_RANGE[0] <= float(usd) <= USD_RANGE[1]:
        raise OverlayError(f"{where}.usd_per_hour must be a price in {USD_RANGE}, got {usd!r}")
    spot: Any = row.get("spot_usd_per_hour")
    if spot is not None and (not _number(spot) or not SPOT_RANGE[0] <= float(spot) <= float(usd)):
        raise OverlayError(f"{where}.spot_usd_per_hour must be <= usd_per_hour, got {spot!r}")
    zones = row.get("zones")
    if zones is not None and (not _number(zones) or not 0 <= float(zones) <= 64):
        raise OverlayError(f"{where}.zones must be 0..64, got {zones!r}")
    try:
        date.fromisoformat(row["price_as_of"])
    except ValueError:
        raise OverlayError(f"{where}.price_as_of is not a date") from None


def _warn(message: str) -> None:
    sys.stderr.write(f"warning: {message}\n")
    sys.stderr.flush()


def _listing(directory: Path) -> tuple[tuple[str, int, int], ...]:
    """(name, size, mtime) of the overlay files: the memo key, and nothing when absent."""
    try:
        entries = list(os.scandir(directory))
    except OSError:  # no overlay (the common case), or unreadable: planned on shipped data
        return ()
    found = []
    for entry in entries:
        name = entry.name
        if name.endswith(".json") and name[:-5] in PROVIDERS:
            try:
                st = entry.stat()
            except OSError:
                continue
            found.append((name, st.st_size, st.st_mtime_ns))
    return tuple(sorted(found))


_MEMO: dict[tuple[Any, ...], Catalog] = {}


def apply_overlay(catalog: Catalog) -> Catalog:
    """``catalog`` with the user's refreshed prices merged in (itself when there are none)."""
    max_age_days()  # a bad $CARBONPLAN_PRICES_MAX_AGE_DAYS is refused before any output
    directory = overlay_dir()
    listing = _listing(directory)
    if not listing:
        return catalog
    key = (id(catalog), str(directory), listing)
    if key in _MEMO:
        return _MEMO[key]
    documents = []
    for name, _size, _mtime in listing:
        path = directory / name
        try:
            documents.append(read_overlay_file(path))
        except OverlayError as exc:
            _warn(
                f"refreshed prices in {path} {exc}; using the shipped prices for "
                f"{name[:-5]} (run 'carbonplan data refresh --provider {name[:-5]}' again)"
            )
    merged = merge(catalog, documents) if documents else catalog
    _MEMO.clear()  # one overlay state per process is all a command uses
    _MEMO[key] = merged
    return merged


def merge(catalog: Catalog, documents: list[dict[str, Any]]) -> Catalog:
    """Merge overlay documents (already checked) into the catalog's offers (see the module
    docstring for the rules)."""
    offers = catalog.offers
    rows = [
        {"provider": d["provider"], **{k: r.get(k) for k in _ROW_KEYS}}
        for d in documents
        for r in d["offers"]
    ]
    gone = {
        (d["provider"], u["region"], u["instance_type"])
        for d in documents
        for u in d["unavailable"]
    }
    key = ["provider", "region", "instance_type"]
    known_regions = set(zip(catalog.regions["provider"], catalog.regions["region"], strict=True))
    specs = offers.drop_duplicates(["provider", "instance_type"]).set_index(
        ["provider", "instance_type"]
    )[["gpu", "gpu_count", "vcpus", "memory_gib"]]
    fresh = pd.DataFrame(rows, columns=["provider", *_ROW_KEYS])
    if not fresh.empty:
        fresh = fresh[
            [
                (p, r) in known_regions
                for p, r in zip(fresh["provider"], fresh["region"], strict=True)
            ]
            & fresh.set_index(["provider", "instance_type"]).index.isin(specs.index)
        ]
        fresh = fresh.drop_duplicates(key, keep="last")
    fresh_keys = set(zip(fresh["provider"], fresh["region"], fresh["instance_type"], strict=True))
    old_keys = list(zip(offers["provider"], offers["region"], offers["instance_type"], strict=True))
    replaced = [k in fresh_keys for k in old_keys]
    dropped = [k in gone and k not in fresh_keys for k in old_keys]
    if not fresh_keys and not any(dropped):
        return catalog
    kept = offers[[not (a or b) for a, b in zip(replaced, dropped, strict=True)]]
    # refreshed rows keep the shipped row's note; new rows get their specs from the catalog
    notes = offers[replaced].set_index(key)["note"]
    shipped_zones = offers[replaced].set_index(key)["zones"]
    fresh = fresh.join(specs, on=["provider", "instance_type"])
    index = pd.MultiIndex.from_frame(fresh[key])
    fresh_note = notes.reindex(index).to_numpy(dtype=object)
    added = pd.isna(fresh_note)
    fresh_note[added] = "added by carbonplan data refresh (specs from the shipped catalog)"
    zones = fresh["zones"].astype("float64").to_numpy()
    zones = pd.Series(zones).fillna(pd.Series(shipped_zones.reindex(index).to_numpy())).to_numpy()
    fresh = fresh.assign(note=fresh_note, zones=zones)
    fresh = fresh.astype(
        {
            "usd_per_hour": "float64",
            "spot_usd_per_hour": "float64",
            "gpu_count": "float64",
            "vcpus": "float64",
            "memory_gib": "float64",
        }
    )
    for column in (
        "provider",
        "region",
        "instance_type",
        "gpu",
        "price_as_of",
        "price_source",
        "spot_source",
        "note",
    ):
        fresh[column] = fresh[column].astype("string")
    merged = pd.concat([kept, fresh[list(offers.columns)]], ignore_index=True)
    merged = merged.sort_values(key, kind="mergesort", ignore_index=True)
    return replace(catalog, offers=merged)


_ROW_KEYS = (
    "region",
    "instance_type",
    "usd_per_hour",
    "spot_usd_per_hour",
    "zones",
    "price_as_of",
    "price_source",
    "spot_source",
)


def max_age_days() -> float | None:
    """The age past which prices are called stale (``$CARBONPLAN_PRICES_MAX_AGE_DAYS``,
    default 90; 0 turns the warning off). A bad value is one error, not a silent default."""
    from recommender.inputs import env_number

    value = env_number(
        MAX_AGE_ENV,
        DEFAULT_MAX_AGE_DAYS,
        low=0.0,
        high=math.inf,
        hint="give a number of days such as 90, or 0 to turn the stale-price warning off",
    )
    return value or None


def stale_mask(
    options: pd.DataFrame, today: date | None = None
) -> tuple[list[bool], float, str] | None:
    """Which of ``options`` have prices older than the limit, the limit and the oldest price
    date; None when the warning is off or nothing is old."""
    limit = max_age_days()
    if limit is None or options.empty or "price_as_of" not in options.columns:
        return None
    today = today or datetime.now(UTC).date()
    dates = options["price_as_of"].astype(str).str.slice(0, 10)
    ages = [(today - date.fromisoformat(d)).days for d in dates]
    if max(ages) <= limit:
        return None
    return [a > limit for a in ages], limit, str(dates.iloc[ages.index(max(ages))])


def stale_prices(options: pd.DataFrame, today: date | None = None) -> str | None:
    """A warning when prices of the shown options are older than the limit, else None."""
    stale = stale_mask(options, today)
    if stale is None:
        return None
    mask, limit, oldest = stale
    return (
        f"the prices of {sum(mask)} of the {len(mask)} option(s) shown are more than "
        f"{limit:g} days old (oldest {oldest}); {STALE_ADVICE}"
    )


STALE_ADVICE = (
    f"'carbonplan data refresh' fetches current ones ({MAX_AGE_ENV} sets the limit, 0 turns "
    "this off)"
)
