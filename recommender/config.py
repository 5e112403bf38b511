"""Settings: built-in defaults < config file < environment (``CARBONPLAN_*``) < flags.

One TOML file, at ``$CARBONPLAN_CONFIG`` or ``<user config dir>/carbonplan/config.toml``::

    [plan]                       # defaults of the commands that plan a job: suggest, report, launch
    providers = ["aws", "gcp"]
    exclude_regions = ["aws:ap-south-1"]
    objective = "balanced"
    carbon_price = 185

    [intensity]                  # grid-data APIs (recommender.intensity.settings reads it)
    electricitymaps_api_key = "..."

This module finds and reads the file, refuses unknown tables and keys (naming the file, the
line and the key), and turns the ``[plan]`` values and their ``CARBONPLAN_*`` variables into
checked values that remember where they came from. Flags are applied by the command line
(:func:`recommender.cliopts.build_request`). Only the standard library is imported here
(``tomllib`` and ``platformdirs`` only when needed): ``suggest`` starts fast.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recommender import assumptions as A
from recommender.errors import BadInputError

CACHE_DIR_ENV = "CARBONPLAN_CACHE_DIR"
CONFIG_ENV = "CARBONPLAN_CONFIG"
SHOW_HINT = "'carbonplan config show' lists every setting; 'carbonplan config path' the file"


def cache_dir() -> Path:
    """The per-user cache directory (``$CARBONPLAN_CACHE_DIR`` overrides the platform's)."""
    override = os.environ.get(CACHE_DIR_ENV)
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_cache_dir("carbonplan", appauthor=False))


def config_path() -> Path:
    """The config file (``$CARBONPLAN_CONFIG`` overrides the platform's location)."""
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_config_dir("carbonplan", appauthor=False)) / "config.toml"


@dataclass(frozen=True)
class Key:
    """One ``[plan]`` setting: its kind, the flag it defaults, and its allowed values."""

    kind: str  # "list" (strings; a comma-separated string is accepted), "choice", "str",
    # "float" or "int"
    flag: str
    help: str
    default: Any
    choices: tuple[str, ...] = ()
    low: float = 0.0
    high: float = 1e12
    inclusive_low: bool = False

    def env(self, name: str) -> str:
        return "CARBONPLAN_" + name.upper()


# [plan]: defaults for the flags of suggest, report and launch. The built-in defaults are the
# flags' own; choices repeat the flags' (tests check that they agree).
PLAN_KEYS: dict[str, Key] = {
    "providers": Key("list", "--provider", "only these clouds: aws, gcp, azure", None),
    "exclude_regions": Key("list", "--exclude-region", "never these PROVIDER:REGIONs", []),
    "objective": Key(
        "choice",
        "--objective",
        "rank by carbon, cost, time or balanced",
        "carbon",
        choices=("carbon", "cost", "time", "balanced"),
    ),
    "markets": Key(
        "list",
        "--spot / --on-demand",
        "spot, on-demand or both",
        ["on-demand", "spot"],
        choices=("on-demand", "spot"),
    ),
    "carbon_price": Key(
        "float",
        "--carbon-price",
        "USD per t CO2e for the balanced objective",
        A.CARBON_PRICE_USD_PER_T.value,
        high=1e5,
        inclusive_low=True,
    ),
    "utilisation": Key(
        "float",
        "--utilisation",
        "average GPU power, fraction of TDP",
        A.GPU_UTILISATION.value,
        high=1,
    ),
    "scaling_efficiency": Key(
        "float",
        "--scaling-efficiency",
        "throughput per GPU kept across instances",
        A.SCALING_EFFICIENCY.value,
        high=1,
    ),
    "embodied": Key(
        "float",
        "--embodied",
        "embodied gCO2e per GPU-hour",
        A.EMBODIED_G_PER_GPU_HOUR.value,
        high=1e4,
        inclusive_low=True,
    ),
    "ref_gpu": Key("str", "--ref-gpu", "GPU the --gpu-hours were measured on", "A100"),
    "max_instances": Key(
        "int",
        "--max-instances",
        "most instances in parallel",
        8,
        low=1,
        high=1024,
        inclusive_low=True,
    ),
    "intensity_basis": Key(
        "choice",
        "--intensity-basis",
        "annual intensity figures: grid, provider or marginal (static intensity only)",
        "grid",
        choices=("grid", "provider", "marginal"),
    ),
}
# [intensity]: read by recommender.intensity.settings (values, variables and defaults are
# there; the names are repeated here so that a mistyped key is refused by every command
# without importing the intensity package; a test checks that the two lists agree).
INTENSITY_KEYS = (
    "electricitymaps_url",
    "watttime_url",
    "ukgrid_url",
    "electricitymaps_api_key",
    "watttime_username",
    "watttime_password",
    "watttime_signal",
    "sources",
    "ttl_s",
    "stale_max_s",
    "workers",
    "timeout_s",
    "deadline_s",
    "retries",
    "backoff_s",
    "retry_after_max_s",
    "max_body_bytes",
)
TABLES = ("plan", "intensity")


@dataclass(frozen=True)
class Value:
    """A setting's value and where it came from: ``default``, ``config file PATH`` or
    ``environment VAR``; ``where`` names it for error messages (file, line and key)."""

    value: Any
    origin: str
    where: str


@dataclass(frozen=True)
class ConfigFile:
    """The parsed file: its tables, and the text to find a key's line in."""

    path: Path
    data: dict[str, Any]
    text: str

    def table(self, name: str) -> dict[str, Any]:
        return dict(self.data.get(name) or {})

    def location(self, table: str, key: str | None = None) -> str:
        """``config file PATH, line N`` (the line of the key, or of the table, when found)."""
        line = _line_of(self.text, table, key)
        return f"config file {self.path}" + (f", line {line}" if line else "")

    def where(self, table: str, key: str | None = None) -> str:
        """``config file PATH, line N: [table] key``: where a value is, for error messages."""
        return f"{self.location(table, key)}: [{table}]" + (f" {key}" if key else "")


def _line_of(text: str, table: str, key: str | None) -> int | None:
    """The line of ``[table]`` (or of ``key`` inside it); tomllib keeps no positions."""
    current = None
    header = re.compile(r"^\s*\[\s*([A-Za-z0-9_\-\"' .]+?)\s*\]")
    for number, line in enumerate(text.splitlines(), 1):
        match = header.match(line)
        if match:
            current = match.group(1).strip("\"' ")
            if key is None and current == table:
                return number
            continue
        if key is None and current is None and re.match(rf"^\s*{re.escape(table)}\s*=", line):
            return number  # a top-level key where a table was expected
        if (
            key is not None
            and current == table
            and re.match(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=", line)
        ):
            return number
    return None


def read_config(path: Path | None = None) -> ConfigFile:
    """The config file, parsed and checked for unknown tables (an empty one when the file does
    not exist). A file that is not TOML is one error naming the file and line, never its
    content (it may hold credentials)."""
    path = config_path() if path is None else path
    if not path.is_file():
        return ConfigFile(path, {}, "")
    import tomllib

    try:
        text = path.read_text(encoding="utf-8-sig")
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInputError(
            f"config file {path} is not valid TOML: {exc}",
            "fix that line (see https://toml.io), or point CARBONPLAN_CONFIG elsewhere",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(
            f"config file {path} cannot be read: {type(exc).__name__}",
            "fix the file (UTF-8 TOML), or point CARBONPLAN_CONFIG elsewhere",
        ) from None
    config = ConfigFile(path, data, text)
    for name, value in data.items():
        if name not in TABLES:
            close = difflib.get_close_matches(name, TABLES, n=1)
            raise BadInputError(
                f"{config.location(name)}: unknown table or key {name!r}",
                (f"did you mean [{close[0]}]? " if close else "")
                + "the file holds the tables "
                + ", ".join(f"[{t}]" for t in TABLES),
            )
        if not isinstance(value, dict):
            raise BadInputError(
                f"{config.where(name)} must be a table", f"write it as [{name}] with keys below"
            )
    for table, known in (("plan", list(PLAN_KEYS)), ("intensity", sorted(INTENSITY_KEYS))):
        unknown = sorted(set(config.table(table)) - set(known))
        if unknown:
            raise unknown_key(config, table, unknown[0], known)
    return config


def unknown_key(config: ConfigFile, table: str, key: str, known: Any) -> BadInputError:
    """One error for a key the table does not have, with "did you mean" and the known keys."""
    close = difflib.get_close_matches(key, list(known), n=1)
    return BadInputError(
        f"{config.location(table, key)}: unknown [{table}] key {key!r}",
        (f"did you mean {close[0]!r}? " if close else "") + "known keys: " + ", ".join(known),
    )


def plan_settings(config: ConfigFile | None = None) -> dict[str, Value]:
    """Every ``[plan]`` setting's effective value and origin: the built-in default, else the
    config file, else ``CARBONPLAN_<KEY>`` (a comma-separated list for list settings)."""
    config = read_config() if config is None else config
    table = config.table("plan")
    out: dict[str, Value] = {}
    for name, key in PLAN_KEYS.items():
        out[name] = Value(key.default, "default", key.flag)
        if name in table:
            where = config.where("plan", name)
            out[name] = Value(
                _convert(key, table[name], where), f"config file {config.path}", where
            )
        env = key.env(name)
        raw = os.environ.get(env)
        if raw is not None and raw.strip() != "":
            out[name] = Value(_convert(key, raw, env), f"environment {env}", env)
    return out


def _convert(key: Key, value: Any, where: str) -> Any:
    """The checked value, or one error naming ``where`` (file and key, or the variable)."""

    def bad(why: str) -> BadInputError:
        return BadInputError(
            f"{where} = {value!r}: {why}", f"fix the value ({key.help}); {SHOW_HINT}"
        )

    if key.kind == "list":
        if isinstance(value, str):
            items = [part.strip() for part in value.split(",") if part.strip()]
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            items = [v.strip() for v in value if v.strip()]
        else:
            raise bad('expected a list of strings, e.g. ["aws", "gcp"]')
        if key.choices:
            items = [v.lower() for v in items]
            wrong = [v for v in items if v not in key.choices]
            if wrong or not items:
                raise bad("choose from " + ", ".join(key.choices))
        return items
    if key.kind in ("choice", "str"):
        if not isinstance(value, str) or not value.strip():
            raise bad("expected a string")
        text = value.strip()
        if key.choices:
            text = text.lower()
            if text not in key.choices:
                close = difflib.get_close_matches(text, key.choices, n=1)
                meant = f"did you mean {close[0]!r}? " if close else ""
                raise bad(meant + "choose one of " + ", ".join(key.choices))
        return text
    if isinstance(value, bool):
        raise bad("expected a number")
    try:
        number = int(value) if key.kind == "int" else float(value)
    except (TypeError, ValueError):
        raise bad("expected " + ("a whole number" if key.kind == "int" else "a number")) from None
    if key.kind == "int" and isinstance(value, float) and not value.is_integer():
        raise bad("expected a whole number")
    if math.isnan(number) or math.isinf(number):
        raise bad("expected a finite number")
    too_low = number < key.low if key.inclusive_low else number <= key.low
    if too_low or number > key.high:
        low = "[" if key.inclusive_low else "("
        raise bad(f"must be in {low}{key.low:g}, {key.high:g}]")
    return number
