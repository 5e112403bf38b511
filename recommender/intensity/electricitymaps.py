"""Electricity Maps API v3: ``/carbon-intensity/forecast``, ``/latest``, ``/history`` and
``/past-range`` for a zone (``zone=DE``) or a point (``lat=&lon=``), header ``auth-token``.

Values are gCO2e/kWh, life-cycle by default. Free keys cover one zone and no forecast: a
forecast refused as "not available" falls back to ``/latest`` within this source.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from recommender.intensity.model import (
    Point,
    SourceFault,
    Target,
    ZoneSeries,
    parse_time,
    unusable_credential,
)
from recommender.intensity.registry import FetchContext
from recommender.intensity.responses import error_text, json_body, status_reason
from recommender.intensity.settings import IntensitySettings

FORECAST_HOURS = 72  # the API's maximum horizon
MAX_G_PER_KWH = 3000.0  # above any real grid; larger values are taken as corrupt
PAST_RANGE_MAX = timedelta(days=10)  # the API caps one past-range request near 10 days hourly


class ElectricityMaps:
    name = "electricitymaps"
    label = "Electricity Maps API v3"
    needs_network = True
    signal = "lifecycle"

    def __init__(self, settings: IntensitySettings) -> None:
        self.settings = settings
        self.base = settings.electricitymaps_url

    def credentials_problem(self) -> str | None:
        if not self.settings.electricitymaps_api_key:
            return "electricitymaps needs an API key: set ELECTRICITYMAPS_API_KEY"
        return unusable_credential(
            "ELECTRICITYMAPS_API_KEY (or electricitymaps_api_key in the config file)",
            self.settings.electricitymaps_api_key,
        )

    def zone_for(self, target: Target) -> str | None:
        if target.em_zone:
            return target.em_zone
        if target.lat is not None and target.lon is not None:
            return f"@{target.lat:.4f},{target.lon:.4f}"
        return None

    # -- requests -------------------------------------------------------------------------

    def _params(self, zone: str) -> dict[str, str]:
        if zone.startswith("@"):
            lat, lon = zone[1:].split(",")
            return {"lat": lat, "lon": lon}
        return {"zone": zone}

    def _get(self, ctx: FetchContext, path: str, zone: str, **extra: str) -> Any:
        response = ctx.http.get(
            f"{self.base}/{path}",
            params={**self._params(zone), **extra},
            headers={"auth-token": self.settings.electricitymaps_api_key or ""},
        )
        if response.status_code == 200:
            return json_body(response)
        text = error_text(response).lower()
        reason = status_reason(response)
        if response.status_code == 401 and "zone" not in text:
            raise SourceFault(f"{reason}: API key rejected", auth=True)
        if "unauthorized for zone" in text or "zonekey" in text:
            raise SourceFault(f"{reason}: no access to this zone", access=True)
        if "not available" in text or response.status_code in (403, 404):
            raise SourceFault(f"{reason}: endpoint not available to this key", access=True)
        raise SourceFault(reason)

    def fetch(self, zone: str, ctx: FetchContext, *, history: bool = False) -> ZoneSeries:
        points: list[Point] = []
        observed: datetime | None = None
        forecast_fault: SourceFault | None = None
        try:
            body = self._get(
                ctx, "carbon-intensity/forecast", zone, horizonHours=str(FORECAST_HOURS)
            )
            forecast = _points(_list(body, "forecast"), "forecast")
            points += forecast
            observed = _time_or_none(body.get("updatedAt")) or ctx.now
        except SourceFault as fault:
            if not fault.access or "zone" in fault.reason:
                raise
            forecast_fault = fault  # e.g. a free key: no forecast; the latest value will do
        if history:
            body = self._get(ctx, "carbon-intensity/history", zone)
            points += _points(_list(body, "history"), "actual")
        if forecast_fault is not None or history:
            body = self._get(ctx, "carbon-intensity/latest", zone)
            latest = _points([body], "actual")
            points += latest
            if forecast_fault is not None:
                observed = latest[-1].time
        if not points:
            raise SourceFault("no data")
        return ZoneSeries(
            source=self.name,
            label=f"{self.label} (lifecycle)",
            zone=zone,
            period_s=3600,
            points=tuple(_dedupe(points)),
            fetched_at=ctx.now,
            observed_at=observed,
            signal=self.signal,
            has_history=history,
        )

    def past_range(
        self, zone: str, ctx: FetchContext, start: datetime, end: datetime
    ) -> list[Point]:
        """Hourly observations from ``start`` to ``end``, in chunks the API accepts."""
        points: list[Point] = []
        cursor = start
        while cursor < end:
            stop = min(cursor + PAST_RANGE_MAX, end)
            body = self._get(
                ctx,
                "carbon-intensity/past-range",
                zone,
                start=cursor.strftime("%Y-%m-%dT%H:%M:%SZ"),
                end=stop.strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
            points += _points(_list(body, "data"), "actual")
            cursor = stop
        return _dedupe(points)


def _list(body: Any, key: str) -> list[Any]:
    if not isinstance(body, dict):
        raise SourceFault("malformed JSON")
    value = body.get(key)
    if value is None:
        raise SourceFault("no data" if not body else "malformed JSON")
    if not isinstance(value, list):
        raise SourceFault("malformed JSON")
    if not value:
        raise SourceFault("no data")
    return value


def _points(items: list[Any], kind: str) -> list[Point]:
    out: list[Point] = []
    for item in items:
        if not isinstance(item, dict) or "datetime" not in item:
            raise SourceFault("malformed JSON")
        value = item.get("carbonIntensity")
        if value is None:
            continue  # the API leaves gaps as null
        try:
            g = float(value)
            when = parse_time(str(item["datetime"]))
        except (TypeError, ValueError):
            raise SourceFault("malformed JSON") from None
        if not math.isfinite(g) or g < 0 or g > MAX_G_PER_KWH:
            raise SourceFault("implausible value")
        out.append(Point(when, g, "forecast" if kind == "forecast" else "actual"))
    if not out:
        raise SourceFault("no data")
    return out


def _time_or_none(text: Any) -> datetime | None:
    try:
        return parse_time(str(text)) if text else None
    except ValueError:
        return None


def _dedupe(points: list[Point]) -> list[Point]:
    seen: dict[tuple[datetime, str], Point] = {}
    for p in points:
        seen[(p.time, p.kind)] = p
    return sorted(seen.values(), key=lambda p: (p.time, p.kind))
