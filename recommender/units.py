"""Unit conversions, in one place. Names carry their units."""

from __future__ import annotations

from datetime import UTC, datetime

LB_IN_KG = 0.45359237
#: 1 lb/MWh = 0.45359237 g/kWh
G_PER_KWH_PER_LB_PER_MWH = LB_IN_KG
GIB_IN_GB = 1.073741824


def lbs_per_mwh_to_g_per_kwh(value: float) -> float:
    """Convert an emission factor in lbs CO2e/MWh (eGRID, WattTime) to gCO2e/kWh."""
    return value * G_PER_KWH_PER_LB_PER_MWH


def watts_to_kw(value: float) -> float:
    return value / 1000.0


def g_to_kg(value: float) -> float:
    return value / 1000.0


def utc(value: datetime) -> datetime:
    """The same instant as an aware UTC datetime (naive values are taken as UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    """UTC ISO 8601 with a ``Z``, to the second; None stays None."""
    if value is None:
        return None
    return utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")
