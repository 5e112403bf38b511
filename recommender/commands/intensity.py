"""``carbonplan intensity PROVIDER:REGION...``: the latest grid intensity of each region, its
last 24 hours and the forecast, from the live sources (or the static figure)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from recommender.cliopts import Format, FormatOpt, check_number, console, emit, warn

if TYPE_CHECKING:
    from recommender.intensity import Target, ZoneSeries

_BARS = "▁▂▃▄▅▆▇█"


def intensity(
    regions: Annotated[
        list[str],
        typer.Argument(help="Cloud regions as PROVIDER:REGION, e.g. aws:eu-west-2 gcp:us-east1."),
    ],
    source: Annotated[
        str,
        typer.Option(
            "--intensity",
            help="live (the configured grid APIs in order, then static), static, or "
            "SOURCE[,SOURCE...] of electricitymaps, watttime, ukgrid, csv.",
        ),
    ] = "live",
    intensity_file: Annotated[
        Path | None,
        typer.Option(
            "--intensity-file",
            help="Your own intensity trace for the csv source (columns: datetime, "
            "gco2_per_kwh, optional zone).",
        ),
    ] = None,
    hours: Annotated[int, typer.Option("--hours", help="Hours of forecast to show (1-72).")] = 24,
    fmt: FormatOpt = Format.table,
) -> None:
    """Latest grid intensity, the last 24 h and the forecast for cloud regions."""
    from recommender.catalog import load_catalog, parse_region
    from recommender.intensity import build_chain, load_settings, region_targets
    from recommender.intensity.resolve import resolve

    check_number("--hours", hours, high=72)
    catalog = load_catalog()
    wanted = list(dict.fromkeys(parse_region(r, catalog.regions) for r in regions))
    frame = catalog.regions.set_index(["provider", "region"]).loc[wanted].reset_index()
    targets = region_targets(frame)
    settings = load_settings(intensity_file)
    chain = build_chain(source, settings)
    now = datetime.now(UTC)
    resolution = resolve(targets, chain, now=now, history=True, warn=warn)
    records = [_record(t, resolution.answers.get(t.key), now, hours) for t in targets]
    if fmt is Format.table:
        _render(records, hours, chain.names)
        return
    flat = [{k: v for k, v in r.items() if not isinstance(v, list)} for r in records]
    emit(fmt, records, flat)


def _hourly_history(series: ZoneSeries, now: datetime) -> list[tuple[datetime, float]]:
    """Hourly means of the latest 24 clock hours observed. Sources differ on whether the
    current hour is in their history (Electricity Maps: yes; the GB API: up to the last
    half-hour before it), and the count must not depend on the minute the command runs."""
    buckets: dict[datetime, list[float]] = {}
    for p in series.history(now, 25):
        hour = p.time.replace(minute=0, second=0, microsecond=0)
        buckets.setdefault(hour, []).append(p.gco2_per_kwh)
    return [(h, sum(v) / len(v)) for h, v in sorted(buckets.items())][-24:]


def _record(target: Target, series: ZoneSeries | None, now: datetime, hours: int) -> dict[str, Any]:
    from recommender.intensity.model import iso

    base: dict[str, Any] = {
        "provider": target.provider,
        "region": target.region,
        "location": target.location,
        "zone": None,
        "intensity_source": target.static_source,
        "intensity_kind": "static",
        "intensity_observed_at": None,
        "latest_gco2_per_kwh": target.static_gco2_per_kwh,
        "history_mean_gco2_per_kwh": None,
        "forecast_mean_gco2_per_kwh": None,
        "forecast_hours": 0.0,
        "static_gco2_per_kwh": target.static_gco2_per_kwh,
        "static_intensity_year": target.static_year,
        "history": [],
        "forecast": [],
    }
    if series is None:
        return base
    latest = series.latest(now)
    upcoming = series.forecast(now, hours)
    when: datetime | None
    if latest is not None:
        value, when, kind = latest.gco2_per_kwh, latest.time, "live"
    elif upcoming:
        value, when, kind = upcoming[0].gco2_per_kwh, series.observed_at, "forecast"
    else:
        return base
    history = _hourly_history(series, now)
    forecast = [(t, v) for t, v, how in series.hourly(now, hours) if how == "forecast"]
    end = series.forecast_end(now)
    covered = max(0.0, min(float(hours), (end - now).total_seconds() / 3600.0)) if end else 0.0
    base.update(
        zone=series.zone,
        intensity_source=series.label,
        intensity_kind="cached" if series.stale else kind,
        intensity_observed_at=iso(when or series.fetched_at),
        latest_gco2_per_kwh=round(value, 2),
        history_mean_gco2_per_kwh=(
            round(sum(v for _, v in history) / len(history), 2) if history else None
        ),
        forecast_mean_gco2_per_kwh=(
            round(sum(v for _, v in forecast) / len(forecast), 2) if forecast else None
        ),
        forecast_hours=round(covered, 2),
        history=[{"time": iso(t), "gco2_per_kwh": round(v, 2)} for t, v in history],
        forecast=[{"time": iso(t), "gco2_per_kwh": round(v, 2)} for t, v in forecast],
    )
    return base


def sparkline(values: list[float], low: float, high: float) -> str:
    """One block character per value, scaled between ``low`` and ``high``."""
    if not values:
        return ""
    span = high - low
    top = len(_BARS) - 1
    return "".join(
        _BARS[0 if span <= 0 else min(top, max(0, round((v - low) / span * top)))] for v in values
    )


def _render(records: list[dict[str, Any]], hours: int, chain: list[str]) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Grid intensity (gCO2e/kWh)", header_style="bold", pad_edge=False)
    for name, justify in [
        ("region", "left"),
        ("zone", "left"),
        ("source", "left"),
        ("kind", "left"),
        ("now", "right"),
        ("observed (UTC)", "left"),
        ("last 24 h", "left"),
        (f"next {hours} h", "left"),
        ("annual", "right"),
    ]:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in records:
        past = [p["gco2_per_kwh"] for p in r["history"]]
        ahead = [p["gco2_per_kwh"] for p in r["forecast"]]
        both = past + ahead
        low, high = (min(both), max(both)) if both else (0.0, 0.0)
        past_cell = f"{sparkline(past, low, high)} {min(past):.0f}-{max(past):.0f}" if past else "-"
        ahead_cell = (
            f"{sparkline(ahead, low, high)} mean {r['forecast_mean_gco2_per_kwh']:.0f}"
            if ahead
            else "-"
        )
        observed = r["intensity_observed_at"] or "-"
        table.add_row(
            f"{r['provider']}:{r['region']} ({r['location']})",
            r["zone"] or "-",
            r["intensity_source"] if r["intensity_kind"] != "static" else "shipped annual",
            r["intensity_kind"],
            _num(r["latest_gco2_per_kwh"]),
            observed.replace("T", " ").replace("Z", ""),
            past_cell,
            ahead_cell,
            _num(r["static_gco2_per_kwh"]),
        )
    out = console()
    out.print(table)
    tried = ", ".join([*chain, "static"])
    out.print(
        Text(
            f"sources tried in order: {tried}. 'annual' is the shipped static figure; charts "
            "share one scale per row.",
            style="dim",
        )
    )


def _num(value: Any) -> str:
    return "-" if value is None else f"{float(value):,.0f}"
