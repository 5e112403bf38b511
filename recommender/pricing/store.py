"""Write a provider's refreshed prices into the user's overlay, whole or not at all.

Each provider has one file (:func:`recommender.catalog.overlay.overlay_file`). A refresh
replaces the rows of the regions that answered and keeps every other region's rows from the
previous file, so a failure part-way leaves what was there before. The new file is written
next to the old one and swapped in with ``os.replace``: a reader sees the old file or the new
one, never half of either, even if the refresh is killed while writing.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from recommender.catalog.overlay import (
    FORMAT_VERSION,
    OverlayError,
    _check_row,
    overlay_dir,
    overlay_file,
    read_overlay_file,
)
from recommender.pricing.base import RegionResult


@dataclass
class Written:
    path: Path
    offers: int  # rows in the file after the write
    refreshed_offers: int  # rows written by this refresh
    regions: int
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> prices left out
    replaced_damaged: bool = False


def stamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def previous(path: Path) -> tuple[dict[str, Any] | None, bool]:
    """The provider's current overlay document, and whether a damaged one is being replaced."""
    if not path.exists():
        return None, False
    try:
        return read_overlay_file(path), False
    except OverlayError:
        return None, True


def write_provider(
    provider: str,
    label: str,
    results: list[RegionResult],
    now: datetime,
    directory: Path | None = None,
) -> Written | None:
    """Merge the regions that answered into the provider's overlay file; None (nothing
    written, the previous file untouched) when no region answered."""
    answered = {r.region: r for r in results if r.error is None}
    if not answered:
        return None
    directory = directory or overlay_dir()
    path = overlay_file(provider, directory)
    old, damaged = previous(path)
    when = stamp(now)
    day = now.date().isoformat()
    source = f"{label} (refreshed {when})"
    offers = [r for r in (old or {}).get("offers", []) if r["region"] not in answered]
    unavailable = [u for u in (old or {}).get("unavailable", []) if u["region"] not in answered]
    regions = {k: v for k, v in (old or {}).get("regions", {}).items() if k not in answered}
    dropped: dict[str, int] = {}
    fresh = 0
    for region, result in sorted(answered.items()):
        count = 0
        for price in sorted(result.prices.values(), key=lambda p: p.instance_type):
            if price.usd_per_hour is None:
                dropped["spot price without an on-demand price"] = (
                    dropped.get("spot price without an on-demand price", 0) + 1
                )
                continue
            spot = price.spot_usd_per_hour
            if spot is not None and spot > price.usd_per_hour:
                dropped["spot price above on-demand (spot left out)"] = (
                    dropped.get("spot price above on-demand (spot left out)", 0) + 1
                )
                spot = None
            offers.append(
                {
                    "region": region,
                    "instance_type": price.instance_type,
                    "usd_per_hour": price.usd_per_hour,
                    "spot_usd_per_hour": spot,
                    "zones": price.zones,
                    "price_as_of": day,
                    "price_source": source,
                    "spot_source": source if spot is not None else None,
                }
            )
            count += 1
        fresh += count
        unavailable += [
            {"region": region, "instance_type": t} for t in sorted(set(result.unavailable))
        ]
        regions[region] = {
            "fetched_at": when,
            "offers": count,
            "unavailable": len(set(result.unavailable)),
            "skipped": dict(sorted(result.skipped.items())),
        }
    for i, row in enumerate(offers):
        _check_row(row, i)  # never write what the reader would refuse
    document = {
        "format": FORMAT_VERSION,
        "provider": provider,
        "source": label,
        "updated_at": when,
        "regions": dict(sorted(regions.items())),
        "offers": sorted(offers, key=lambda r: (r["region"], r["instance_type"])),
        "unavailable": sorted(unavailable, key=lambda u: (u["region"], u["instance_type"])),
    }
    atomic_write(path, json.dumps(document, indent=1, allow_nan=False) + "\n")
    return Written(path, len(offers), fresh, len(regions), dropped, damaged)


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, flush it to disk, then rename it
    over ``path`` (atomic on POSIX and Windows); the temporary file never outlives a failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
