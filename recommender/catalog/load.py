"""Read ``data/`` (or ``$CARBONPLAN_DATA_DIR``), validate it, and hand out DataFrames.

A corrupt or hand-edited file fails here with the file, row and column named, instead of
producing a wrong ranking later.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recommender import __version__
from recommender.catalog import schema
from recommender.catalog.overlay import apply_overlay
from recommender.config import cache_dir
from recommender.errors import DataError

DATA_DIR_ENV = "CARBONPLAN_DATA_DIR"


@dataclass(frozen=True)
class Catalog:
    """The validated shipped data. Frames are never mutated by consumers."""

    offers: pd.DataFrame
    regions: pd.DataFrame  # figures on the basis ``intensity_basis`` (default: grid)
    gpus: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)
    data_dir: Path = Path()
    region_intensity: pd.DataFrame = field(default_factory=pd.DataFrame)  # the other bases
    intensity_basis: str = "grid"

    def with_basis(self, basis: str) -> Catalog:
        """The same catalog with every region's intensity columns on ``basis`` (grid,
        provider or marginal); each row keeps saying which basis and method it is."""
        from recommender.catalog.bases import regions_on_basis

        if basis == self.intensity_basis:
            return self
        regions = regions_on_basis(self.regions, self.region_intensity, basis)
        return replace(self, regions=regions, intensity_basis=basis)

    @property
    def prices_as_of(self) -> str:
        """The span of price dates, e.g. ``2025-11-01..2026-08-22``."""
        dates = self.offers["price_as_of"]
        lo, hi = str(dates.min()), str(dates.max())
        return lo if lo == hi else f"{lo}..{hi}"


def default_data_dir() -> Path:
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override)
    import recommender.data

    return Path(recommender.data.__file__).parent


def _read_csv(path: Path, columns: tuple[schema.Column, ...]) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"data file {path} is missing")
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raise DataError(
            f"{path} starts with a byte-order mark", "rebuild it: python scripts/build_data.py"
        )
    dtypes = {c.name: ("string" if c.kind == "str" else "float64") for c in columns}
    try:
        frame = pd.read_csv(path, dtype=dtypes, keep_default_na=False, na_values=[""])
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{path.name} cannot be parsed: {first}") from None
    return _validate(frame, columns, path.name)


def _validate(frame: pd.DataFrame, columns: tuple[schema.Column, ...], name: str) -> pd.DataFrame:
    missing = [c.name for c in columns if c.name not in frame.columns]
    if missing:
        raise DataError(f"{name} lacks column(s): {', '.join(missing)}")
    if frame.empty:
        raise DataError(f"{name} has no rows")
    for col in columns:
        values = frame[col.name]
        empty = values.isna()
        if col.required and empty.any():
            row = int(empty.to_numpy().nonzero()[0][0]) + 2  # header is line 1
            raise DataError(f"{name} line {row}: column {col.name} is empty")
        if col.kind == "str":
            continue
        present = values[~empty]
        bad = ~present.between(
            col.low if col.low is not None else -float("inf"),
            col.high if col.high is not None else float("inf"),
        )
        if bad.any():
            idx = present[bad].index[0]
            raise DataError(
                f"{name} line {int(idx) + 2}: {col.name}={present[idx]} is outside "
                f"[{col.low}, {col.high}]"
            )
        if col.kind == "int":
            frame[col.name] = values.astype("Int64")
    return frame[[c.name for c in columns]]


def _check_references(offers: pd.DataFrame, regions: pd.DataFrame, gpus: pd.DataFrame) -> None:
    dup = regions.duplicated(["provider", "region"])
    if dup.any():
        r = regions[dup].iloc[0]
        raise DataError(f"regions.csv lists {r['provider']}:{r['region']} twice")
    if gpus["gpu"].duplicated().any():
        raise DataError(f"gpus.csv lists {gpus['gpu'][gpus['gpu'].duplicated()].iloc[0]} twice")
    known = set(zip(regions["provider"], regions["region"], strict=True))
    pairs = set(zip(offers["provider"], offers["region"], strict=True))
    unknown = sorted(pairs - known)
    if unknown:
        p, r = unknown[0]
        raise DataError(f"offers.csv names region {p}:{r}, which regions.csv lacks")
    unknown_gpus = sorted(set(offers["gpu"]) - set(gpus["gpu"]))
    if unknown_gpus:
        raise DataError(f"offers.csv names GPU {unknown_gpus[0]}, which gpus.csv lacks")
    spot_above = offers["spot_usd_per_hour"] > offers["usd_per_hour"]
    if spot_above.any():
        o = offers[spot_above].iloc[0]
        raise DataError(
            f"offers.csv: {o['provider']}:{o['region']} {o['instance_type']} has a spot price "
            "above its on-demand price"
        )
    if offers.duplicated(["provider", "region", "instance_type"]).any():
        raise DataError("offers.csv lists the same (provider, region, instance_type) twice")


_FILES = ("meta.json", "offers.csv", "regions.csv", "region_intensity.csv", "gpus.csv")
_CACHE: dict[Path, Catalog] = {}


def _cache_file(directory: Path) -> Path | None:
    """A cache path keyed on the data files' size and mtime and the code that validated them,
    so an edited data file or a new carbonplan never reads a stale cache."""
    try:
        stats = [(name, (directory / name).stat()) for name in _FILES]
    except OSError:
        return None
    key = json.dumps(
        [
            __version__,
            schema.SCHEMA_VERSION,
            pd.__version__,
            str(directory),
            list(Catalog.__dataclass_fields__),
            repr((schema.OFFERS, schema.REGIONS, schema.REGION_INTENSITY, schema.GPUS)),
            [(name, st.st_size, st.st_mtime_ns) for name, st in stats],
        ]
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    return cache_dir() / f"catalog-{digest}.npz"


_FRAMES = ("offers", "regions", "gpus", "region_intensity")


def _encode(catalog: Catalog) -> dict[str, np.ndarray]:
    """The catalog as plain arrays (numbers, fixed-width text, masks; a few per frame, as each
    array costs a read) and one JSON header: nothing in the file can run code when read, unlike
    a pickle (anyone able to write the cache directory could otherwise run code as the user)."""
    arrays: dict[str, np.ndarray] = {}
    layout: dict[str, list[tuple[str, str]]] = {}
    for name in _FRAMES:
        frame: pd.DataFrame = getattr(catalog, name)
        kinds = [
            "float"
            if pd.api.types.is_float_dtype(frame[c].dtype)
            else "Int64"
            if str(frame[c].dtype) == "Int64"
            else "string"
            for c in frame.columns
        ]
        layout[name] = [(str(c), k) for c, k in zip(frame.columns, kinds, strict=True)]
        groups = {
            k: [c for c, kind in zip(frame.columns, kinds, strict=True) if kind == k]
            for k in set(kinds)
        }
        if "float" in groups:
            arrays[f"{name}.float"] = frame[groups["float"]].to_numpy(dtype="float64")
        if "Int64" in groups:
            part = frame[groups["Int64"]]
            arrays[f"{name}.Int64"] = part.fillna(0).to_numpy(dtype="int64")
            arrays[f"{name}.Int64.na"] = part.isna().to_numpy(dtype=bool)
        if "string" in groups:
            part = frame[groups["string"]].astype(object)
            arrays[f"{name}.string.na"] = part.isna().to_numpy(dtype=bool)
            # All text as one UTF-8 blob, NUL-separated, column after column (fixed-width
            # numpy text would be large, and slow to read back).
            text = part.where(part.notna(), "").to_numpy(dtype=object).T.ravel()
            if any("\x00" in str(t) for t in text):
                raise OSError("a catalog text holds a NUL character; not cached")
            blob = "\x00".join(str(t) for t in text).encode("utf-8")
            arrays[f"{name}.string"] = np.frombuffer(blob, dtype=np.uint8)
    header = {
        "layout": layout,
        "meta": catalog.meta,
        "data_dir": str(catalog.data_dir),
        "intensity_basis": catalog.intensity_basis,
    }
    arrays["header"] = np.array(json.dumps(header))
    return arrays


def _decode(arrays: Any) -> Catalog:
    header = json.loads(str(arrays["header"][()]))
    frames: dict[str, pd.DataFrame] = {}
    for name in _FRAMES:
        layout = header["layout"][name]
        blocks = {
            kind: arrays[f"{name}.{kind}"]
            for kind in ("float", "Int64", "string")
            if f"{name}.{kind}" in arrays
        }
        if "string" in blocks:
            rows = len(arrays[f"{name}.string.na"])
            texts = blocks["string"].tobytes().decode("utf-8").split("\x00")
            blocks["string"] = np.array(texts, dtype=object).reshape(-1, rows).T
        masks = {
            kind: arrays[f"{name}.{kind}.na"]
            for kind in ("Int64", "string")
            if f"{name}.{kind}.na" in arrays
        }
        seen = {"float": 0, "Int64": 0, "string": 0}
        columns: dict[str, Any] = {}
        for column, kind in layout:
            j = seen[kind]
            seen[kind] += 1
            if kind == "float":
                columns[column] = blocks["float"][:, j]
                continue
            values = pd.array(blocks[kind][:, j], dtype=kind)
            values[masks[kind][:, j]] = pd.NA
            columns[column] = values
        frames[name] = pd.DataFrame(columns)
    return Catalog(
        offers=frames["offers"],
        regions=frames["regions"],
        gpus=frames["gpus"],
        meta=header["meta"],
        data_dir=Path(header["data_dir"]),
        region_intensity=frames["region_intensity"],
        intensity_basis=header["intensity_basis"],
    )


def _read_cached(path: Path | None) -> Catalog | None:
    if path is None or not path.is_file():
        return None
    try:
        # opened here, so a file numpy cannot read (a truncated zip) is closed all the same
        with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as npz:
            # each item access of an NpzFile reads from the archive again: read each once
            arrays = {name: npz[name] for name in npz.files}
        return _decode(arrays)
    except Exception:  # a truncated or foreign cache file is rebuilt, never trusted
        return None


def _write_cached(path: Path | None, catalog: Catalog) -> None:
    """Write atomically (temp file + rename) so concurrent runs never see half a file.
    The cache only saves time: if it cannot be written, carry on without it."""
    if path is None:
        return
    import tempfile  # only when (re)writing the cache

    temp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "wb", dir=path.parent, prefix=".catalog-", suffix=".tmp", delete=False
        ) as handle:
            temp = handle.name
            arrays: dict[str, Any] = _encode(catalog)
            np.savez(handle, **arrays)
        os.replace(temp, path)
    except OSError:
        if temp is not None:
            Path(temp).unlink(missing_ok=True)


def load_catalog(data_dir: Path | None = None) -> Catalog:
    """Load and validate the catalog: once per process, and once per data version on disk
    (a validated copy is cached under the user cache directory)."""
    directory = (data_dir or default_data_dir()).resolve()
    if directory in _CACHE:
        return apply_overlay(_CACHE[directory])
    cache_path = _cache_file(directory)
    catalog = _read_cached(cache_path)
    if catalog is None:
        catalog = _load_and_validate(directory)
        _write_cached(cache_path, catalog)
    _CACHE[directory] = catalog
    # the user's refreshed prices (carbonplan data refresh), merged on every call: a refresh
    # in the same process is seen, and the shipped catalog and its cache stay as shipped
    return apply_overlay(catalog)


def _load_and_validate(directory: Path) -> Catalog:
    meta_path = directory / "meta.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{meta_path} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{meta_path} is not valid JSON ({exc.__class__.__name__})") from None
    version = meta.get("schema_version") if isinstance(meta, dict) else None
    if version != schema.SCHEMA_VERSION:
        raise DataError(
            f"{meta_path} has schema_version {version!r}; this carbonplan reads "
            f"{schema.SCHEMA_VERSION}",
            "rebuild the data with this version: python scripts/build_data.py",
        )
    offers = _read_csv(directory / "offers.csv", schema.OFFERS)
    regions = _read_csv(directory / "regions.csv", schema.REGIONS)
    gpus = _read_csv(directory / "gpus.csv", schema.GPUS)
    bases = _read_csv(directory / "region_intensity.csv", schema.REGION_INTENSITY)
    _check_references(offers, regions, gpus)
    _check_bases(regions, bases)
    return Catalog(
        offers=offers,
        regions=regions,
        gpus=gpus,
        meta=meta,
        data_dir=directory,
        region_intensity=bases,
    )


def _check_bases(regions: pd.DataFrame, bases: pd.DataFrame) -> None:
    """Every region has exactly one row per other basis; names and ranges are consistent."""
    for name, frame in (("regions.csv", regions), ("region_intensity.csv", bases)):
        unknown = sorted(set(frame["intensity_basis"]) - set(schema.INTENSITY_BASES))
        if unknown:
            raise DataError(f"{name}: unknown intensity_basis {unknown[0]!r}")
        methods = sorted(set(frame["intensity_method"]) - set(schema.INTENSITY_METHODS))
        if methods:
            raise DataError(f"{name}: unknown intensity_method {methods[0]!r}")
        low, mid, high = (
            frame[c] for c in ("gco2_per_kwh_low", "gco2_per_kwh", "gco2_per_kwh_high")
        )
        bad = ~((low <= mid) & (mid <= high))
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0]) + 2
            raise DataError(f"{name} line {row}: gco2_per_kwh is outside its low/high range")
    if (regions["intensity_basis"] != "grid").any():
        raise DataError(
            "regions.csv holds the grid basis only; other bases go in region_intensity.csv"
        )
    keys = regions.set_index(["provider", "region"]).index
    for basis in schema.INTENSITY_BASES[1:]:
        rows = bases[bases["intensity_basis"] == basis]
        have = rows.set_index(["provider", "region"]).index
        if have.duplicated().any() or not keys.isin(have).all():
            raise DataError(f"region_intensity.csv needs one {basis} row for every region")
