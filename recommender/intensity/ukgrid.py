"""The GB Carbon Intensity API (NESO; no key; CC BY 4.0): half-hour periods, a 48 h forecast,
national (``/intensity/...``, with actuals for past periods) and regional (forecast only,
``/regional/intensity/.../regionid/N``). Only GB cloud regions are covered.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from recommender.intensity.model import Point, SourceFault, Target, ZoneSeries, parse_time, utc
from recommender.intensity.registry import FetchContext
from recommender.intensity.responses import json_body, status_reason
from recommender.intensity.settings import IntensitySettings

# Cloud-region cities -> the API's DNO region ids (13 London, 7 South Wales).
REGION_IDS = {"london": 13, "cardiff": 7, "slough": 14}
NATIONAL = "GB"
PERIOD_S = 1800


def _stamp(when: datetime) -> str:
    when = utc(when)
    when = when.replace(minute=when.minute - when.minute % 30, second=0, microsecond=0)
    return when.strftime("%Y-%m-%dT%H:%MZ")


class UkGrid:
    name = "ukgrid"
    label = "GB Carbon Intensity API (NESO, CC BY 4.0)"
    needs_network = True
    signal = "forecast"

    def __init__(self, settings: IntensitySettings) -> None:
        self.settings = settings
        self.base = settings.ukgrid_url

    def credentials_problem(self) -> str | None:
        return None

    def zone_for(self, target: Target) -> str | None:
        if (target.country_code or "").upper() != "GB":
            return None
        region_id = REGION_IDS.get(target.location.strip().lower())
        return f"GB-{region_id}" if region_id else NATIONAL

    def _get(self, ctx: FetchContext, path: str) -> Any:
        response = ctx.http.get(f"{self.base}/{path}")
        if response.status_code != 200:
            raise SourceFault(status_reason(response))
        body = json_body(response)
        if not isinstance(body, dict):
            raise SourceFault("malformed JSON")
        if "error" in body:
            raise SourceFault("API error")
        if not body or body.get("data") in (None, [], {}):
            raise SourceFault("no data")  # outages answer 200 with {}; past the horizon, []
        return body["data"]

    def fetch(self, zone: str, ctx: FetchContext, *, history: bool = False) -> ZoneSeries:
        now = _stamp(ctx.now)
        if zone == NATIONAL:
            paths = [f"intensity/{now}/fw48h"]
            if history:
                paths.append(f"intensity/{now}/pt24h")
            points = [p for path in paths for p in _national(self._get(ctx, path))]
        else:
            region_id = zone.split("-", 1)[1]
            paths = [f"regional/intensity/{now}/fw48h/regionid/{region_id}"]
            if history:
                paths.append(f"regional/intensity/{now}/pt24h/regionid/{region_id}")
            points = []
            for i, path in enumerate(paths):
                points += _regional(self._get(ctx, path), past=i == 1)
        if not points:
            raise SourceFault("no data")
        actual = [p.time for p in points if p.kind == "actual"]
        return ZoneSeries(
            source=self.name,
            label=self.label,
            zone=zone,
            period_s=PERIOD_S,
            points=tuple(_dedupe(points)),
            fetched_at=ctx.now,
            observed_at=max(actual) if actual else ctx.now,
            signal=self.signal,
            zone_name="national" if zone == NATIONAL else "regional",
            has_history=history,
        )


def _value(intensity: Any, key: str) -> float | None:
    if not isinstance(intensity, dict):
        raise SourceFault("malformed JSON")
    value = intensity.get(key)
    if value is None:
        return None
    try:
        g = float(value)
    except (TypeError, ValueError):
        raise SourceFault("malformed JSON") from None
    if not math.isfinite(g) or g < 0 or g > 3000:
        raise SourceFault("implausible value")
    return g


def _period_start(item: Any) -> datetime:
    if not isinstance(item, dict) or "from" not in item:
        raise SourceFault("malformed JSON")
    try:
        return parse_time(str(item["from"]))
    except ValueError:
        raise SourceFault("malformed JSON") from None


def _national(data: Any) -> list[Point]:
    """National periods: the actual where measured, else the forecast."""
    if not isinstance(data, list):
        raise SourceFault("malformed JSON")
    out = []
    for item in data:
        start = _period_start(item)
        actual = _value(item.get("intensity"), "actual")
        forecast = _value(item.get("intensity"), "forecast")
        if actual is not None:
            out.append(Point(start, actual, "actual"))
        elif forecast is not None:
            out.append(Point(start, forecast, "forecast"))
    return out


def _regional(data: Any, *, past: bool) -> list[Point]:
    """Regional periods carry forecasts only; past periods' are the best estimate there is."""
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise SourceFault("malformed JSON")
    out = []
    for item in data["data"]:
        start = _period_start(item)
        forecast = _value(item.get("intensity"), "forecast")
        if forecast is not None:
            out.append(Point(start, forecast, "actual" if past else "forecast"))
    return out


def _dedupe(points: list[Point]) -> list[Point]:
    seen: dict[tuple[datetime, str], Point] = {}
    for p in points:
        seen[(p.time, p.kind)] = p
    return list(seen.values())
