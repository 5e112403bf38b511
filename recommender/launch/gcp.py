"""GCP Compute Engine backend (google-cloud-compute, imported only when a method runs).

Credentials are Application Default Credentials (``gcloud auth application-default login``,
``GOOGLE_APPLICATION_CREDENTIALS``, a metadata server). ``CARBONPLAN_GCP_API_ENDPOINT``
points the clients at another endpoint and ``CARBONPLAN_GCP_ANONYMOUS=1`` sends no
credentials (the tests use a local fake of the Compute REST API this way).

Zones come from ``data/gcp_zones.csv`` (built by ``scripts/build_gcp_zones.py``), so a dry
run needs no API call; ``--zone`` overrides it.

Every call is bounded (:class:`CallBounds`): each attempt may take
``CARBONPLAN_GCP_CALL_TIMEOUT`` seconds (default 20; an operation's long-poll wait 130), and
transient errors (429, 500, 503; a dropped connection) are retried with backoff for at most
``CARBONPLAN_GCP_RETRY_SECONDS`` (default 30). google-api-core's own defaults retry some
calls for up to 600 s.
"""

from __future__ import annotations

import functools
import json
import os
import time
import uuid
from dataclasses import dataclass
from importlib import resources
from typing import Any

from recommender.errors import BadInputError
from recommender.inputs import env_number
from recommender.launch.base import (
    TAG_KEY,
    TAG_MARK,
    BackendError,
    Choice,
    InstanceInfo,
    Launched,
    LaunchSpec,
    PartialLaunchError,
    RetryableLaunchError,
    Scope,
)

ENDPOINT_ENV = "CARBONPLAN_GCP_API_ENDPOINT"
ANONYMOUS_ENV = "CARBONPLAN_GCP_ANONYMOUS"

#: Google's Deep Learning VM image family (Ubuntu 22.04, CUDA 12.8, NVIDIA driver 570).
DEFAULT_IMAGE = (
    "projects/deeplearning-platform-release/global/images/family/"
    "common-cu128-ubuntu-2204-nvidia-570"
)
#: GPUs attached to N1 hosts ("n1-highmem-8+T4x2" in the catalog); accelerator-optimized
#: types (a2, a3, a4, g2) have theirs built in and take no guestAccelerators.
N1_ACCELERATORS = {
    "T4": "nvidia-tesla-t4",
    "V100": "nvidia-tesla-v100",
    "P100": "nvidia-tesla-p100",
    "P4": "nvidia-tesla-p4",
}
RETRYABLE: dict[str, Scope] = {
    "ZONE_RESOURCE_POOL_EXHAUSTED": "zone",
    "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS": "zone",
    "QUOTA_EXCEEDED": "region",
    "quotaExceeded": "region",
}
POLL_SECONDS = 2.0
WAIT_SECONDS = 600.0

#: Bounds of every Compute call (see the module docstring); the variables override them.
CALL_TIMEOUT_ENV = "CARBONPLAN_GCP_CALL_TIMEOUT"
RETRY_SECONDS_ENV = "CARBONPLAN_GCP_RETRY_SECONDS"
DEFAULT_CALL_TIMEOUT_S = 20.0
DEFAULT_RETRY_S = 30.0
WAIT_CALL_TIMEOUT_S = 130.0  # zoneOperations.wait answers within about 2 minutes


def _failover_code(exc: Exception) -> str | None:
    """The :data:`RETRYABLE` code (capacity, quota) an API error carries, if any."""
    reasons = [str(e.get("reason", "")) for e in getattr(exc, "errors", []) or []]
    message = str(getattr(exc, "message", exc))
    return next((c for c in RETRYABLE if c in reasons or c in message), None)


@dataclass(frozen=True)
class CallBounds:
    """How long one Compute call may take: each attempt's timeout, the time retrying."""

    timeout_s: float
    retry_s: float

    @classmethod
    def from_env(cls) -> CallBounds:
        return cls(
            timeout_s=env_number(CALL_TIMEOUT_ENV, DEFAULT_CALL_TIMEOUT_S, low=0.1, high=3600),
            retry_s=env_number(RETRY_SECONDS_ENV, DEFAULT_RETRY_S, low=0.0, high=3600),
        )

    def options(self, timeout_s: float | None = None) -> dict[str, Any]:
        """The ``retry`` and ``timeout`` arguments of a call: transient errors retried with
        backoff (1, 2, 4, 8 s ...) until ``retry_s`` has passed, each attempt cut at the
        timeout. A zone out of capacity or quota (:data:`RETRYABLE`, even as a 503) is not
        retried here: the launch moves on to the next zone or option at once."""
        from google.api_core import retry as api_retry

        def transient(exc: Exception) -> bool:
            return bool(api_retry.if_transient_error(exc)) and _failover_code(exc) is None

        retry = api_retry.Retry(
            predicate=transient,
            initial=1.0,
            maximum=8.0,
            multiplier=2.0,
            timeout=self.retry_s,
        )
        return {"retry": retry, "timeout": timeout_s or self.timeout_s}


#: statuses of an instance that is not (going to be) running
STOPPED = ("STOPPING", "TERMINATED", "SUSPENDING", "SUSPENDED")
_CONFLICT_HINT = (
    "an instance of that name exists in the zone and is not running (stopped or suspended):"
    " 'carbonplan instances --provider gcp' lists it; start or delete it, or pass another"
    " --name"
)


def label_key(tag: str) -> str:
    """GCP label/metadata keys allow only [a-z0-9_-]: carbonplan:plan-id -> carbonplan-plan-id."""
    return tag.replace(":", "-").lower()


def split_instance_type(instance_type: str) -> tuple[str, str | None, int]:
    """``n1-highmem-8+T4x2`` -> ("n1-highmem-8", "T4", 2); ``a3-highgpu-8g`` -> (it, None, 0)."""
    if "+" not in instance_type:
        return instance_type, None, 0
    machine, accel = instance_type.split("+", 1)
    gpu, _, count = accel.rpartition("x")
    return machine, gpu, int(count)


@functools.cache
def zones_table() -> Any:
    import pandas as pd

    with resources.files("recommender.data").joinpath("gcp_zones.csv").open("rb") as handle:
        return pd.read_csv(handle, dtype=str).fillna("")


def instance_names(spec: LaunchSpec) -> list[str]:
    n = spec.choice.instances
    return [spec.name] if n == 1 else [f"{spec.name}-{i}" for i in range(1, n + 1)]


class GcpBackend:
    """Compute Engine via google-cloud-compute's REST transport."""

    name = "gcp"

    def __init__(self, project: str | None = None) -> None:
        self._project = project
        self._clients: dict[str, Any] = {}
        self._bounds: CallBounds | None = None

    @property
    def bounds(self) -> CallBounds:
        if self._bounds is None:  # read when a call is made, not for a dry run
            self._bounds = CallBounds.from_env()
        return self._bounds

    # -- plumbing ---------------------------------------------------------------------------
    def _client(self, kind: str) -> Any:
        if self._bounds is None:  # a bad setting is bad input here, before any call is tried
            self._bounds = CallBounds.from_env()
        if kind not in self._clients:
            from google.cloud import compute_v1

            options: dict[str, Any] = {}
            endpoint = os.environ.get(ENDPOINT_ENV)
            if endpoint:
                options["client_options"] = {"api_endpoint": endpoint}
            if os.environ.get(ANONYMOUS_ENV) == "1":
                from google.auth.credentials import AnonymousCredentials

                options["credentials"] = AnonymousCredentials()
            factory = {
                "instances": compute_v1.InstancesClient,
                "operations": compute_v1.ZoneOperationsClient,
            }[kind]
            try:
                self._clients[kind] = factory(transport="rest", **options)
            except Exception as exc:  # google.auth.exceptions.DefaultCredentialsError, ...
                raise BackendError(
                    type(exc).__name__,
                    str(exc).splitlines()[0] if str(exc) else "",
                    "run 'gcloud auth application-default login' or set "
                    "GOOGLE_APPLICATION_CREDENTIALS",
                ) from exc
        return self._clients[kind]

    @property
    def project(self) -> str:
        if self._project:
            return self._project
        for env in ("CLOUDSDK_CORE_PROJECT", "GOOGLE_CLOUD_PROJECT"):
            if os.environ.get(env):
                self._project = os.environ[env]
                return self._project
        try:
            import google.auth

            _, project = google.auth.default()
        except Exception:  # no ADC at all: say what to pass instead
            project = None
        if not project:
            raise BadInputError("no GCP project", "pass --project or set GOOGLE_CLOUD_PROJECT")
        self._project = str(project)
        return self._project

    def project_or_placeholder(self) -> str:
        try:
            return self.project
        except BadInputError:
            return "<--project>"

    def _api_error(self, exc: Exception) -> Exception:
        """Classify a google.api_core error raised synchronously by a call (the last error
        where the retries ran out of time)."""
        cause = getattr(exc, "cause", None)
        retried = type(exc).__name__ == "RetryError" and isinstance(cause, Exception)
        if retried and isinstance(cause, Exception):
            exc = cause
        message = str(getattr(exc, "message", exc))
        code = _failover_code(exc)
        if code is not None:
            return RetryableLaunchError(code, message, RETRYABLE[code])
        status = getattr(exc, "code", None)
        hint = ""
        if status in (401, 403):
            hint = "check ADC credentials and the roles in README 'Permissions'"
        elif status == 409:
            hint = _CONFLICT_HINT
        elif retried:
            hint = (
                f"still failing after retrying for {self.bounds.retry_s:g} s; try again later "
                f"({RETRY_SECONDS_ENV} sets how long to retry)"
            )
        elif "Timeout" in type(exc).__name__:
            hint = (
                f"no answer within {self.bounds.timeout_s:g} s; try again later "
                f"({CALL_TIMEOUT_ENV} sets the bound)"
            )
        return BackendError(str(status or type(exc).__name__), message, hint)

    def _wait(self, operation: Any, zone: str) -> None:
        """Wait on a zone operation; raise its error, classified."""
        ops = self._client("operations")
        deadline = time.monotonic() + WAIT_SECONDS
        while str(getattr(operation.status, "name", operation.status)) != "DONE":
            if time.monotonic() > deadline:
                raise BackendError("Timeout", f"operation {operation.name} not done")
            try:
                operation = ops.wait(
                    project=self.project,
                    zone=zone,
                    operation=operation.name,
                    **self.bounds.options(WAIT_CALL_TIMEOUT_S),
                )
            except Exception as exc:
                raise self._api_error(exc) from exc
            if str(getattr(operation.status, "name", operation.status)) != "DONE":
                time.sleep(POLL_SECONDS)
        errors = list(operation.error.errors) if operation.error else []
        if errors:
            code, message = errors[0].code, errors[0].message
            if code in RETRYABLE:
                raise RetryableLaunchError(code, message, RETRYABLE[code])
            raise BackendError(code, message)

    # -- LaunchBackend ----------------------------------------------------------------------
    def default_image(self) -> str:
        return DEFAULT_IMAGE

    def zones(self, choice: Choice) -> list[str]:
        table = zones_table()
        machine, gpu, _ = split_instance_type(choice.instance_type)
        rows = table[table["region"] == choice.region]
        rows = rows[rows["accelerator"] == gpu] if gpu else rows[rows["instance_type"] == machine]
        return sorted(set(rows["zone"]))

    def _body(self, spec: LaunchSpec, name: str) -> dict[str, Any]:
        choice, zone = spec.choice, spec.zone
        machine, gpu, count = split_instance_type(choice.instance_type)
        labels = {label_key(k): v for k, v in spec.tags.items() if k in (TAG_MARK, TAG_KEY)}
        labels[label_key("carbonplan:job")] = spec.name
        labels["carbonplan"] = "true"
        metadata = [
            {"key": label_key(k), "value": v}
            for k, v in spec.tags.items()
            if k.startswith("carbonplan:") and k not in (TAG_MARK, TAG_KEY, "carbonplan:job")
        ]
        if spec.ssh_key:
            metadata.append({"key": "ssh-keys", "value": spec.ssh_key})
        scheduling: dict[str, Any] = {"onHostMaintenance": "TERMINATE"}
        if choice.market == "spot":
            scheduling |= {
                "provisioningModel": "SPOT",
                "automaticRestart": False,
                "instanceTerminationAction": "DELETE",  # a preempted VM stops billing
            }
        else:
            scheduling |= {"provisioningModel": "STANDARD", "automaticRestart": True}
        body: dict[str, Any] = {
            "name": name,
            "machineType": f"zones/{zone}/machineTypes/{machine}",
            "disks": [
                {
                    "boot": True,
                    "autoDelete": True,
                    "initializeParams": {
                        "sourceImage": spec.image,
                        "diskSizeGb": str(spec.disk_gb),
                    },
                }
            ],
            "networkInterfaces": [
                {
                    "network": "global/networks/default",
                    "accessConfigs": [{"name": "External NAT", "type": "ONE_TO_ONE_NAT"}],
                }
            ],
            "scheduling": scheduling,
            "labels": labels,
            "metadata": {"items": metadata},
        }
        if gpu:
            if gpu not in N1_ACCELERATORS:
                raise BackendError("Unsupported", f"no GCP accelerator type known for {gpu}")
            body["guestAccelerators"] = [
                {
                    "acceleratorType": f"zones/{zone}/acceleratorTypes/{N1_ACCELERATORS[gpu]}",
                    "acceleratorCount": count,
                }
            ]
        return body

    def request(self, spec: LaunchSpec) -> dict[str, Any]:
        project = self.project_or_placeholder()
        return {
            "method": "POST",
            "path": f"/compute/v1/projects/{project}/zones/{spec.zone}/instances",
            "instances": [
                {"requestId": self._request_id(spec, name), "body": self._body(spec, name)}
                for name in instance_names(spec)
            ],
        }

    @staticmethod
    def _request_id(spec: LaunchSpec, name: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{spec.client_token}/{name}"))

    def api_calls(self, spec: LaunchSpec) -> list[str]:
        project = self.project_or_placeholder()
        n = spec.choice.instances
        return [
            f"compute.instances.aggregatedList ({project}, labels.{label_key(TAG_KEY)}="
            f"{spec.launch_key}: an earlier run?)",
            f"compute.instances.insert ({project}, {spec.zone}) x{n}, each with a requestId",
            f"compute.zoneOperations.wait ({spec.zone}) until each insert is DONE",
            f"compute.instances.get ({spec.zone}) each instance: there and not stopped",
            f"compute.instances.delete ({spec.zone}: only to clean up a failed attempt)",
        ]

    def _aggregated(self, filter_: str) -> list[tuple[str, Any]]:
        client = self._client("instances")
        project = self.project  # no project is bad input, not a cloud error
        try:
            pages = client.aggregated_list(
                request={"project": project, "filter": filter_}, **self.bounds.options()
            )
            found: list[tuple[str, Any]] = []
            for scope, listing in pages:
                zone = scope.rsplit("/", 1)[-1]
                found.extend((zone, i) for i in listing.instances)
            return found
        except Exception as exc:
            raise self._api_error(exc) from exc

    def find_existing(self, region: str, launch_key: str) -> Launched | None:
        key = label_key(TAG_KEY)
        found = [
            (zone, i)
            for zone, i in self._aggregated(f"labels.{key} = {launch_key}")
            if i.labels.get(key) == launch_key
            and zone.startswith(region + "-")
            and i.status not in STOPPED
        ]
        if not found:
            return None
        return Launched(
            "gcp", region, found[0][0], tuple(sorted(i.name for _, i in found)), reused=True
        )

    def create(self, spec: LaunchSpec) -> Launched:
        from google.cloud import compute_v1

        client = self._client("instances")
        created: list[str] = []
        for item in self.request(spec)["instances"]:
            name = item["body"]["name"]
            request = compute_v1.InsertInstanceRequest(
                project=self.project,
                zone=spec.zone,
                request_id=item["requestId"],
                instance_resource=compute_v1.Instance.from_json(json.dumps(item["body"])),
            )
            refused = False
            try:
                try:
                    operation = client.insert_unary(request=request, **self.bounds.options())
                except Exception as exc:
                    # an HTTP error answer: the insert was refused and created nothing (409: the
                    # name belongs to an instance that is not this run's; never delete it)
                    refused = isinstance(getattr(exc, "code", None), int)
                    raise self._api_error(exc) from exc
                self._wait(operation, spec.zone)
            except (RetryableLaunchError, BackendError) as exc:
                # A failed operation (or an insert whose answer was lost) may still have left
                # an instance behind.
                cause: Exception = exc
                try:
                    if not refused and self._exists(spec.zone, name):
                        created.append(name)
                except BackendError as again:  # unknown: stop here, and say so
                    cause = BackendError(
                        again.code,
                        f"inserting {name} in {spec.zone} failed ({exc}), and checking whether"
                        f" it left an instance failed too: {again.message}",
                        f"'carbonplan instances --provider gcp' shows {name} if it exists;"
                        " rerunning this launch finds it instead of starting another",
                    )
                if created:
                    raise PartialLaunchError(created, cause) from exc
                if cause is not exc:
                    raise cause from exc
                raise
            except BaseException as exc:  # Ctrl-C: what was started must be cleaned up
                leftover = [*created, *([name] if self._exists(spec.zone, name) else [])]
                if leftover:
                    raise PartialLaunchError(leftover, exc) from exc
                raise
            # The insert is DONE. With a requestId GCP already saw (a rerun within the hour
            # after the earlier instance was stopped or deleted) that is the earlier insert's
            # operation: check that the instance is there and not stopped before calling it
            # launched.
            try:
                status = self._status(spec.zone, name)
            except BaseException as exc:
                raise PartialLaunchError([*created, name], exc) from exc
            problem: Exception | None = None
            if status is None:
                problem = RetryableLaunchError(
                    "InstanceTerminatedBeforeRunning",
                    f"{name} in {spec.zone} was gone when its insert was done (an earlier run's"
                    " insert with the same request id, deleted since?)",
                )
            elif status in STOPPED:
                problem = BackendError(
                    "AlreadyExists",
                    f"{name} in {spec.zone} is {status}: an earlier run of this launch started"
                    " it and it was stopped since",
                    _CONFLICT_HINT,
                )
            if problem is not None:
                if created:
                    raise PartialLaunchError(created, problem)
                raise problem
            created.append(name)
        return Launched("gcp", spec.choice.region, spec.zone, tuple(created))

    def _exists(self, zone: str, name: str) -> bool:
        return self._status(zone, name) is not None

    def _status(self, zone: str, name: str) -> str | None:
        """The instance's status (RUNNING, STOPPING, ...), or None when there is none."""
        client, project = self._client("instances"), self.project
        try:
            found = client.get(project=project, zone=zone, instance=name, **self.bounds.options())
        except Exception as exc:
            if getattr(exc, "code", None) == 404:
                return None
            raise self._api_error(exc) from exc
        return str(found.status)

    def terminate(self, region: str, zone: str, instance_ids: list[str]) -> None:
        client = self._client("instances")
        for name in instance_ids:
            try:
                operation = client.delete_unary(
                    project=self.project, zone=zone, instance=name, **self.bounds.options()
                )
            except Exception as exc:
                raise self._api_error(exc) from exc
            self._wait(operation, zone)

    def list_instances(self, regions: list[str] | None) -> list[InstanceInfo]:
        mark = label_key(TAG_MARK)
        out = []
        for zone, i in self._aggregated(f"labels.{mark}:*"):
            labels = dict(i.labels)
            if mark not in labels:
                continue
            region = zone.rsplit("-", 1)[0]
            if regions and region not in regions:
                continue
            meta = {m.key: m.value for m in i.metadata.items} if i.metadata else {}
            tags = {k.replace("carbonplan-", "carbonplan:", 1): v for k, v in meta.items()}
            tags |= {k.replace("carbonplan-", "carbonplan:", 1): v for k, v in labels.items()}
            market = "spot" if i.scheduling.provisioning_model == "SPOT" else "on-demand"
            out.append(
                InstanceInfo(
                    provider="gcp",
                    region=region,
                    zone=zone,
                    instance_id=i.name,
                    name=i.name,
                    instance_type=i.machine_type.rsplit("/", 1)[-1],
                    market=market,
                    state=i.status.lower(),
                    launched_at=i.creation_timestamp or None,
                    tags={k: v for k, v in tags.items() if k.startswith("carbonplan:")},
                )
            )
        return out
