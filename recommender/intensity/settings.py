"""Settings of the grid-intensity sources: built-in defaults < config file < environment.

The config file (:mod:`recommender.config`: ``$CARBONPLAN_CONFIG`` or
``<user config dir>/carbonplan/config.toml``) has an ``[intensity]`` table whose keys are the
lower-case names below, e.g.::

    [intensity]
    electricitymaps_api_key = "..."
    watttime_username = "..."
    watttime_password = "..."
    sources = ["electricitymaps", "watttime", "ukgrid"]   # what --intensity live means

Credentials are held in fields that never appear in ``repr`` and are never written anywhere.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recommender.config import CONFIG_ENV, SHOW_HINT, ConfigFile, read_config, unknown_key
from recommender.errors import BadInputError

__all__ = ["CONFIG_ENV", "ENV_VARS", "IntensitySettings", "load_settings", "setting_origins"]
DEFAULT_LIVE_SOURCES = ("electricitymaps", "watttime", "ukgrid")

# setting -> (environment variable, default)
_ENV: dict[str, tuple[str, Any]] = {
    "electricitymaps_url": (
        "CARBONPLAN_ELECTRICITYMAPS_URL",
        "https://api.electricitymaps.com/v3",
    ),
    "watttime_url": ("CARBONPLAN_WATTTIME_URL", "https://api.watttime.org"),
    "ukgrid_url": ("CARBONPLAN_UKGRID_URL", "https://api.carbonintensity.org.uk"),
    "electricitymaps_api_key": ("ELECTRICITYMAPS_API_KEY", None),
    "watttime_username": ("WATTTIME_USERNAME", None),
    "watttime_password": ("WATTTIME_PASSWORD", None),
    "watttime_signal": ("CARBONPLAN_WATTTIME_SIGNAL", "co2_aoer"),
    "sources": ("CARBONPLAN_INTENSITY_SOURCES", ",".join(DEFAULT_LIVE_SOURCES)),
    "ttl_s": ("CARBONPLAN_INTENSITY_TTL", 900.0),
    "stale_max_s": ("CARBONPLAN_INTENSITY_STALE_MAX", 24 * 3600.0),
    "workers": ("CARBONPLAN_INTENSITY_WORKERS", 64),
    "timeout_s": ("CARBONPLAN_HTTP_TIMEOUT", 10.0),
    "deadline_s": ("CARBONPLAN_HTTP_DEADLINE", 30.0),
    "retries": ("CARBONPLAN_HTTP_RETRIES", 2),
    "backoff_s": ("CARBONPLAN_HTTP_BACKOFF", 0.5),
    "retry_after_max_s": ("CARBONPLAN_HTTP_RETRY_AFTER_MAX", 5.0),
    "max_body_bytes": ("CARBONPLAN_HTTP_MAX_BYTES", 8 * 1024 * 1024),
}
# Settings that must be above 0 (the other numbers may be 0: no cache, no retries, no wait).
_POSITIVE = {"timeout_s", "deadline_s", "max_body_bytes"}
_SECRETS = {"electricitymaps_api_key", "watttime_username", "watttime_password"}
ENV_VARS = {name: env for name, (env, _default) in _ENV.items()}  # for `carbonplan config show`


@dataclass(frozen=True)
class IntensitySettings:
    electricitymaps_url: str = _ENV["electricitymaps_url"][1]
    watttime_url: str = _ENV["watttime_url"][1]
    ukgrid_url: str = _ENV["ukgrid_url"][1]
    electricitymaps_api_key: str | None = field(default=None, repr=False)
    watttime_username: str | None = field(default=None, repr=False)
    watttime_password: str | None = field(default=None, repr=False)
    watttime_signal: str = "co2_aoer"
    sources: tuple[str, ...] = DEFAULT_LIVE_SOURCES
    ttl_s: float = 900.0  # cached figures younger than this are used without any request
    stale_max_s: float = 24 * 3600.0  # on a failure, cached figures up to this old are used
    workers: int = 64  # concurrent requests at most (about one per zone of a full suggest)
    timeout_s: float = 10.0  # one socket operation (connect; each read) at most
    # One request at most, all of it: DNS, connect, TLS, retries and their waits, the whole
    # body. A grid API answers in well under a second; 30 s leaves room for the retries.
    deadline_s: float = 30.0
    retries: int = 2
    backoff_s: float = 0.5
    retry_after_max_s: float = 5.0
    # One answer's body at most (a grid API's is a few kB to a few hundred kB); larger ones
    # are refused while read, so a huge or endless body never sits in memory.
    max_body_bytes: int = 8 * 1024 * 1024
    csv_file: Path | None = None
    csv_column: str | None = None  # --intensity-column: which column of csv_file to read

    def secrets(self) -> list[str]:
        """Every credential value, so output can be checked against them."""
        return [v for k in sorted(_SECRETS) if (v := getattr(self, k))]


def _read_config(path: Path | None = None) -> tuple[dict[str, Any], ConfigFile]:
    """The ``[intensity]`` table of the one config file (:mod:`recommender.config`)."""
    config = read_config(path)
    section = config.table("intensity")
    unknown = sorted(set(section) - set(_ENV))
    if unknown:
        raise unknown_key(config, "intensity", unknown[0], sorted(_ENV))
    return section, config


def _convert(name: str, value: Any, origin: str) -> Any:
    """The checked value of one setting, or one error naming it and where it came from."""
    default = _ENV[name][1]
    shown = "(hidden)" if name in _SECRETS else repr(value)

    def bad(why: str) -> BadInputError:
        return BadInputError(f"{origin}: {name} = {shown} is not valid{why}", SHOW_HINT)

    try:
        if name == "sources":
            parts = value.split(",") if isinstance(value, str) else list(value)
            return tuple(p.strip().lower() for p in parts if str(p).strip())
        if isinstance(default, int | float) and isinstance(value, bool):
            raise ValueError  # TOML true/false is no number
        if isinstance(default, float):
            out: Any = float(value)
        elif isinstance(default, int):
            if isinstance(value, str):  # "8388608", also "8e6"
                text = value.strip()
                value = int(text) if text.lstrip("+-").isdigit() else float(text)
            if isinstance(value, float) and not value.is_integer():
                raise bad(": expected " + _expected(name))
            out = int(value)
        else:
            out = str(value) if value is not None else None
    except (TypeError, ValueError, OverflowError):
        raise bad(": expected " + _expected(name)) from None
    if isinstance(out, float) and not math.isfinite(out):
        raise bad(": expected a finite number")
    if name in _POSITIVE and not out > 0:
        raise bad(": must be > 0")
    if isinstance(out, float | int) and not out >= 0:
        raise bad(": must be >= 0")
    return out


def _expected(name: str) -> str:
    default = _ENV[name][1]
    if isinstance(default, float):
        return "a number" + (" of seconds" if name.endswith("_s") else "")
    if isinstance(default, int):
        return "a whole number" + (" of bytes" if name.endswith("_bytes") else "")
    return "a string"


def _values() -> tuple[dict[str, Any], dict[str, str]]:
    """The settings given in the config file or the environment, and where each came from."""
    section, config = _read_config()
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for name, value in section.items():
        values[name] = _convert(name, value, f"{config.location('intensity', name)}, [intensity]")
        origins[name] = f"config file {config.path}"
    for name, (env, _default) in _ENV.items():
        raw = os.environ.get(env)
        if raw is not None and raw != "":
            values[name] = _convert(name, raw, env)
            origins[name] = f"environment {env}"
    return values, origins


def setting_origins() -> dict[str, tuple[Any, str]]:
    """Every setting's effective value (credentials masked as ``(set)``) and its origin:
    ``default``, ``config file PATH`` or ``environment VAR``; for ``carbonplan config show``."""
    settings = load_settings()
    _, origins = _values()
    out: dict[str, tuple[Any, str]] = {}
    for name in _ENV:
        value = getattr(settings, name)
        if name in _SECRETS:
            value = "(set)" if value else None
        out[name] = (value, origins.get(name, "default"))
    return out


def load_settings(csv_file: Path | None = None, csv_column: str | None = None) -> IntensitySettings:
    """Defaults, then the config file, then the environment."""
    values, _origins = _values()
    for name in ("electricitymaps_url", "watttime_url", "ukgrid_url"):
        if name in values:
            values[name] = values[name].rstrip("/")
    if "workers" in values:
        values["workers"] = max(1, values["workers"])
    return IntensitySettings(**values, csv_file=csv_file, csv_column=csv_column)
