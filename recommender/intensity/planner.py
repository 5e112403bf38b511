"""The planner's hook (:data:`recommender.planner.core.IntensityFn`): replace each option's
static grid intensity with the mean over the hours it would run from now.

Per hour: the forecast where one covers it, else the latest observation, else (no source
answered) the static annual figure. Each row says which: ``intensity_kind`` is ``forecast``
(a forecast covered at least part of the run), ``live`` (latest value only), ``cached`` (the
source failed and its recent cached answer was used) or ``static``; ``intensity_source`` names
the source, zone and how much of the run the forecast covered.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from recommender.intensity.model import ZoneSeries, iso, utc, window_means
from recommender.intensity.resolve import Chain, Resolution, Warn, build_chain, region_targets
from recommender.intensity.resolve import resolve as resolve_chain
from recommender.intensity.settings import IntensitySettings, load_settings

OUTPUT_COLUMNS = [
    "gco2_per_kwh",
    "intensity_source",
    "intensity_year",
    "intensity_kind",
    "intensity_observed_at",
]


class LiveIntensity:
    """An :data:`IntensityFn` bound to a chain of sources; ``resolution`` holds what answered
    after it has run."""

    def __init__(
        self,
        chain: Chain,
        *,
        warn: Warn | None = None,
        now: datetime | None = None,
    ) -> None:
        self.chain = chain
        self.warn = warn
        self.now = utc(now) if now else None
        self.resolution: Resolution | None = None
        self._prefetch_thread: threading.Thread | None = None
        self._prefetched: Resolution | None = None
        self._prefetch_error: BaseException | None = None

    def prefetch(self, regions: pd.DataFrame) -> None:
        """Start fetching for these regions in the background, so the network wait overlaps
        the planner's own work; ``__call__`` joins it."""
        targets = region_targets(regions)
        now = self.now or datetime.now(UTC)
        self.now = now

        def work() -> None:
            try:
                self._prefetched = resolve_chain(targets, self.chain, now=now)
            except BaseException as exc:  # re-raised in the caller's thread
                self._prefetch_error = exc

        self._prefetch_thread = threading.Thread(target=work, name="intensity", daemon=True)
        self._prefetch_thread.start()

    def _join(self) -> Resolution | None:
        thread = self._prefetch_thread
        if thread is None:
            return None
        # Short waits, not one: a SIGINT that lands just before a blocking join() starts is
        # only noticed when the join ends (the handler runs between bytecodes), which with a
        # slow server is the whole HTTP deadline. Between short waits it runs at once.
        while thread.is_alive():
            thread.join(0.05)
        self._prefetch_thread = None
        error = self._prefetch_error
        if error is not None:
            self._prefetch_error = None
            raise error
        return self._prefetched

    def describe(self) -> str:
        names = ", ".join([*self.chain.names, "static"])
        return f"live grid intensity over each option's own run ({names}; first that answers)"

    def resolve(self, frame: pd.DataFrame) -> Resolution:
        """What answered for the regions of ``frame`` (the prefetch, else a fetch now); its
        warnings go out here. The time shifter (planner/timing.py) reads the series."""
        now = self.now or datetime.now(UTC)
        targets = region_targets(frame)
        ready = self._join()
        if ready is not None and all(t.key in ready.answers for t in targets):
            self.resolution = ready
            for line in ready.warnings:
                if self.warn is not None:
                    self.warn(line)
        else:
            self.resolution = resolve_chain(targets, self.chain, now=now, warn=self.warn)
        return self.resolution

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        now = self.now or datetime.now(UTC)
        return apply_series(frame, self.resolve(frame).answers, now)


def apply_series(
    frame: pd.DataFrame, answers: dict[str, ZoneSeries | None], now: datetime
) -> pd.DataFrame:
    """The intensity columns of ``frame`` with each answered region's run-hour means."""
    out = frame[[c for c in OUTPUT_COLUMNS if c in frame.columns]].copy()
    values = out["gco2_per_kwh"].to_numpy(dtype=float).copy()
    sources = out["intensity_source"].astype(object).to_numpy().copy()
    years = out["intensity_year"].astype(object).to_numpy().copy()
    kinds = np.full(len(out), "static", dtype=object)
    observed = np.full(len(out), None, dtype=object)
    keys = (frame["provider"].astype(str) + ":" + frame["region"].astype(str)).to_numpy()
    wall = frame["wall_hours"].to_numpy(dtype=float)
    positions = pd.Series(np.arange(len(frame))).groupby(keys).indices
    for key, idx in positions.items():
        series = answers.get(str(key))
        if series is None:
            continue
        hours = wall[idx]
        means, covered = window_means(series, now, hours)
        ok = np.isfinite(means)
        if not ok.any():
            continue
        idx, hours, means, covered = idx[ok], hours[ok], means[ok], covered[ok]
        latest = series.latest(now)
        forecast_at = series.observed_at or series.fetched_at
        live_at = latest.time if latest else series.fetched_at
        stamps = {True: iso(forecast_at), False: iso(live_at)}
        texts: dict[tuple[float, float], str] = {}  # many rows share a run length
        values[idx] = means
        for i, h, c in zip(idx.tolist(), hours.tolist(), covered.tolist(), strict=True):
            is_forecast = c > 0
            kinds[i] = "cached" if series.stale else ("forecast" if is_forecast else "live")
            observed[i] = stamps[is_forecast]
            years[i] = (forecast_at if is_forecast else live_at).year
            text = texts.get((h, c))
            if text is None:
                text = texts[(h, c)] = _describe(series, h, c)
            sources[i] = text
    out["gco2_per_kwh"] = values
    out["intensity_source"] = sources
    out["intensity_year"] = pd.array(years, dtype="Int64") if len(years) else years
    out["intensity_kind"] = kinds
    out["intensity_observed_at"] = observed
    return out


def _describe(series: ZoneSeries, hours: float, forecast_hours: float) -> str:
    zone = series.zone_name or series.zone
    zone_text = f"zone {series.zone}" + (f" ({zone})" if zone != series.zone else "")
    if forecast_hours >= hours - 1e-6:
        how = f"forecast mean over the run's {hours:,.1f} h"
    elif forecast_hours > 0:
        how = f"forecast for {forecast_hours:,.1f} of {hours:,.1f} h, then the latest value"
    else:
        how = "latest value"
    stale = "cached after a failure: " if series.stale else ""
    return f"{series.label}, {zone_text}: {stale}{how}"


def make_intensity_fn(
    spec: str,
    csv_file: Path | None = None,
    *,
    warn: Warn | None = None,
    now: datetime | None = None,
    settings: IntensitySettings | None = None,
    column: str | None = None,
) -> LiveIntensity | None:
    """The planner hook for ``--intensity SPEC`` (None for plain static figures). Bad source
    names, missing credentials of a named source and unreadable files fail here, before any
    planning or network."""
    settings = settings or load_settings(csv_file, column)
    chain = build_chain(spec, settings)
    for name, problem in chain.unusable:
        if warn is not None:
            warn(f"live: {problem}; {name} is skipped, static figures stand in")
    if chain.skipped and warn is not None:
        # `live` with a source unconfigured: say so once, or the user cannot tell a static
        # figure chosen for lack of a key from one chosen because the source failed.
        warn(
            f"live: {', '.join(chain.skipped)} not configured (no credentials); regions only "
            f"{'it covers use' if len(chain.skipped) == 1 else 'they cover use'} the static "
            "annual figures (README: 'Live grid intensity')"
        )
    if chain.is_static:
        return None
    if "csv" in chain.names:
        from recommender.intensity.csvfile import CsvSource

        CsvSource(settings).trace()  # read and validate the file now
    return LiveIntensity(chain, warn=warn, now=now)
