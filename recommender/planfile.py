"""Saved plans (``carbonplan suggest --format json > plan.json``) read back by ``launch --from``
and ``report --from``: checked when read, so a hand-edited or foreign file is one ``error:``
line naming the file and the field (``plan.json: options[0].instances must be a positive
integer, got 0``) instead of a traceback or a launch of nonsense.

Only the standard library: ``launch`` imports this before anything heavy.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recommender.errors import BadInputError

HINT = (
    "save a plan with: carbonplan suggest --gpu-hours 400 --format json > plan.json, "
    "or give the job flags (--gpu-hours ...) instead of --from"
)
#: The clouds a plan may name (recommender.catalog.names.PROVIDERS; a test keeps them equal).
PROVIDERS = ("aws", "gcp", "azure")
MARKETS = ("on-demand", "spot")


def _shown(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _text(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


# field -> (check, what it must be); every option needs these (launch reads them all).
_Check = tuple[Callable[[Any], bool], str]
REQUIRED: dict[str, _Check] = {
    "rank": (_positive_int, "a positive integer"),
    "provider": (lambda v: v in PROVIDERS, f"one of {', '.join(PROVIDERS)}"),
    "region": (_text, "a non-empty string"),
    "instance_type": (_text, "a non-empty string"),
    "market": (lambda v: v in MARKETS, f"one of {', '.join(MARKETS)}"),
    "gpu": (_text, "a non-empty string"),
    "instances": (_positive_int, "a positive integer"),
    "usd_per_hour": (_number, "a finite number >= 0"),
    "wall_hours": (_number, "a finite number >= 0"),
    "cost_usd": (_number, "a finite number >= 0"),
    "kgco2e": (_number, "a finite number >= 0"),
}
# Checked when present and not null.
OPTIONAL: dict[str, _Check] = {
    "gpus_per_instance": (_number, "a finite number >= 0"),
    "gpu_count": (_number, "a finite number >= 0"),
    "start": (lambda v: isinstance(v, str), "a string (an ISO 8601 time)"),
    "energy_kwh": (_number, "a finite number >= 0"),
    "gco2_per_kwh": (_number, "a finite number >= 0"),
    "operational_kgco2e": (_number, "a finite number >= 0"),
    "embodied_kgco2e": (_number, "a finite number >= 0"),
}


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BadInputError(f"cannot read --from {path}: {exc.strerror or exc}", HINT) from None


def parse(raw: bytes, name: str) -> dict[str, Any]:
    """The plan document in ``raw`` (from the file ``name``), checked."""
    document = load_json(raw, name)
    check(document, name)
    return document


def load_json(raw: bytes, name: str) -> Any:
    """The JSON in ``raw`` (UTF-8, a byte-order mark allowed), not yet checked."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadInputError(f"{name} is not UTF-8 text", HINT) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInputError(
            f"{name} is not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})", HINT
        ) from None
    except RecursionError:
        raise BadInputError(f"{name} is not a plan (nested too deeply)", HINT) from None
    return document


def read(path: Path) -> dict[str, Any]:
    """Read and check the saved plan at ``path``."""
    return parse(read_bytes(path), str(path))


def check(document: Any, name: str) -> None:
    """Raise :class:`BadInputError` naming the first field of ``document`` that is wrong."""
    if not isinstance(document, dict):
        raise BadInputError(
            f"{name} is not a saved 'carbonplan suggest --format json' plan "
            f"(it is a JSON {_json_kind(document)}, not an object)",
            HINT,
        )
    options = document.get("options")
    if not isinstance(options, list) or not options:
        got = "missing" if "options" not in document else f"got {_shown(options)}"
        raise BadInputError(f"{name} has no 'options' list (options: {got})", HINT)
    for i, option in enumerate(options):
        where = f"{name}: options[{i}]"
        if not isinstance(option, dict):
            raise BadInputError(f"{where} must be an object, got {_shown(option)}", HINT)
        for key, (ok, what) in REQUIRED.items():
            if key not in option:
                raise BadInputError(f"{where}.{key} is missing (must be {what})", HINT)
            if not ok(option[key]):
                raise BadInputError(
                    f"{where}.{key} must be {what}, got {_shown(option[key])}", HINT
                )
        for key, (ok, what) in OPTIONAL.items():
            if option.get(key) is not None and not ok(option[key]):
                raise BadInputError(
                    f"{where}.{key} must be {what}, got {_shown(option[key])}", HINT
                )


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"
