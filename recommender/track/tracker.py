"""Measure a block of Python code or a function, and append its row to an emissions CSV.

    import recommender

    with recommender.track(output="emissions.csv", region="aws:eu-north-1") as t:
        for batch in data:
            train(batch)
            t.step()

    @recommender.track(output="emissions.csv")
    def train(): ...

The row has CodeCarbon's columns (``recommender.track.columns``); ``carbonplan track`` runs a
command under the same tracker.
"""

from __future__ import annotations

import functools
import platform
import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from recommender import __version__
from recommender.errors import INTERRUPTS, BadInputError, Interrupted
from recommender.track import columns
from recommender.track.meter import Measurement, Meter
from recommender.track.nvml import NvmlBackend
from recommender.track.rapl import Rapl
from recommender.track.region import Intensity, Place, from_metadata, intensity_for

F = TypeVar("F", bound=Callable[..., Any])


def _warn(message: str) -> None:
    import sys

    sys.stderr.write(f"warning: {message}\n")
    sys.stderr.flush()


def resolve_place(region: str | None, country: str | None, catalog: Any) -> Place | None:
    """``--region`` checked against the catalog now (a typo is an error before the run), or
    ``--country`` (two letters); None: ask the metadata services when the run starts."""
    if region is not None:
        from recommender.catalog import parse_region

        if not region.strip():
            raise BadInputError(
                "--region '' names nothing",
                "give PROVIDER:REGION, e.g. aws:eu-north-1, or leave --region out",
            )
        provider, name = parse_region(region, catalog.regions)
        return Place(provider, name, "--region")
    if country is not None:
        code = country.strip().upper()
        if len(code) != 2 or not code.isalpha():
            raise BadInputError(
                f"--country {country!r} is not a two-letter ISO 3166 code", "e.g. --country SE"
            )
    return None


class Tracker:
    """Measures from ``start`` (or ``with``) to ``stop`` and appends one row to ``output``.

    ``nvml`` and ``rapl`` inject the measuring backends (tests); by default NVML is used where
    ``nvidia-ml-py`` and a driver are present, and RAPL where its counters are readable."""

    def __init__(
        self,
        output: str | Path = "emissions.csv",
        *,
        region: str | None = None,
        country: str | None = None,
        project_name: str = "carbonplan",
        interval_s: float = 1.0,
        metadata: bool = True,
        nvml: NvmlBackend | None = None,
        rapl: Rapl | None = None,
        warn: Callable[[str], None] = _warn,
    ) -> None:
        from recommender.catalog import load_catalog

        if not interval_s > 0 or interval_s > 3600:
            raise BadInputError(f"interval must be in (0, 3600] s, got {interval_s}")
        self.output = Path(output)
        self.catalog = load_catalog()
        self.place = resolve_place(region, country, self.catalog)
        self.country = country.strip().upper() if country else None
        self.project_name = project_name
        self.metadata = metadata and self.place is None
        self.warn = warn
        columns.columns_for(self.output)  # refuse a foreign file before the run, not after
        self._interval = interval_s
        self._nvml, self._rapl = nvml, rapl
        self._steps = 0.0
        self._steps_seen = False
        self._lock = threading.Lock()
        self._meter: Meter | None = None
        self._probe: threading.Thread | None = None
        self._probed: Place | None = None
        self.row: dict[str, Any] | None = None
        self._options: dict[str, Any] = {
            "output": output,
            "region": region,
            "country": country,
            "project_name": project_name,
            "interval_s": interval_s,
            "metadata": metadata,
            "nvml": nvml,
            "rapl": rapl,
            "warn": warn,
        }

    def __call__(self, func: F) -> F:
        """``@recommender.track(output=...)``: a fresh tracker with these options per call."""
        return _decorate(func, self._options)

    # --- progress -------------------------------------------------------------------------

    def step(self, n: float = 1) -> None:
        """Count ``n`` more steps of work (a pilot's steps per second size the full job)."""
        with self._lock:
            self._steps += n
            self._steps_seen = True

    def set_steps(self, n: float) -> None:
        """Steps done so far (a progress line that states the count)."""
        with self._lock:
            self._steps = n
            self._steps_seen = True

    # --- measuring ------------------------------------------------------------------------

    def start(self, *, sampling: bool = True) -> None:
        nvml, note = self._nvml, ""
        if nvml is None:
            from recommender.track.nvml import open_backend

            nvml, note = open_backend()
        if self.metadata:  # asked while the run runs: up to the probes' timeout, off-cloud

            def probe() -> None:
                self._probed = from_metadata()

            self._probe = threading.Thread(target=probe, name="carbonplan-metadata", daemon=True)
            self._probe.start()
        self._meter = Meter(self._interval, nvml=nvml, nvml_note=note, rapl=self._rapl)
        self._meter.start(sampling=sampling)

    def start_sampling(self) -> None:
        assert self._meter is not None
        self._meter.start_sampling()

    def stop(self, *, exit_status: int | None = None, interrupted: bool = False) -> dict[str, Any]:
        """Stop measuring, append the row and return it."""
        assert self._meter is not None, "start() first"
        measurement = self._meter.stop()
        if self._meter.gpu is not None:
            self._meter.gpu.backend.close()
        place = self.place
        if place is None and self._probe is not None:
            self._probe.join(timeout=5)
            place = self._probed
        if place is None:
            place = Place(
                None, None, "country (--country)" if self.country else "none", self.country
            )
        intensity = intensity_for(place, self.catalog)
        if intensity.warning:
            self.warn(intensity.warning)
        self.row = build_row(
            measurement,
            place,
            intensity,
            project_name=self.project_name,
            steps=self._steps if self._steps_seen else None,
            exit_status=exit_status,
            interrupted=interrupted,
        )
        columns.append_row(self.output, self.row)
        return self.row

    def __enter__(self) -> Tracker:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        interrupted = kind is not None and issubclass(kind, INTERRUPTS)
        status = None if kind is None else 130 if interrupted else 1
        if isinstance(exc, Interrupted):
            status = int(exc.exit_code)
        self.stop(exit_status=0 if kind is None else status, interrupted=interrupted)


def track(target: Any = None, /, **options: Any) -> Any:
    """``with recommender.track(...) as t:``, ``@recommender.track(...)`` or bare
    ``@recommender.track``: each call of a decorated function is one run, one row. The first
    argument may be the output file; the options are :class:`Tracker`'s."""
    if callable(target):
        return _decorate(target, options)
    if target is not None:
        options["output"] = target
    return Tracker(**options)


def _decorate(func: F, options: dict[str, Any]) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with Tracker(**options):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def build_row(
    m: Measurement,
    place: Place,
    intensity: Intensity,
    *,
    project_name: str,
    steps: float | None,
    exit_status: int | None,
    interrupted: bool,
) -> dict[str, Any]:
    """The CSV row. Like CodeCarbon, every power and energy is multiplied by the PUE (the
    region's, when the region is known; 1 otherwise), so ``energy_consumed`` is the facility's
    energy and ``emissions`` = energy_consumed x intensity."""
    pue = intensity.pue
    cpu, gpu, ram = (e * pue for e in (m.cpu_energy_kwh, m.gpu_energy_kwh, m.ram_energy_kwh))
    energy = cpu + gpu + ram
    g = intensity.gco2_per_kwh
    kg = energy * g / 1000.0 if g is not None else None
    on_cloud = place.provider is not None
    return {
        "timestamp": datetime.now().strftime("%Y-%m-%dT%H:%M:%S"),
        "project_name": project_name,
        "run_id": str(uuid.uuid4()),
        "experiment_id": "",
        "duration": m.duration_s,
        "emissions": kg,
        "emissions_rate": kg / m.duration_s if kg is not None and m.duration_s > 0 else None,
        "cpu_power": m.power_w(cpu),
        "gpu_power": m.power_w(gpu),
        "ram_power": m.power_w(ram),
        "cpu_energy": cpu,
        "gpu_energy": gpu,
        "ram_energy": ram,
        "energy_consumed": energy,
        "water_consumed": 0.0,
        "country_name": intensity.country_name,
        "country_iso_code": intensity.country_iso_code,
        "region": intensity.region,
        "cloud_provider": place.provider or "",
        "cloud_region": place.region or "",
        "os": platform.platform(),
        "python_version": platform.python_version(),
        "codecarbon_version": "",  # not written by CodeCarbon: see carbonplan_version
        "cpu_count": m.cpu_count,
        "cpu_model": m.cpu_model,
        "gpu_count": m.gpu_count,
        "gpu_model": m.gpu_model,
        "longitude": intensity.longitude,
        "latitude": intensity.latitude,
        "ram_total_size": m.ram_total_gb,
        "tracking_mode": "machine",
        "cpu_utilization_percent": m.cpu_utilization_percent,
        "gpu_utilization_percent": m.gpu_utilization_percent,
        "ram_utilization_percent": m.ram_utilization_percent,
        "ram_used_gb": m.ram_used_gb,
        "on_cloud": "Y" if on_cloud else "N",
        "pue": pue,
        "wue": 0.0,
        "carbonplan_version": __version__,
        "gco2_per_kwh": g,
        "intensity_source": intensity.source,
        "intensity_basis": intensity.basis,
        "intensity_year": intensity.year,
        "region_source": place.source,
        "cpu_power_source": m.cpu_power_source,
        "ram_power_source": m.ram_power_source,
        "gpu_energy_source": m.gpu_energy_source,
        "steps": steps,
        "exit_status": exit_status,
        "interrupted": interrupted,
    }
