"""AWS EC2 backend (boto3, imported only when a method runs).

Credentials, region endpoints and profiles come from boto3's normal chain (environment,
``~/.aws``, SSO, instance role; ``--profile``). ``AWS_ENDPOINT_URL_EC2`` points it at another
endpoint (the tests use moto's server this way).

Every EC2 call is bounded: connect within ``CARBONPLAN_AWS_CONNECT_TIMEOUT`` seconds (default
5), each read within ``CARBONPLAN_AWS_READ_TIMEOUT`` (default 20), at most ``AWS_MAX_ATTEMPTS``
attempts (default 3, botocore's "standard" retries with the same ClientToken), so an endpoint
that accepts and never answers fails one call after at most
``attempts x (connect + read) + backoff`` (default 3 x 25 s + at most 3 s = 78 s), with a
message naming the endpoint, the region and the timeout.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from recommender.errors import INTERRUPTS
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

#: AWS Deep Learning Base AMI (Ubuntu 22.04, NVIDIA driver, CUDA, Docker), resolved by EC2 from
#: AWS's public SSM parameter at launch time, so it is always the region's current image.
DEFAULT_IMAGE = (
    "resolve:ssm:/aws/service/deeplearning/ami/x86_64/"
    "base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id"
)
DEFAULT_ROOT_DEVICE = "/dev/sda1"  # Ubuntu AMIs, including the DLAMI above

#: Error codes that mean "not here, try elsewhere", and how far to move.
RETRYABLE: dict[str, Scope] = {
    "InsufficientInstanceCapacity": "zone",
    "InsufficientHostCapacity": "zone",
    "InsufficientCapacity": "zone",
    "InsufficientReservedInstanceCapacity": "zone",
    "InsufficientFreeAddressesInSubnet": "zone",
    "Unsupported": "zone",
    "InstanceTerminatedBeforeRunning": "zone",
    "InstanceLimitExceeded": "region",
    "VcpuLimitExceeded": "region",
    "MaxSpotInstanceCountExceeded": "region",
    "SpotMaxPriceTooLow": "region",
    "OptInRequired": "region",
}
_HINTS = {
    "AuthFailure": "check your AWS credentials (aws configure / AWS_PROFILE / --profile)",
    "UnauthorizedOperation": "your IAM identity lacks a permission: see README 'Permissions'",
    "InvalidAMIID.NotFound": "the image does not exist in this region: pass --image",
    "InvalidAMIID.Malformed": "pass --image ami-... (or leave it out for the default DLAMI)",
    "InvalidKeyPair.NotFound": "the --key-name does not exist in this region",
}
LIVE_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"]
POLL_SECONDS = 5.0
WAIT_SECONDS = 600.0

#: Bounds of every EC2 call (see the module docstring); the variables override them.
CONNECT_TIMEOUT_ENV = "CARBONPLAN_AWS_CONNECT_TIMEOUT"
READ_TIMEOUT_ENV = "CARBONPLAN_AWS_READ_TIMEOUT"
MAX_ATTEMPTS_ENV = "AWS_MAX_ATTEMPTS"  # boto3's own variable, read here so the bound holds
DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_READ_TIMEOUT_S = 20.0
DEFAULT_MAX_ATTEMPTS = 3
#: botocore's standard retry mode sleeps at most 2**(attempt-1) s (< 20 s) between attempts
_MAX_BACKOFF_S = 20.0


@dataclass(frozen=True)
class CallBounds:
    """How long one EC2 call may take: per attempt connect + read timeouts, the attempts."""

    connect_s: float
    read_s: float
    attempts: int

    @classmethod
    def from_env(cls) -> CallBounds:
        return cls(
            connect_s=env_number(CONNECT_TIMEOUT_ENV, DEFAULT_CONNECT_TIMEOUT_S, low=0.1, high=600),
            read_s=env_number(READ_TIMEOUT_ENV, DEFAULT_READ_TIMEOUT_S, low=0.1, high=3600),
            attempts=int(env_number(MAX_ATTEMPTS_ENV, DEFAULT_MAX_ATTEMPTS, low=1, high=20)),
        )

    @property
    def worst_case_s(self) -> float:
        """The longest one call can hang: every attempt connects slowly and never answers."""
        backoff = sum(min(2.0 ** (i - 1), _MAX_BACKOFF_S) for i in range(1, self.attempts))
        return self.attempts * (self.connect_s + self.read_s) + backoff

    def describe(self) -> str:
        return f"connect {self.connect_s:g} s, read {self.read_s:g} s, {self.attempts} attempt(s)"


class AwsBackend:
    """EC2 via boto3: offerings, RunInstances with a ClientToken, tags, terminate."""

    name = "aws"

    def __init__(self, profile: str | None = None) -> None:
        self._profile = profile
        self._session: Any = None
        self._clients: dict[str, Any] = {}
        self._root_devices: dict[tuple[str, str], str] = {}
        self.bounds = CallBounds.from_env()

    # -- plumbing ---------------------------------------------------------------------------
    def _client(self, region: str) -> Any:
        if region not in self._clients:
            import boto3
            from botocore.config import Config
            from botocore.exceptions import BotoCoreError

            try:
                if self._session is None:
                    self._session = boto3.Session(profile_name=self._profile)
                # Retries resend the same ClientToken, so a retried RunInstances never starts
                # a second instance; timeouts and attempts bound every call (CallBounds).
                config = Config(
                    user_agent_extra="carbonplan",
                    connect_timeout=self.bounds.connect_s,
                    read_timeout=self.bounds.read_s,
                    retries={"mode": "standard", "total_max_attempts": self.bounds.attempts},
                )
                self._clients[region] = self._session.client(
                    "ec2", region_name=region, config=config
                )
            except BotoCoreError as exc:
                raise BackendError(type(exc).__name__, str(exc), "check --profile") from exc
        return self._clients[region]

    def _endpoint(self, region: str) -> str:
        return str(self._client(region).meta.endpoint_url)

    def _call(self, region: str, operation: str, **params: Any) -> Any:
        """One EC2 call; turns botocore errors into this package's errors."""
        from botocore.exceptions import BotoCoreError, ClientError

        client = self._client(region)
        try:
            return getattr(client, operation)(**params)
        except (ClientError, BotoCoreError) as exc:
            raise self._translate(exc, region, operation) from exc

    def _translate(self, exc: Exception, region: str, operation: str) -> Exception:
        """A botocore error as RetryableLaunchError (try elsewhere) or BackendError (stop);
        an endpoint that does not answer is named with the bound it broke, not credentials."""
        from botocore.exceptions import (
            ConnectionClosedError,
            ConnectTimeoutError,
            EndpointConnectionError,
            ReadTimeoutError,
        )

        action = "".join(part.title() for part in operation.split("_"))
        where = f"EC2 {action} in {region} ({self._endpoint(region)})"
        hint = (
            "the endpoint or the network is down or slow: check the network and"
            f" AWS_ENDPOINT_URL_EC2, or raise {READ_TIMEOUT_ENV}/{CONNECT_TIMEOUT_ENV}"
        )
        if isinstance(exc, ReadTimeoutError):
            return BackendError(
                "Timeout",
                f"{where}: no answer within the {self.bounds.read_s:g} s read timeout"
                f" ({self.bounds.describe()})",
                hint,
            )
        if isinstance(exc, ConnectTimeoutError | EndpointConnectionError | ConnectionClosedError):
            return BackendError(
                "Unreachable",
                f"{where}: {type(exc).__name__} ({self.bounds.describe()})",
                hint,
            )
        return _translate(exc)

    # -- LaunchBackend ----------------------------------------------------------------------
    def default_image(self) -> str:
        return DEFAULT_IMAGE

    def zones(self, choice: Choice) -> list[str]:
        response = self._call(
            choice.region,
            "describe_instance_type_offerings",
            LocationType="availability-zone",
            Filters=[{"Name": "instance-type", "Values": [choice.instance_type]}],
        )
        return sorted({o["Location"] for o in response.get("InstanceTypeOfferings", [])})

    def _root_device(self, region: str, image: str) -> str:
        if image.startswith("resolve:ssm:"):
            return DEFAULT_ROOT_DEVICE
        key = (region, image)
        if key not in self._root_devices:
            images = self._call(region, "describe_images", ImageIds=[image]).get("Images", [])
            if not images:
                raise BackendError("InvalidAMIID.NotFound", f"{image} not found in {region}")
            self._root_devices[key] = images[0].get("RootDeviceName") or DEFAULT_ROOT_DEVICE
        return self._root_devices[key]

    def request(self, spec: LaunchSpec) -> dict[str, Any]:
        choice = spec.choice
        tags = [{"Key": k, "Value": v} for k, v in spec.tags.items()]
        params: dict[str, Any] = {
            "ImageId": spec.image,
            "InstanceType": choice.instance_type,
            "MinCount": choice.instances,  # all or nothing
            "MaxCount": choice.instances,
            "ClientToken": spec.client_token,
            "Placement": {"AvailabilityZone": spec.zone},
            "BlockDeviceMappings": [
                {
                    "DeviceName": self._root_device(choice.region, spec.image),
                    "Ebs": {
                        "VolumeSize": spec.disk_gb,
                        "VolumeType": "gp3",
                        "DeleteOnTermination": True,
                    },
                }
            ],
            # A shutdown from inside the instance ends the bill instead of leaving it stopped.
            "InstanceInitiatedShutdownBehavior": "terminate",
            "TagSpecifications": [
                {"ResourceType": "instance", "Tags": tags},
                {"ResourceType": "volume", "Tags": tags},
            ],
        }
        if choice.market == "spot":
            params["InstanceMarketOptions"] = {
                "MarketType": "spot",
                "SpotOptions": {
                    "SpotInstanceType": "one-time",
                    "InstanceInterruptionBehavior": "terminate",
                },
            }
        if spec.key_name:
            params["KeyName"] = spec.key_name
        return params

    def api_calls(self, spec: LaunchSpec) -> list[str]:
        region = spec.choice.region
        calls = [
            f"ec2:DescribeInstanceTypeOfferings ({region}, availability-zone,"
            f" instance-type={spec.choice.instance_type})",
            f"ec2:DescribeInstances ({region}, tag:{TAG_KEY}={spec.launch_key}: an earlier run?)",
        ]
        if not spec.image.startswith("resolve:ssm:"):
            calls.append(f"ec2:DescribeImages ({region}, {spec.image}: root device name)")
        calls += [
            f"ec2:RunInstances ({region}, {spec.zone}, ClientToken={spec.client_token})",
            f"ec2:DescribeInstances ({region}: wait until running)",
            f"ec2:TerminateInstances ({region}: only to clean up a failed attempt)",
        ]
        return calls

    def find_existing(self, region: str, launch_key: str) -> Launched | None:
        response = self._call(
            region,
            "describe_instances",
            Filters=[
                {"Name": f"tag:{TAG_KEY}", "Values": [launch_key]},
                {"Name": "instance-state-name", "Values": ["pending", "running"]},
            ],
        )
        found = [i for r in response.get("Reservations", []) for i in r.get("Instances", [])]
        if not found:
            return None
        zone = found[0].get("Placement", {}).get("AvailabilityZone", "")
        ids = tuple(sorted(i["InstanceId"] for i in found))
        return Launched("aws", region, zone, ids, reused=True)

    def create(self, spec: LaunchSpec) -> Launched:
        region = spec.choice.region
        try:
            response = self._call(region, "run_instances", **self.request(spec))
        except INTERRUPTS as exc:
            # the request may have been carried out before the answer arrived: what it started
            # carries this run's launch key (tags are part of RunInstances)
            started = self.find_existing(region, spec.launch_key)
            if started is not None:
                raise PartialLaunchError(list(started.instance_ids), exc) from exc
            raise
        except BackendError as exc:
            if exc.code not in ("Timeout", "Unreachable"):
                raise
            # no answer: the request may still have been carried out (the same check as above)
            try:
                started = self.find_existing(region, spec.launch_key)
            except BackendError as again:
                raise BackendError(
                    exc.code,
                    f"{exc.message}; RunInstances may have started an instance, and looking"
                    f" for it failed too ({again.code})",
                    f"when EC2 answers again, 'carbonplan instances --region aws:{region}'"
                    " shows it and rerunning this launch finds it instead of starting another",
                ) from exc
            if started is not None:
                raise PartialLaunchError(list(started.instance_ids), exc) from exc
            raise
        ids = [i["InstanceId"] for i in response.get("Instances", [])]
        try:
            self._wait_running(region, ids)
        except BaseException as exc:  # Ctrl-C too: what was started must be cleaned up
            raise PartialLaunchError(ids, exc) from exc
        return Launched("aws", region, spec.zone, tuple(ids))

    def _wait_running(self, region: str, ids: list[str]) -> None:
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            response = self._call(region, "describe_instances", InstanceIds=ids)
            instances = [i for r in response.get("Reservations", []) for i in r["Instances"]]
            states = {i["InstanceId"]: i["State"]["Name"] for i in instances}
            lost = [i for i in instances if i["State"]["Name"] in ("shutting-down", "terminated")]
            if lost:
                reason = lost[0].get("StateReason", {}).get("Message", "no reason given")
                raise RetryableLaunchError(
                    "InstanceTerminatedBeforeRunning",
                    f"{lost[0]['InstanceId']} was {lost[0]['State']['Name']} before it ran"
                    f" ({reason})",
                )
            if len(states) == len(ids) and all(s == "running" for s in states.values()):
                return
            if time.monotonic() > deadline:
                raise BackendError(
                    "Timeout", f"instances not running after {WAIT_SECONDS:g} s: {states}"
                )
            time.sleep(POLL_SECONDS)

    def _pages(self, region: str, paginator: Any, filters: list[dict[str, Any]]) -> list[Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return list(paginator.paginate(Filters=filters))
        except (ClientError, BotoCoreError) as exc:
            raise self._translate(exc, region, "describe_instances") from exc

    def terminate(self, region: str, zone: str, instance_ids: list[str]) -> None:
        self._call(region, "terminate_instances", InstanceIds=instance_ids)

    def list_instances(self, regions: list[str] | None) -> list[InstanceInfo]:
        from concurrent.futures import ThreadPoolExecutor

        regions = regions or []
        for region in regions:  # boto3 sessions are not thread-safe; clients are
            self._client(region)
        # every region at once: listing them all takes one call's bound, not one per batch
        with ThreadPoolExecutor(max_workers=max(1, min(len(regions), 32))) as pool:
            answers = list(pool.map(self._list_region, regions))
        return [info for answer in answers for info in answer]

    def _list_region(self, region: str) -> list[InstanceInfo]:
        out: list[InstanceInfo] = []
        paginator = self._client(region).get_paginator("describe_instances")
        filters = [
            {"Name": "tag-key", "Values": [TAG_MARK]},
            {"Name": "instance-state-name", "Values": LIVE_STATES},
        ]
        for response in self._pages(region, paginator, filters):
            for reservation in response.get("Reservations", []):
                for i in reservation.get("Instances", []):
                    tags = {t["Key"]: t["Value"] for t in i.get("Tags", [])}
                    launched = i.get("LaunchTime")
                    out.append(
                        InstanceInfo(
                            provider="aws",
                            region=region,
                            zone=i.get("Placement", {}).get("AvailabilityZone", region),
                            instance_id=i["InstanceId"],
                            name=tags.get("Name", ""),
                            instance_type=i.get("InstanceType", ""),
                            market="spot" if i.get("InstanceLifecycle") == "spot" else "on-demand",
                            state=i["State"]["Name"],
                            launched_at=launched.isoformat() if launched else None,
                            tags=tags,
                        )
                    )
        return out


def _translate(exc: Exception) -> Exception:
    """A botocore error as RetryableLaunchError (try elsewhere) or BackendError (stop)."""
    response = getattr(exc, "response", None)
    if response is None:  # BotoCoreError: no credentials, endpoint unreachable, ...
        return BackendError(
            type(exc).__name__,
            str(exc),
            "configure AWS credentials (aws configure, AWS_PROFILE or --profile)",
        )
    error = response.get("Error", {})
    code, message = str(error.get("Code", "Unknown")), str(error.get("Message", ""))
    if code in RETRYABLE:
        return RetryableLaunchError(code, message, RETRYABLE[code])
    return BackendError(code, message, _HINTS.get(code, ""))
