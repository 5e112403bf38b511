"""Start a planned option on a cloud, with failover and cleanup.

Backends implement :class:`~recommender.launch.base.LaunchBackend` and are registered by
lower-case provider name; the built-ins (``aws``, ``gcp``) register exactly like anything
added later. Their SDKs (boto3, google-cloud-compute) are imported only when a backend
method runs, so importing this package stays light.
"""

from recommender.launch.base import (
    Choice,
    InstanceInfo,
    LaunchBackend,
    Launched,
    LaunchFailedError,
    LaunchSpec,
)
from recommender.launch.failover import Attempt, Outcome, run_failover
from recommender.launch.registry import (
    UNSUPPORTED,
    BackendOptions,
    get_backend,
    launchable_providers,
    register_backend,
)

__all__ = [
    "UNSUPPORTED",
    "Attempt",
    "BackendOptions",
    "Choice",
    "InstanceInfo",
    "LaunchBackend",
    "LaunchFailedError",
    "LaunchSpec",
    "Launched",
    "Outcome",
    "get_backend",
    "launchable_providers",
    "register_backend",
    "run_failover",
]
