"""Turn what users type (``a100``, ``aws:ca-central-1``) into canonical names, or say
clearly what was meant ("did you mean ...")."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import pandas as pd

from recommender.errors import BadInputError

PROVIDERS = ("aws", "gcp", "azure")
_PROVIDER_ALIASES = {"amazon": "aws", "google": "gcp", "gce": "gcp", "microsoft": "azure"}


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word.lower(), [c.lower() for c in choices], n=3, cutoff=0.6)
    lookup = {c.lower(): c for c in choices}
    return f"did you mean {', '.join(lookup[c] for c in close)}?" if close else ""


def resolve_provider(name: str) -> str:
    key = name.strip().lower()
    key = _PROVIDER_ALIASES.get(key, key)
    if key in PROVIDERS:
        return key
    hint = _did_you_mean(key, PROVIDERS)
    raise BadInputError(
        f"unknown provider {name!r}",
        f"{hint + ' ' if hint else ''}valid providers: {', '.join(PROVIDERS)}",
    )


def gpu_lookup(gpus: pd.DataFrame) -> dict[str, str]:
    """Map every lower-cased name and alias to its canonical GPU name."""
    table: dict[str, str] = {}
    for gpu, aliases in zip(gpus["gpu"], gpus["aliases"].fillna(""), strict=True):
        table[str(gpu).lower()] = str(gpu)
        for alias in str(aliases).split(";"):
            if alias.strip():
                table[alias.strip().lower()] = str(gpu)
    return table


def resolve_gpu(name: str, gpus: pd.DataFrame) -> str:
    table = gpu_lookup(gpus)
    key = name.strip().lower()
    if key in table:
        return table[key]
    for variant in (key.replace(" ", "-"), key.replace("_", "-"), key.replace("nvidia ", "")):
        if variant in table:
            return table[variant]
    close = difflib.get_close_matches(key, list(table), n=6, cutoff=0.6)
    meant = list(dict.fromkeys(table[c] for c in close))[:3]
    hint = f"did you mean {', '.join(meant)}?" if meant else ""
    canonical = ", ".join(gpus["gpu"].astype(str))
    raise BadInputError(
        f"unknown GPU {name!r}",
        f"{hint + ' ' if hint else ''}known GPUs: {canonical}",
    )


def parse_region(text: str, regions: pd.DataFrame) -> tuple[str, str]:
    """Parse ``PROVIDER:REGION``; a bare region is accepted when only one provider has it."""
    raw = text.strip()
    if ":" in raw:
        provider_part, region_part = raw.split(":", 1)
        provider = resolve_provider(provider_part)
        region = region_part.strip().lower()
        known = regions.loc[regions["provider"] == provider, "region"].astype(str).tolist()
        if region in known:
            return provider, region
        hint = _did_you_mean(region, known)
        raise BadInputError(
            f"unknown {provider} region {region_part.strip()!r}",
            (hint + " " if hint else "")
            + f"list them with: carbonplan regions --provider {provider}",
        )
    region = raw.lower()
    owners = regions.loc[regions["region"] == region, "provider"].astype(str).tolist()
    if len(owners) == 1:
        return owners[0], region
    if len(owners) > 1:
        raise BadInputError(
            f"region {raw!r} exists at more than one provider",
            "name it as PROVIDER:REGION, e.g. " + f"{owners[0]}:{region}",
        )
    everything = [f"{p}:{r}" for p, r in zip(regions["provider"], regions["region"], strict=True)]
    hint = _did_you_mean(raw, [*regions["region"].astype(str), *everything])
    raise BadInputError(
        f"unknown region {raw!r}",
        (hint + " " if hint else "") + "name a region as PROVIDER:REGION, e.g. aws:ca-central-1; "
        "list them with: carbonplan regions",
    )
