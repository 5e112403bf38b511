"""What every launch backend shares: the request it is given, what it returns, the errors
that make the orchestrator fail over, and the :class:`LaunchBackend` protocol."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from recommender.errors import CarbonplanError, ExitCode

#: Tag / label keys carbonplan puts on what it launches (AWS tags; GCP uses the same names with
#: ":" replaced by "-", because GCP label keys allow only [a-z0-9_-]).
TAG_MARK = "carbonplan:plan-id"
TAG_JOB = "carbonplan:job"
TAG_KEY = "carbonplan:launch-key"
TAG_KG = "carbonplan:kgco2e"
TAG_USD = "carbonplan:usd"
TAG_USD_PER_HOUR = "carbonplan:usd-per-hour"
TAG_KG_PER_HOUR = "carbonplan:kgco2e-per-hour"
TAG_WALL_HOURS = "carbonplan:wall-hours"
TAG_MARKET = "carbonplan:market"


class LaunchFailedError(CarbonplanError):
    """Nothing could be launched (every attempt failed or a non-retryable error occurred)."""

    exit_code = ExitCode.LAUNCH_FAILED
    default_hint = "see the attempts above; relax a constraint or try again later"


@dataclass(frozen=True)
class Choice:
    """A ranked option that a backend can start: the planner's numbers, as plain values."""

    rank: int
    provider: str
    region: str
    instance_type: str
    market: str  # "on-demand" | "spot"
    gpu: str
    gpus_per_instance: int
    instances: int
    usd_per_hour: float  # per instance
    wall_hours: float
    cost_usd: float  # the whole job
    kgco2e: float  # the whole job
    start: str | None = None  # the planned start (ISO-8601) when the plan shifted it in time

    @property
    def label(self) -> str:
        return (
            f"#{self.rank} {self.provider}:{self.region} {self.instance_type} {self.market}"
            f" x{self.instances}"
        )

    def estimate_tags(self) -> dict[str, str]:
        """The estimates carbonplan records on the instances (per instance rates and totals)."""
        instance_hours = self.wall_hours * self.instances
        return {
            TAG_KG: f"{self.kgco2e:.6g}",
            TAG_USD: f"{self.cost_usd:.2f}",
            TAG_USD_PER_HOUR: f"{self.usd_per_hour:.6g}",
            TAG_KG_PER_HOUR: f"{(self.kgco2e / instance_hours if instance_hours else 0):.6g}",
            TAG_WALL_HOURS: f"{self.wall_hours:.6g}",
            TAG_MARKET: self.market,
        }


@dataclass(frozen=True)
class LaunchSpec:
    """Everything needed to start one option in one zone. Backends turn it into the exact
    API request (shown by the dry run and sent by ``create``)."""

    choice: Choice
    zone: str
    name: str
    image: str
    disk_gb: int
    plan_id: str
    launch_key: str  # same plan + same name -> same key: a rerun finds what it launched
    key_name: str | None = None  # AWS EC2 key pair name
    ssh_key: str | None = None  # GCP: "USER:ssh-ed25519 AAAA..." added to instance metadata

    @property
    def tags(self) -> dict[str, str]:
        return {
            "Name": self.name,
            TAG_JOB: self.name,
            TAG_MARK: self.plan_id,
            TAG_KEY: self.launch_key,
            **self.choice.estimate_tags(),
        }

    @property
    def client_token(self) -> str:
        """Idempotency token for this exact request (EC2 ClientToken, GCP requestId)."""
        raw = f"{self.launch_key}|{self.choice.provider}|{self.choice.region}|{self.zone}|"
        raw += f"{self.choice.instance_type}|{self.choice.market}|{self.choice.instances}"
        return "carbonplan-" + hashlib.sha256(raw.encode()).hexdigest()[:40]


@dataclass(frozen=True)
class Launched:
    """What a successful ``create`` started."""

    provider: str
    region: str
    zone: str
    instance_ids: tuple[str, ...]
    reused: bool = False  # found from an earlier run with the same launch key


@dataclass(frozen=True)
class InstanceInfo:
    """One carbonplan-launched instance as ``instances`` lists it."""

    provider: str
    region: str
    zone: str
    instance_id: str
    name: str
    instance_type: str
    market: str
    state: str
    launched_at: str | None  # ISO-8601 UTC
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def qualified_id(self) -> str:
        return f"{self.provider}:{self.zone}/{self.instance_id}"


Scope = Literal["zone", "region"]


class RetryableLaunchError(Exception):
    """No capacity / quota / unsupported here: the orchestrator tries the next zone (scope
    "zone") or the next option (scope "region", e.g. a regional quota)."""

    def __init__(self, code: str, message: str, scope: Scope = "zone") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.scope = scope


class PartialLaunchError(Exception):
    """A later step failed after something was created; ``created`` must be cleaned up.
    ``cause`` is the error that stopped the launch (retryable or not)."""

    def __init__(self, created: list[str], cause: BaseException) -> None:
        super().__init__(str(cause))
        self.created = created
        self.cause = cause


class BackendError(Exception):
    """A non-retryable cloud error (credentials, permissions, bad image, ...)."""

    def __init__(self, code: str, message: str, hint: str = "") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.hint = hint


class LaunchBackend(Protocol):
    """A cloud that can start, list and stop carbonplan's instances."""

    name: str

    def default_image(self) -> str:
        """The image used when --image is not given (a GPU deep-learning image)."""
        ...

    def zones(self, choice: Choice) -> list[str]:
        """Zones of the choice's region where its instance type is offered (read-only)."""
        ...

    def request(self, spec: LaunchSpec) -> dict[str, Any]:
        """The exact request ``create`` sends for ``spec`` (shown by the dry run)."""
        ...

    def api_calls(self, spec: LaunchSpec) -> list[str]:
        """The API calls ``create`` makes, in order, in words."""
        ...

    def find_existing(self, region: str, launch_key: str) -> Launched | None:
        """Instances already started with this launch key (a rerun of the same launch)."""
        ...

    def create(self, spec: LaunchSpec) -> Launched:
        """Start the instances and wait until they run. Raises RetryableLaunchError,
        PartialLaunchError or BackendError."""
        ...

    def terminate(self, region: str, zone: str, instance_ids: list[str]) -> None:
        """Terminate/delete the instances and wait for the request to be accepted."""
        ...

    def list_instances(self, regions: list[str] | None) -> list[InstanceInfo]:
        """carbonplan-launched instances (found by tag/label) that are not terminated."""
        ...


def short_hash(*parts: object, length: int = 12) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:length]
