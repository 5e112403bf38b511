"""Put every region's intensity on one basis (``--intensity-basis grid|provider|marginal``).

The default basis, ``grid``, is what ``regions.csv`` holds: the annual average, location-based,
consumption-based, lifecycle intensity of each region's grid zone, the same for every region on
one zone. The other bases come from ``region_intensity.csv`` and only ever replace the
intensity columns; each row keeps saying which basis and method its figure is.
"""

from __future__ import annotations

import difflib

import pandas as pd

from recommender.catalog import schema
from recommender.errors import BadInputError


def check_basis(value: str | None, flag: str = "--intensity-basis") -> str:
    """The basis name, or one ``error:`` line listing the choices."""
    name = (value or "grid").strip().lower()
    if name in schema.INTENSITY_BASES:
        return name
    close = difflib.get_close_matches(name, schema.INTENSITY_BASES, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    raise BadInputError(
        f"unknown {flag} {value!r}",
        f"{hint}choose one of: {', '.join(schema.INTENSITY_BASES)} (grid is the default)",
    )


def regions_on_basis(regions: pd.DataFrame, bases: pd.DataFrame, basis: str) -> pd.DataFrame:
    """``regions`` with the intensity columns taken from ``basis`` (rows and order kept)."""
    basis = check_basis(basis)
    if basis == "grid":
        return regions
    columns = list(schema.INTENSITY_COLUMNS)
    chosen = bases.loc[bases["intensity_basis"] == basis, ["provider", "region", *columns]]
    merged = regions.drop(columns=columns).merge(chosen, on=["provider", "region"], how="left")
    return merged[list(regions.columns)]
