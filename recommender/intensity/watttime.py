"""WattTime API v3: ``/login`` (HTTP Basic -> bearer token valid 30 minutes, kept in memory
and renewed), ``/v3/forecast``, ``/v3/historical``, ``/v3/region-from-loc``.

Values are lbs CO2/MWh and are converted to gCO2/kWh here (:mod:`recommender.units`). The
signal is ``co2_aoer`` (average, the location-based figure the rest of carbonplan uses) unless
``CARBONPLAN_WATTTIME_SIGNAL=co2_moer`` asks for the marginal one.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

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
from recommender.units import lbs_per_mwh_to_g_per_kwh

if TYPE_CHECKING:
    import requests

FORECAST_HOURS = 72
TOKEN_LIFETIME = timedelta(minutes=30)
TOKEN_RENEW_AFTER = timedelta(minutes=25)  # renew early rather than race the expiry
MAX_LBS_PER_MWH = 6000.0
SIGNALS = {"co2_moer": "marginal", "co2_aoer": "average"}


class WattTime:
    name = "watttime"
    label = "WattTime API v3"
    needs_network = True

    def __init__(self, settings: IntensitySettings) -> None:
        self.settings = settings
        self.base = settings.watttime_url
        self.signal = settings.watttime_signal

    def credentials_problem(self) -> str | None:
        if not (self.settings.watttime_username and self.settings.watttime_password):
            return "watttime needs an account: set WATTTIME_USERNAME and WATTTIME_PASSWORD"
        for setting, value in (
            ("WATTTIME_USERNAME", self.settings.watttime_username),
            ("WATTTIME_PASSWORD", self.settings.watttime_password),
        ):
            problem = unusable_credential(setting + " (or the config file's)", value)
            if problem is not None:
                return problem
        if self.signal not in SIGNALS:
            return (
                f"CARBONPLAN_WATTTIME_SIGNAL={self.signal!r} is not an intensity signal "
                f"(use {' or '.join(SIGNALS)})"
            )
        return None

    def zone_for(self, target: Target) -> str | None:
        if target.watttime_region:
            return target.watttime_region
        if target.lat is not None and target.lon is not None:
            return f"@{target.lat:.4f},{target.lon:.4f}"
        return None

    # -- token ----------------------------------------------------------------------------

    def _login(self, ctx: FetchContext) -> str:
        response = ctx.http.get(
            f"{self.base}/login",
            auth=(self.settings.watttime_username or "", self.settings.watttime_password or ""),
        )
        if response.status_code in (401, 403):
            raise SourceFault(f"login failed ({status_reason(response)})", auth=True)
        if response.status_code != 200:
            raise SourceFault(f"login failed ({status_reason(response)})")
        body = json_body(response)
        token = body.get("token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise SourceFault("login failed (no token in the answer)")
        return token

    def token(self, ctx: FetchContext, *, renew_if: str | None = None) -> str:
        """The current bearer token, logging in when there is none, it is 25 minutes old, or
        ``renew_if`` (the token a request was refused with) is still the current one."""
        with ctx.token_lock:
            failed = ctx.memo.get((self.name, "login failed"))
            if failed is not None:
                raise failed  # /login is rate-limited: one try per run
            held = ctx.tokens.get(self.name)
            now = ctx.clock()
            if held is not None:
                token, obtained = held
                fresh = now - obtained < TOKEN_RENEW_AFTER
                if fresh and token != renew_if:
                    return token
            try:
                token = self._login(ctx)
            except SourceFault as fault:
                # Every region's thread waits on this lock: one failed login (rejected, or the
                # host down) answers them all instead of each trying again in turn.
                ctx.memo[(self.name, "login failed")] = fault
                raise
            ctx.tokens[self.name] = (token, now)
            return token

    def _get(self, ctx: FetchContext, path: str, params: dict[str, str]) -> Any:
        token = self.token(ctx)
        response = self._send(ctx, path, params, token)
        if _token_refused(response):
            # Expired or revoked token (sometimes an HTML 403 page): log in again, once.
            token = self.token(ctx, renew_if=token)
            response = self._send(ctx, path, params, token)
        if response.status_code == 200:
            return json_body(response)
        reason = status_reason(response)
        text = error_text(response).lower()
        if "scope" in text:
            raise SourceFault(f"{reason}: no access to this region", access=True)
        if "coverage" in text:
            raise SourceFault(f"{reason}: no coverage here", access=True)
        if response.status_code in (401, 403):
            raise SourceFault(f"{reason}: token refused", auth=True)
        raise SourceFault(reason)

    def _send(
        self, ctx: FetchContext, path: str, params: dict[str, str], token: str
    ) -> requests.Response:
        return ctx.http.get(
            f"{self.base}/{path}", params=params, headers={"Authorization": f"Bearer {token}"}
        )

    # -- data -----------------------------------------------------------------------------

    def region(self, zone: str, ctx: FetchContext) -> str:
        if not zone.startswith("@"):
            return zone
        key = (self.name, "region", zone, self.signal)
        if key not in ctx.memo:
            lat, lon = zone[1:].split(",")
            body = self._get(
                ctx,
                "v3/region-from-loc",
                {"latitude": lat, "longitude": lon, "signal_type": self.signal},
            )
            region = body.get("region") if isinstance(body, dict) else None
            if not isinstance(region, str) or not region:
                raise SourceFault("malformed JSON")
            ctx.memo[key] = region
        return str(ctx.memo[key])

    def fetch(self, zone: str, ctx: FetchContext, *, history: bool = False) -> ZoneSeries:
        region = self.region(zone, ctx)
        body = self._get(
            ctx,
            "v3/forecast",
            {"region": region, "signal_type": self.signal, "horizon_hours": str(FORECAST_HOURS)},
        )
        points, meta = _points(body, "forecast")
        period = _period(meta)
        observed = _time(meta.get("generated_at")) or ctx.now
        if history:
            start = ctx.now - timedelta(hours=24)
            past = self._get(
                ctx,
                "v3/historical",
                {
                    "region": region,
                    "signal_type": self.signal,
                    "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "end": ctx.now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
            )
            history_points, _ = _points(past, "actual")
            points += history_points
        return ZoneSeries(
            source=self.name,
            label=f"{self.label} ({self.signal}, {SIGNALS.get(self.signal, '')})",
            zone=zone,
            period_s=period,
            points=tuple(points),
            fetched_at=ctx.now,
            observed_at=observed,
            signal=self.signal,
            has_history=history,
            zone_name=region,
        )


def _token_refused(response: requests.Response) -> bool:
    if response.status_code == 401:
        return True
    if response.status_code != 403:
        return False
    text = error_text(response).lower()
    return "scope" not in text and "coverage" not in text


def _points(body: Any, kind: str) -> tuple[list[Point], dict[str, Any]]:
    if not isinstance(body, dict):
        raise SourceFault("malformed JSON")
    data, meta = body.get("data"), body.get("meta") or {}
    if data is None and not body:
        raise SourceFault("no data")
    if not isinstance(data, list) or not isinstance(meta, dict):
        raise SourceFault("malformed JSON")
    units = meta.get("units", "lbs_co2_per_mwh")
    if units != "lbs_co2_per_mwh":
        raise SourceFault(f"unexpected units {str(units)[:30]!r}")
    out: list[Point] = []
    for item in data:
        if not isinstance(item, dict):
            raise SourceFault("malformed JSON")
        value = item.get("value")
        if value is None:
            continue
        try:
            lbs = float(value)
            when = parse_time(str(item["point_time"]))
        except (KeyError, TypeError, ValueError):
            raise SourceFault("malformed JSON") from None
        if not math.isfinite(lbs) or lbs < 0 or lbs > MAX_LBS_PER_MWH:
            raise SourceFault("implausible value")
        out.append(Point(when, lbs_per_mwh_to_g_per_kwh(lbs), kind))  # type: ignore[arg-type]
    if not out:
        raise SourceFault("no data")
    return out, meta


def _period(meta: dict[str, Any]) -> int:
    try:
        period = int(meta.get("data_point_period_seconds", 300))
    except (TypeError, ValueError):
        raise SourceFault("malformed JSON") from None
    return period if period > 0 else 300


def _time(text: Any) -> datetime | None:
    try:
        return parse_time(str(text)) if text else None
    except ValueError:
        return None
