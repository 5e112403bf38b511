"""``carbonplan cache info|clear``: what the per-user cache directory holds (fetched grid
intensity, the validated catalog) and a way to empty it. Only derived data lives there:
clearing it loses nothing that the next run cannot fetch or rebuild."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from recommender.cliopts import Format, FormatOpt, console, emit

# The catalog cache (recommender/catalog/load.py): catalog-<digest>.npz, an older
# catalog-*.pkl, and the temporary files a write left behind.
_CATALOG_PATTERNS = ("catalog-*", ".catalog-*")


class CacheAction(StrEnum):
    info = "info"
    clear = "clear"


def cache(
    action: Annotated[
        CacheAction,
        typer.Argument(
            help="info: where the cache is, its size and entries; clear: delete the intensity "
            "and catalog caches."
        ),
    ] = CacheAction.info,
    fmt: FormatOpt = Format.table,
) -> None:
    """Show or clear the cache of fetched grid intensity and of the validated catalog."""
    from recommender.config import cache_dir
    from recommender.intensity.cache import FILENAME, IntensityCache

    directory = cache_dir()
    intensity = IntensityCache(directory / FILENAME)
    if action is CacheAction.clear:
        removed = intensity.remove() + [p for p in _catalog_files(directory) if _unlink(p)]
        if fmt is Format.table:
            for path in removed:
                typer.echo(f"removed {path}")
            if not removed:
                typer.echo(f"nothing to remove in {directory}")
            return
        records = [{"removed": str(p)} for p in removed]
        emit(fmt, {"path": str(directory), "removed": [str(p) for p in removed]}, records)
        return
    try:
        summary = intensity.summary()
    finally:
        intensity.close()
    catalog = [
        {"name": p.name, "bytes": p.stat().st_size, "modified": _mtime(p)}
        for p in _catalog_files(directory)
    ]
    document = {"path": str(directory), "intensity": summary, "catalog": catalog}
    if fmt is Format.table:
        _render(document)
        return
    records = [
        {"kind": "intensity", "name": source, "entries": n, "bytes": None}
        for source, n in summary["sources"].items()
    ] + [
        {"kind": "catalog", "name": c["name"], "entries": None, "bytes": c["bytes"]}
        for c in catalog
    ]
    emit(fmt, document, records)


def _catalog_files(directory: Path) -> list[Path]:
    found = {p for pattern in _CATALOG_PATTERNS for p in directory.glob(pattern) if p.is_file()}
    return sorted(found, key=lambda p: p.name)


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False  # another process removed it first
    return True


def _mtime(path: Path) -> str:
    stamp = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n:,.1f} GiB"


def _render(document: dict[str, Any]) -> None:
    from rich.table import Table

    out = console()
    intensity = document["intensity"]
    out.print(f"cache directory: {document['path']}")
    if intensity["entries"]:
        out.print(
            f"intensity: {intensity['file']} ({_size(intensity['bytes'])}), "
            f"{intensity['entries']} entries, {intensity['points']:,} points, fetched "
            f"{intensity['oldest']} .. {intensity['newest']}"
        )
        view = Table(header_style="bold")
        view.add_column("source", no_wrap=True)
        view.add_column("entries", justify="right")
        for source, n in intensity["sources"].items():
            view.add_row(source, str(n))
        out.print(view)
    else:
        out.print(f"intensity: {intensity['file']}: no entries")
    if document["catalog"]:
        view = Table(title="catalog", title_justify="left", header_style="bold")
        view.add_column("file", no_wrap=True)
        view.add_column("size", justify="right")
        view.add_column("modified")
        for item in document["catalog"]:
            view.add_row(item["name"], _size(item["bytes"]), item["modified"])
        out.print(view)
    else:
        out.print("catalog: no cached files")
    out.print("'carbonplan cache clear' deletes both; the next run fetches or rebuilds them.")
