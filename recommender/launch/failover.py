"""Walk the ranked options until one starts: next zone on no-capacity, next option on quota,
clean up whatever a failed attempt created, and keep the history of every attempt."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from recommender.errors import INTERRUPTS, Interrupted
from recommender.launch.base import (
    BackendError,
    Choice,
    LaunchBackend,
    Launched,
    LaunchSpec,
    PartialLaunchError,
    RetryableLaunchError,
)

_OUTCOMES = {
    "InsufficientInstanceCapacity": "no-capacity",
    "InsufficientHostCapacity": "no-capacity",
    "InsufficientCapacity": "no-capacity",
    "InsufficientReservedInstanceCapacity": "no-capacity",
    "ZONE_RESOURCE_POOL_EXHAUSTED": "no-capacity",
    "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS": "no-capacity",
    "InstanceTerminatedBeforeRunning": "lost-before-running",
    "Unsupported": "unsupported",
    "OptInRequired": "unsupported",
}


@dataclass(frozen=True)
class Attempt:
    """One step of the failover: what was tried and what happened."""

    rank: int
    provider: str
    region: str
    zone: str
    instance_type: str
    market: str
    instances: int
    outcome: str  # launched | already-running | no-capacity | quota | unsupported | ...
    code: str = ""
    message: str = ""
    instance_ids: tuple[str, ...] = ()
    cleaned_up: tuple[str, ...] = ()
    cleanup_failed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Leftover:
    """Something a failed attempt created that could not be removed: costs money."""

    provider: str
    region: str
    zone: str
    instance_ids: tuple[str, ...]
    error: str


@dataclass
class Outcome:
    launched: Launched | None = None
    choice: Choice | None = None
    spec: LaunchSpec | None = None
    history: list[Attempt] = field(default_factory=list)
    leftovers: list[Leftover] = field(default_factory=list)
    error: BackendError | None = None  # a non-retryable error that stopped the walk
    attempts_left: bool = True
    # SIGINT/SIGTERM stopped the walk; what this run had started is cleaned up (or kept) and
    # recorded in ``history`` / ``leftovers`` before the caller re-raises it
    interrupted: BaseException | None = None


def _attempt(choice: Choice, zone: str, outcome: str, **extra: object) -> Attempt:
    return Attempt(
        rank=choice.rank,
        provider=choice.provider,
        region=choice.region,
        zone=zone,
        instance_type=choice.instance_type,
        market=choice.market,
        instances=choice.instances,
        outcome=outcome,
        **extra,  # type: ignore[arg-type]
    )


def _classify(exc: RetryableLaunchError) -> str:
    if exc.code in _OUTCOMES:
        return _OUTCOMES[exc.code]
    return "quota" if exc.scope == "region" else "no-capacity"


def run_failover(
    choices: list[Choice],
    backend_for: Callable[[str], LaunchBackend],
    make_spec: Callable[[Choice, str], LaunchSpec],
    *,
    max_attempts: int,
    zone: str | None = None,
    on_attempt: Callable[[Attempt], None] | None = None,
    keep_on_interrupt: bool = False,
) -> Outcome:
    """Try ``choices`` in order, each in its zones, making at most ``max_attempts`` create
    calls. Only the given choices are ever tried: the caller passes the options that satisfy
    the user's constraints, in rank order.

    An interrupt (SIGINT/SIGTERM) ends the walk: whatever this run started is terminated
    (unless ``keep_on_interrupt``) and the outcome comes back with ``interrupted`` set."""
    outcome = Outcome()
    try:
        _walk(
            outcome,
            choices,
            backend_for,
            make_spec,
            max_attempts,
            zone,
            on_attempt,
            keep_on_interrupt,
        )
    except INTERRUPTS as exc:
        outcome.interrupted = exc
        launched, choice = outcome.launched, outcome.choice
        if launched is not None and not launched.reused and choice is not None:
            # it had started when the interrupt came: roll it back unless told to keep it
            cleaned: tuple[str, ...] = ()
            failed: tuple[str, ...] = ()
            if not keep_on_interrupt:
                backend = backend_for(choice.provider)
                ids = list(launched.instance_ids)
                cleaned, failed = _clean_up(backend, choice, launched.zone, ids, outcome)
                outcome.launched = None
            outcome.history.append(
                _attempt(
                    choice,
                    launched.zone,
                    "interrupted",
                    code=type(exc).__name__,
                    message="interrupted after it started"
                    + ("; kept running (--keep-on-interrupt)" if keep_on_interrupt else ""),
                    instance_ids=launched.instance_ids,
                    cleaned_up=cleaned,
                    cleanup_failed=failed,
                )
            )
    return outcome


def _walk(
    outcome: Outcome,
    choices: list[Choice],
    backend_for: Callable[[str], LaunchBackend],
    make_spec: Callable[[Choice, str], LaunchSpec],
    max_attempts: int,
    zone: str | None,
    on_attempt: Callable[[Attempt], None] | None,
    keep_on_interrupt: bool,
) -> Outcome:
    made = 0
    checked_regions: set[tuple[str, str]] = set()

    def record(attempt: Attempt) -> None:
        outcome.history.append(attempt)
        if on_attempt:
            on_attempt(attempt)

    for choice in choices:
        backend = backend_for(choice.provider)
        try:
            region_key = (choice.provider, choice.region)
            if region_key not in checked_regions:
                checked_regions.add(region_key)
                launch_key = make_spec(choice, zone or choice.region).launch_key
                existing = backend.find_existing(choice.region, launch_key)
                if existing is not None:
                    outcome.launched, outcome.choice = existing, choice
                    record(
                        _attempt(
                            choice,
                            existing.zone,
                            "already-running",
                            message="an earlier run with the same plan and --name started it",
                            instance_ids=existing.instance_ids,
                        )
                    )
                    return outcome
            zones = [zone] if zone else backend.zones(choice)
        except RetryableLaunchError as exc:
            record(_attempt(choice, "", _classify(exc), code=exc.code, message=exc.message))
            continue
        except BackendError as exc:
            record(_attempt(choice, "", "error", code=exc.code, message=exc.message))
            outcome.error = exc
            return outcome
        if not zones:
            record(
                _attempt(
                    choice,
                    "",
                    "not-offered",
                    message=f"{choice.instance_type} is offered in no zone of {choice.region}",
                )
            )
            continue
        for z in zones:
            if made >= max_attempts:
                outcome.attempts_left = False
                return outcome
            made += 1
            spec = make_spec(choice, z)
            try:
                launched = backend.create(spec)
            except RetryableLaunchError as exc:
                record(_attempt(choice, z, _classify(exc), code=exc.code, message=exc.message))
                if exc.scope == "region":
                    break
                continue
            except PartialLaunchError as exc:
                cause = exc.cause
                interrupted = isinstance(cause, INTERRUPTS)
                cleaned: tuple[str, ...] = ()
                failed: tuple[str, ...] = ()
                if not (interrupted and keep_on_interrupt):
                    cleaned, failed = _clean_up(backend, choice, z, exc.created, outcome)
                if isinstance(cause, RetryableLaunchError):
                    record(
                        _attempt(
                            choice,
                            z,
                            _classify(cause),
                            code=cause.code,
                            message=cause.message,
                            instance_ids=tuple(exc.created),
                            cleaned_up=cleaned,
                            cleanup_failed=failed,
                        )
                    )
                    if cause.scope == "region":
                        break
                    continue
                code = getattr(cause, "code", type(cause).__name__)
                message = getattr(cause, "message", str(cause))
                if interrupted:
                    code = type(cause).__name__
                    message = "interrupted while starting" + (
                        "; kept running (--keep-on-interrupt)" if keep_on_interrupt else ""
                    )
                outcome.history.append(  # not `record`: printing could be interrupted too
                    _attempt(
                        choice,
                        z,
                        "interrupted" if interrupted else "error",
                        code=str(code),
                        message=str(message),
                        instance_ids=tuple(exc.created),
                        cleaned_up=cleaned,
                        cleanup_failed=failed,
                    )
                )
                if interrupted:
                    if keep_on_interrupt:
                        outcome.leftovers.append(
                            Leftover(
                                choice.provider,
                                choice.region,
                                z,
                                tuple(exc.created),
                                "kept after the interrupt (--keep-on-interrupt)",
                            )
                        )
                    raise cause from None
                if on_attempt:
                    on_attempt(outcome.history[-1])
                outcome.error = (
                    cause
                    if isinstance(cause, BackendError)
                    else BackendError(str(code), str(message))
                )
                return outcome
            except BackendError as exc:
                record(_attempt(choice, z, "error", code=exc.code, message=exc.message))
                outcome.error = exc
                return outcome
            outcome.launched, outcome.choice, outcome.spec = launched, choice, spec
            record(_attempt(choice, z, "launched", instance_ids=launched.instance_ids))
            return outcome
    return outcome


def _clean_up(
    backend: LaunchBackend, choice: Choice, zone: str, created: list[str], outcome: Outcome
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Terminate what a failed attempt created; a failure here becomes a loud leftover."""
    if not created:
        return (), ()
    try:
        backend.terminate(choice.region, zone, list(created))
    except (Exception, KeyboardInterrupt, Interrupted) as exc:  # a 2nd Ctrl-C gives up, loudly
        reason = str(exc) if isinstance(exc, Exception) else "clean-up interrupted"
        outcome.leftovers.append(
            Leftover(choice.provider, choice.region, zone, tuple(created), reason)
        )
        return (), tuple(created)
    return tuple(created), ()
