"""Launch backends by provider name."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

from recommender.errors import BadInputError
from recommender.extras import require
from recommender.launch.base import LaunchBackend


@dataclass(frozen=True)
class BackendOptions:
    """What the command line can tell a backend (each uses what it knows)."""

    profile: str | None = None  # AWS named profile
    project: str | None = None  # GCP project


Factory = Callable[[BackendOptions], LaunchBackend]
_FACTORIES: dict[str, Factory] = {}

#: Providers carbonplan plans for but cannot start, and why.
UNSUPPORTED = {
    "azure": "carbonplan cannot launch on Azure yet (planning only); "
    "pick an aws or gcp option (--provider aws,gcp or --rank N)",
}


def register_backend(name: str, factory: Factory) -> None:
    _FACTORIES[name.lower()] = factory


def launchable_providers() -> list[str]:
    return sorted(_FACTORIES)


def get_backend(name: str, options: BackendOptions | None = None) -> LaunchBackend:
    key = name.lower()
    if key in _FACTORIES:
        return _FACTORIES[key](options or BackendOptions())
    if key in UNSUPPORTED:
        raise BadInputError(f"cannot launch on {name}", UNSUPPORTED[key])
    close = difflib.get_close_matches(key, launchable_providers(), n=1)
    raise BadInputError(
        f"no launch backend named {name!r}",
        f"did you mean {close[0]!r}?" if close else f"use one of {launchable_providers()}",
    )


def _aws(options: BackendOptions) -> LaunchBackend:
    require("launch", "boto3", "botocore")
    from recommender.launch.aws import AwsBackend

    return AwsBackend(profile=options.profile)


def _gcp(options: BackendOptions) -> LaunchBackend:
    require("launch", "google.cloud.compute_v1")
    from recommender.launch.gcp import GcpBackend

    return GcpBackend(project=options.project)


register_backend("aws", _aws)
register_backend("gcp", _gcp)
