"""``carbonplan launch``, ``instances`` and ``down``: start the chosen option on AWS or GCP
(dry run unless ``--yes``), with failover down the ranking; list and stop what was started.

The job comes from the same flags as ``suggest`` (through ``plan_options``) or from a saved
``suggest --format json`` given with ``--from``. Module import stays light: the launch
package, pandas and the cloud SDKs are imported inside the commands.
"""

from __future__ import annotations

import getpass
import json
import re
import sys
from dataclasses import asdict, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import click
import typer
from click.core import ParameterSource

from recommender.cliopts import (
    Format,
    FormatOpt,
    PlanArgs,
    build_request,
    console,
    emit,
    no_empty_names,
    plan_options,
    split_values,
)
from recommender.errors import BadInputError

if TYPE_CHECKING:
    from recommender.launch import Choice, InstanceInfo, LaunchBackend, LaunchSpec

_PLAN_FIELDS = {f.name for f in fields(PlanArgs)}
_NAME_RE = re.compile(r"^[a-z]([-a-z0-9]{0,56}[a-z0-9])?$")
DEFAULT_DISK_GB = 200
DEFAULT_MAX_ATTEMPTS = 6

ProfileOpt = Annotated[
    str | None,
    typer.Option("--profile", help="AWS named profile (default: boto3's credential chain)."),
]
ProjectOpt = Annotated[
    str | None,
    typer.Option(
        "--project", help="GCP project (default: GOOGLE_CLOUD_PROJECT or the ADC project)."
    ),
]


def _plan_flags_given() -> list[str]:
    ctx = click.get_current_context()
    return [
        max(p.opts, key=len)
        for p in ctx.command.params
        if p.name in _PLAN_FIELDS
        and ctx.get_parameter_source(p.name) is ParameterSource.COMMANDLINE
    ]


# --- the ranked options ---------------------------------------------------------------------


def _choice(record: dict[str, Any]) -> Choice:
    from recommender.launch import Choice

    count = record.get("gpus_per_instance", record.get("gpu_count", 0))
    return Choice(
        rank=int(record["rank"]),
        provider=str(record["provider"]),
        region=str(record["region"]),
        instance_type=str(record["instance_type"]),
        market=str(record["market"]),
        gpu=str(record["gpu"]),
        gpus_per_instance=int(float(count or 0)),
        instances=int(record["instances"]),
        usd_per_hour=float(record["usd_per_hour"]),
        wall_hours=float(record["wall_hours"]),
        cost_usd=float(record["cost_usd"]),
        kgco2e=float(record["kgco2e"]),
        start=str(record["start"]) if record.get("start") else None,
    )


def _later_start_notes(eligible: list[Choice]) -> list[str]:
    """launch starts machines now; say so when the plan chose a later, cleaner start."""
    from datetime import UTC, datetime, timedelta

    if not eligible or not eligible[0].start:
        return []
    try:
        start = datetime.fromisoformat(eligible[0].start.replace("Z", "+00:00"))
    except ValueError:
        return []
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    if start <= datetime.now(UTC) + timedelta(minutes=10):
        return []
    return [
        f"the plan's cleanest start for {eligible[0].label} is {eligible[0].start}, but launch "
        "starts machines now: run it then for the planned emissions (the estimates tagged "
        "assume the planned window)"
    ]


def _choices_from_plan(plan_args: PlanArgs) -> tuple[list[Choice], str]:
    from recommender.launch.base import short_hash
    from recommender.reports.records import option_records

    request = build_request(plan_args)
    result = request.run(top=None)
    identity = {k: getattr(v, "value", v) for k, v in asdict(plan_args).items()}
    plan_id = short_hash(json.dumps(identity, sort_keys=True, default=str))
    return [_choice(r) for r in option_records(result.options)], plan_id


def _choices_from_file(path: Path) -> tuple[list[Choice], str]:
    from recommender import planfile
    from recommender.launch.base import short_hash

    raw = planfile.read_bytes(path)
    document = planfile.parse(raw, str(path))  # every option checked: one error naming it
    return [_choice(o) for o in document["options"]], short_hash(raw.hex())


def _image_provider(image: str) -> str:
    return "aws" if image.startswith(("ami-", "resolve:ssm:")) else "gcp"


def _eligible(
    choices: list[Choice], rank: int | None, zone: str | None, image: str | None
) -> tuple[list[Choice], list[str]]:
    """The options launch may try, in rank order, and notes on what was left out and why."""
    from recommender.launch import UNSUPPORTED, launchable_providers

    notes: list[str] = []
    providers = set(launchable_providers())
    if rank is not None:
        picked = [c for c in choices if c.rank == rank]
        if not picked:
            known = sorted(c.rank for c in choices)
            raise BadInputError(
                f"--rank {rank} is not in the plan (ranks {known[0]}..{known[-1]})",
                "run 'carbonplan suggest' with the same flags to see the ranks",
            )
        if picked[0].provider not in providers:
            raise BadInputError(
                f"rank {rank} is on {picked[0].provider}",
                UNSUPPORTED.get(picked[0].provider, "choose another --rank"),
            )
        choices = [c for c in choices if c.rank >= rank]
    skipped = sorted({c.provider for c in choices if c.provider not in providers})
    for provider in skipped:
        ranks = [str(c.rank) for c in choices if c.provider == provider]
        shown = ", ".join(ranks[:5]) + (", ..." if len(ranks) > 5 else "")
        notes.append(
            f"skipped {len(ranks)} {provider} option(s) (rank {shown}): "
            + UNSUPPORTED.get(provider, "no launch backend")
        )
    eligible = [c for c in choices if c.provider in providers]
    if image:
        wanted = _image_provider(image)
        kept = [c for c in eligible if c.provider == wanted]
        if len(kept) < len(eligible):
            notes.append(f"--image {image} is a {wanted} image: only {wanted} options are tried")
        eligible = kept
    if zone:
        kept = [c for c in eligible if zone.startswith(c.region + "-") or zone[:-1] == c.region]
        if len(kept) < len(eligible):
            notes.append(f"--zone {zone}: only options in its region are tried")
        eligible = kept
    if not eligible:
        raise BadInputError(
            "no option in the plan can be launched"
            + (" in --zone " + zone if zone else "")
            + (" with --image " + image if image else ""),
            "carbonplan launches on aws and gcp: widen --provider/--region, or drop --zone/--image",
        )
    return eligible, notes


# --- launch ---------------------------------------------------------------------------------


class _Specs:
    """Builds the LaunchSpec for (choice, zone) from the command's flags."""

    def __init__(
        self,
        *,
        plan_id: str,
        name: str,
        image: str | None,
        disk_gb: int,
        key_name: str | None,
        ssh_key: str | None,
        backend_for: Any,
    ) -> None:
        from recommender.launch.base import short_hash

        self.plan_id = plan_id
        self.name = name
        self.image = image
        self.disk_gb = disk_gb
        self.key_name = key_name
        self.ssh_key = ssh_key
        self.backend_for = backend_for
        self.launch_key = short_hash(plan_id, name, length=16)

    def __call__(self, choice: Choice, zone: str) -> LaunchSpec:
        from recommender.launch import LaunchSpec

        backend = self.backend_for(choice.provider)
        return LaunchSpec(
            choice=choice,
            zone=zone,
            name=self.name,
            image=self.image or backend.default_image(),
            disk_gb=self.disk_gb,
            plan_id=self.plan_id,
            launch_key=self.launch_key,
            key_name=self.key_name if choice.provider == "aws" else None,
            ssh_key=self.ssh_key if choice.provider == "gcp" else None,
        )


def _read_ssh_key(value: str | None) -> str | None:
    """--ssh-key PATH (a .pub file) or the key itself -> GCP's "USER:KEY" metadata value."""
    if not value:
        return None
    path = Path(value).expanduser()
    key = path.read_text(encoding="utf-8").strip() if path.is_file() else value.strip()
    if not key.startswith(("ssh-", "ecdsa-", "sk-")):
        raise BadInputError(
            f"--ssh-key {value} is neither a public key file nor a public key",
            "pass e.g. ~/.ssh/id_ed25519.pub",
        )
    return f"{getpass.getuser()}:{key}"


def _money(value: float) -> str:
    return f"${value:,.2f}"


def _choice_record(choice: Choice) -> dict[str, Any]:
    return {
        "rank": choice.rank,
        "provider": choice.provider,
        "region": choice.region,
        "instance_type": choice.instance_type,
        "market": choice.market,
        "gpu": choice.gpu,
        "gpus_per_instance": choice.gpus_per_instance,
        "instances": choice.instances,
        "usd_per_hour": choice.usd_per_hour,
        "wall_hours": round(choice.wall_hours, 6),
        "cost_usd": round(choice.cost_usd, 6),
        "kgco2e": round(choice.kgco2e, 6),
    }


def _zones_for(backend: LaunchBackend, choice: Choice, zone: str | None) -> tuple[list[str], str]:
    """Zones to try and where they came from; a failed read-only lookup becomes a note."""
    from recommender.launch.base import BackendError, RetryableLaunchError

    if zone:
        return [zone], "--zone"
    source = "DescribeInstanceTypeOfferings" if choice.provider == "aws" else "data/gcp_zones.csv"
    try:
        return backend.zones(choice), source
    except (BackendError, RetryableLaunchError) as exc:
        return [], f"not checked ({exc})"


def _dry_run(
    eligible: list[Choice],
    specs: _Specs,
    zone: str | None,
    max_attempts: int,
    notes: list[str],
    fmt: Format,
) -> None:
    from recommender.launch.base import BackendError

    first = eligible[0]
    backend = specs.backend_for(first.provider)
    zones, zone_source = _zones_for(backend, first, zone)
    spec = specs(first, zones[0] if zones else f"<a zone of {first.region}>")
    try:
        request: dict[str, Any] | None = backend.request(spec)
    except BackendError as exc:
        request = None
        notes.append(f"request not fully resolved: {exc}")
    failover: list[dict[str, Any]] = []
    budget = max_attempts
    for choice in eligible:
        if budget <= 0:
            break
        these = (
            zones
            if choice is first
            else _zones_for(specs.backend_for(choice.provider), choice, zone)[0]
        )
        tried = these[:budget] if these else []
        budget -= max(len(tried), 1 if not these else 0)
        failover.append({**_choice_record(choice), "zones": tried})
    document = {
        "dry_run": True,
        "plan_id": specs.plan_id,
        "name": specs.name,
        "option": _choice_record(first),
        "zones": zones,
        "zones_source": zone_source,
        "image": spec.image,
        "disk_gb": spec.disk_gb,
        "tags": spec.tags,
        "request": request,
        "api_calls": backend.api_calls(spec),
        "failover": failover,
        "max_attempts": max_attempts,
        "notes": notes,
    }
    if fmt is not Format.table:
        rows = [
            {k: v for k, v in r.items() if k != "zones"} | {"zones": ";".join(r["zones"])}
            for r in failover
        ]
        emit(fmt, document, rows)
        return
    out = console()
    c = first
    out.print("Dry run: nothing is created. Add --yes to launch.\n")
    out.print(
        f"Would launch   rank {c.rank}: {c.provider}:{c.region} {c.instance_type} ({c.market})"
    )
    out.print(f"  GPUs         {c.gpus_per_instance} x {c.gpu} per instance")
    out.print(f"  instances    {c.instances}")
    out.print(f"  zone         {', '.join(zones) or '-'}  [{zone_source}; tried in this order]")
    out.print(f"  image        {spec.image}")
    out.print(f"  disk         {spec.disk_gb} GB boot disk, deleted with the instance")
    out.print(f"  name         {spec.name}")
    out.print(
        f"  estimate     {_money(c.usd_per_hour)}/h per instance; {c.wall_hours:,.1f} h;"
        f" {_money(c.cost_usd)} and {c.kgco2e:,.3g} kg CO2e for the job"
    )
    label = "tags" if c.provider == "aws" else "labels+metadata"
    out.print(f"  {label:<12} " + ", ".join(f"{k}={v}" for k, v in spec.tags.items()))
    if request is not None:
        out.print("\nRequest:")
        out.print(json.dumps(request, indent=2))
    out.print("\nAPI calls with --yes:")
    for i, call in enumerate(document["api_calls"], start=1):
        out.print(f"  {i}. {call}")
    out.print(f"\nFailover order (at most --max-attempts {max_attempts} create calls):")
    for r in failover:
        out.print(
            f"  rank {r['rank']}: {r['provider']}:{r['region']} {r['instance_type']}"
            f" ({r['market']}) x{r['instances']}, {_money(r['cost_usd'])},"
            f" {r['kgco2e']:,.3g} kg; zones {', '.join(r['zones']) or '-'}"
        )
    for note in notes:
        out.print(f"note: {note}")


def _attempt_records(history: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            **{k: v for k, v in asdict(a).items() if not isinstance(v, tuple)},
            "instance_ids": ";".join(a.instance_ids),
            "cleaned_up": ";".join(a.cleaned_up),
            "cleanup_failed": ";".join(a.cleanup_failed),
        }
        for a in history
    ]


def _run_launch(
    eligible: list[Choice],
    specs: _Specs,
    zone: str | None,
    max_attempts: int,
    notes: list[str],
    fmt: Format,
    keep_on_interrupt: bool = False,
) -> None:
    from recommender.launch import LaunchFailedError, run_failover

    err = console_err()

    def progress(a: Any) -> None:
        where = f"{a.provider}:{a.zone or a.region}"
        detail = f" ({a.code})" if a.code else ""
        err.print(f"rank {a.rank} {where} {a.instance_type} {a.market}: {a.outcome}{detail}")

    for note in notes:
        err.print(f"note: {note}")
    outcome = run_failover(
        eligible,
        specs.backend_for,
        specs,
        max_attempts=max_attempts,
        zone=zone,
        on_attempt=progress if fmt is Format.table else None,
        keep_on_interrupt=keep_on_interrupt,
    )
    if outcome.interrupted is not None:
        _report_interrupted(outcome, specs, err)
        raise outcome.interrupted
    history = _attempt_records(outcome.history)
    leftovers = [asdict(x) for x in outcome.leftovers]
    launched = outcome.launched
    document = {
        "dry_run": False,
        "plan_id": specs.plan_id,
        "name": specs.name,
        "launched": None
        if launched is None
        else {
            **_choice_record(outcome.choice),  # type: ignore[arg-type]
            "zone": launched.zone,
            "instance_ids": list(launched.instance_ids),
            "ids": [f"{launched.provider}:{launched.zone}/{i}" for i in launched.instance_ids],
            "already_running": launched.reused,
        },
        "history": history,
        "leftovers": leftovers,
        "notes": notes,
    }
    if fmt is Format.table:
        _render_history(outcome.history)
        if launched is not None:
            ids = " ".join(
                f"{launched.provider}:{launched.zone}/{i}" for i in launched.instance_ids
            )
            verb = "Already running (not launched again)" if launched.reused else "Launched"
            console().print(
                f"{verb}: {ids}\n  see them: carbonplan instances --provider {launched.provider}"
                f"\n  stop them: carbonplan down {ids}"
            )
    else:
        emit(fmt, document, history)
    for left in outcome.leftovers:
        ids = " ".join(left.instance_ids)
        err.print(
            f"WARNING: CLEANUP FAILED - still running and costing money: {left.provider}:"
            f"{left.zone} {ids} ({left.error}).\n  terminate them by hand: carbonplan down "
            + " ".join(f"{left.provider}:{left.zone}/{i}" for i in left.instance_ids)
            + " --yes"
        )
    if launched is None:
        if outcome.error is not None:
            raise LaunchFailedError(
                f"launch stopped: {outcome.error.code}: {outcome.error.message}",
                outcome.error.hint or None,
            )
        tried = sum(1 for a in outcome.history if a.zone)
        reason = (
            f"--max-attempts {max_attempts} reached"
            if not outcome.attempts_left
            else f"every eligible option failed ({tried} attempts)"
        )
        raise LaunchFailedError(
            f"nothing was launched: {reason}",
            "raise --max-attempts, widen the constraints, or try again later",
        )


def _report_interrupted(outcome: Any, specs: _Specs, err: Any) -> None:
    """After SIGINT/SIGTERM: what this run started, what became of it, and what the cloud
    lists now under this run's launch key (on stderr; the caller then exits 130/143)."""
    from recommender.launch.base import TAG_KEY

    err.print("interrupted: stopping the launch")
    started = [a for a in outcome.history if a.instance_ids and a.outcome != "already-running"]
    for a in started:
        for i in a.instance_ids:
            what = (
                "terminated"
                if i in a.cleaned_up
                else "CLEANUP FAILED - still running"
                if i in a.cleanup_failed
                else "kept running"
            )
            err.print(f"  started {a.provider}:{a.zone}/{i}: {what}")
    if not started:
        err.print("  nothing was started by this run")
    for left in outcome.leftovers:
        err.print(
            f"WARNING: still running and costing money: {left.provider}:{left.zone} "
            f"{' '.join(left.instance_ids)} ({left.error}).\n  terminate them: carbonplan down "
            + " ".join(f"{left.provider}:{left.zone}/{i}" for i in left.instance_ids)
            + " --yes"
        )
    regions = sorted({(a.provider, a.region) for a in started})
    for provider, region in regions:
        try:
            found = specs.backend_for(provider).list_instances([region])
        except Exception as exc:  # the listing is a courtesy; the lines above stand
            err.print(f"  could not list {provider}:{region} ({_first_line(exc)})")
            continue
        mine = [i for i in found if i.tags.get(TAG_KEY) == specs.launch_key]
        states = ", ".join(f"{i.qualified_id} {i.state}" for i in mine) or "none"
        err.print(f"  {provider}:{region} now lists from this launch: {states}")


def console_err() -> Any:
    from rich.console import Console

    return Console(stderr=True, highlight=False, markup=False, emoji=False, soft_wrap=True)


def _render_history(history: list[Any]) -> None:
    from rich.table import Table

    table = Table(title="Launch attempts", header_style="bold")
    for col in ("rank", "cloud", "region", "zone", "instance", "market", "outcome", "detail"):
        table.add_column(col)
    for a in history:
        detail = f"{a.code}: {a.message}" if a.code else a.message
        if a.cleaned_up:
            detail += f" [cleaned up: {' '.join(a.cleaned_up)}]"
        if a.cleanup_failed:
            detail += f" [CLEANUP FAILED: {' '.join(a.cleanup_failed)}]"
        table.add_row(
            str(a.rank),
            a.provider,
            a.region,
            a.zone or "-",
            a.instance_type,
            a.market,
            a.outcome,
            detail[:160],
        )
    console().print(table)


@plan_options
def launch(
    plan_args: PlanArgs,
    from_: Annotated[
        Path | None,
        typer.Option(
            "--from", help="A saved 'suggest --format json' plan instead of the job flags."
        ),
    ] = None,
    rank: Annotated[
        int | None,
        typer.Option(
            "--rank",
            help="Start at this rank of the plan [default: the best option carbonplan can "
            "launch (aws or gcp)]; failover continues down the ranking.",
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--name", help="Job/instance name [default: carbonplan-<plan id>]."),
    ] = None,
    image: Annotated[
        str | None,
        typer.Option(
            "--image",
            help="Boot image: an AMI id (AWS) or a GCP image/family path [default: the cloud's "
            "GPU deep-learning image].",
        ),
    ] = None,
    key_name: Annotated[
        str | None, typer.Option("--key-name", help="AWS: an existing EC2 key pair for SSH.")
    ] = None,
    ssh_key: Annotated[
        str | None,
        typer.Option("--ssh-key", help="GCP: a public key file (or key) added for SSH."),
    ] = None,
    disk_gb: Annotated[
        int, typer.Option("--disk-gb", help="Boot disk size in GB.")
    ] = DEFAULT_DISK_GB,
    zone: Annotated[
        str | None,
        typer.Option(
            "--zone", help="Only this zone (GCP zone or AWS availability zone) [default: all]."
        ),
    ] = None,
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Really launch (costs money). Without it: a dry run.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only show what would be requested (the default).")
    ] = False,
    max_attempts: Annotated[
        int,
        typer.Option("--max-attempts", help="Most create calls across zones and options."),
    ] = DEFAULT_MAX_ATTEMPTS,
    fmt: FormatOpt = Format.table,
    keep_on_interrupt: Annotated[
        bool,
        typer.Option(
            "--keep-on-interrupt",
            help="On Ctrl-C or SIGTERM, keep what this run already started (by default it is "
            "terminated before carbonplan exits).",
        ),
    ] = False,
) -> None:
    """Start the chosen option on AWS or GCP (dry run unless --yes), failing over down the
    ranking when a zone has no capacity."""
    from recommender.launch import BackendOptions, get_backend

    if yes and dry_run:
        raise BadInputError("--yes and --dry-run contradict each other", "give one")
    if from_ is not None:
        given = _plan_flags_given()
        if given:
            raise BadInputError(
                f"--from launches a saved plan; it cannot be combined with {', '.join(given)}",
                "drop those flags, or drop --from to plan the job again",
            )
    elif plan_args.gpu_hours is None:
        raise BadInputError(
            "launch needs the job: --gpu-hours H, or --from plan.json",
            "e.g. carbonplan launch --gpu-hours 400 --provider aws,gcp",
        )
    if max_attempts < 1 or max_attempts > 100:
        raise BadInputError(f"--max-attempts must be between 1 and 100, got {max_attempts}")
    if disk_gb < 10 or disk_gb > 65536:
        raise BadInputError(f"--disk-gb must be between 10 and 65536, got {disk_gb}")
    if rank is not None and rank < 1:
        raise BadInputError(f"--rank must be >= 1, got {rank}")

    choices, plan_id = (
        _choices_from_file(from_) if from_ is not None else _choices_from_plan(plan_args)
    )
    job_name = name or f"carbonplan-{plan_id[:8]}"
    if not _NAME_RE.match(job_name):
        raise BadInputError(
            f"--name {job_name!r} is not a valid instance name",
            "use 1-58 lower-case letters, digits and '-', starting with a letter",
        )
    eligible, notes = _eligible(choices, rank, zone, image)
    notes.extend(_later_start_notes(eligible))
    if from_ is not None:
        notes.append(f"options from {from_}: only the options saved in it are tried")

    options = BackendOptions(profile=profile, project=project)
    backends: dict[str, LaunchBackend] = {}

    def backend_for(provider: str) -> LaunchBackend:
        if provider not in backends:
            backends[provider] = get_backend(provider, options)
        return backends[provider]

    specs = _Specs(
        plan_id=plan_id,
        name=job_name,
        image=image,
        disk_gb=disk_gb,
        key_name=key_name,
        ssh_key=_read_ssh_key(ssh_key),
        backend_for=backend_for,
    )
    if not yes:
        _dry_run(eligible, specs, zone, max_attempts, notes, fmt)
        return
    _run_launch(eligible, specs, zone, max_attempts, notes, fmt, keep_on_interrupt)


# --- instances and down ---------------------------------------------------------------------


def _scope(provider: list[str] | None, region: list[str] | None) -> dict[str, list[str] | None]:
    """{provider: regions (None = all)} for instances/down."""
    from recommender.catalog import load_catalog, parse_region, resolve_provider
    from recommender.launch import launchable_providers

    catalog = load_catalog()
    providers = [resolve_provider(p) for p in split_values(provider)] or launchable_providers()
    for p in providers:
        if p not in launchable_providers():
            from recommender.launch import get_backend

            get_backend(p)  # raises the "cannot launch on azure" error
    pairs = [parse_region(r, catalog.regions) for r in split_values(region)]
    scope: dict[str, list[str] | None] = {}
    for p in providers:
        wanted = [r for q, r in pairs if q == p]
        if pairs and not wanted:
            continue
        if wanted:
            scope[p] = wanted
        elif p == "aws":  # EC2 is regional: ask every region carbonplan can plan for
            offers = catalog.offers
            scope[p] = sorted(set(offers.loc[offers["provider"] == "aws", "region"]))
        else:
            scope[p] = None
    return scope


def _collect(
    scope: dict[str, list[str] | None], options: Any, explicit: bool
) -> tuple[list[InstanceInfo], list[str]]:
    """List instances per provider; a provider the user did not name explicitly that fails
    (no credentials, no project) becomes a note instead of an error, unless no provider at all
    could be asked: then an empty list would read as "nothing is running", so it is an error."""
    from recommender.launch import LaunchFailedError, get_backend
    from recommender.launch.base import BackendError

    found: list[InstanceInfo] = []
    notes: list[str] = []
    failures: list[tuple[str, BackendError | BadInputError]] = []
    for provider, regions in scope.items():
        try:
            found += get_backend(provider, options).list_instances(regions)
        except (BackendError, BadInputError) as exc:
            if explicit:
                if isinstance(exc, BadInputError):
                    raise
                raise LaunchFailedError(
                    f"{provider}: cannot list instances: {exc}", exc.hint or None
                ) from exc
            failures.append((provider, exc))
            notes.append(f"{provider}: skipped ({_first_line(exc)})")
    if failures and len(failures) == len(scope):
        reasons = "; ".join(f"{p}: {_first_line(exc)}" for p, exc in failures)
        hints = [exc.hint for _, exc in failures if exc.hint]
        raise LaunchFailedError(
            f"cannot list instances: no cloud could be asked ({reasons})",
            "; or ".join(hints) or "configure credentials for aws or gcp (see the README)",
        )
    return found, notes


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _float(tags: dict[str, str], key: str) -> float | None:
    try:
        return float(tags[key])
    except (KeyError, ValueError):
        return None


def _instance_record(info: InstanceInfo, now: datetime) -> dict[str, Any]:
    from recommender.launch import base as B

    elapsed = None
    if info.launched_at:
        started = datetime.fromisoformat(info.launched_at.replace("Z", "+00:00"))
        elapsed = max((now - started).total_seconds() / 3600.0, 0.0)
    usd_h = _float(info.tags, B.TAG_USD_PER_HOUR)
    kg_h = _float(info.tags, B.TAG_KG_PER_HOUR)
    return {
        "id": info.qualified_id,
        "provider": info.provider,
        "region": info.region,
        "zone": info.zone,
        "instance_id": info.instance_id,
        "name": info.name,
        "instance_type": info.instance_type,
        "market": info.market,
        "state": info.state,
        "launched_at": info.launched_at,
        "elapsed_hours": None if elapsed is None else round(elapsed, 4),
        "usd_per_hour": usd_h,
        "elapsed_cost_usd": None if elapsed is None or usd_h is None else round(usd_h * elapsed, 4),
        "elapsed_kgco2e": None if elapsed is None or kg_h is None else round(kg_h * elapsed, 6),
        "estimated_wall_hours": _float(info.tags, B.TAG_WALL_HOURS),
        "job_estimated_cost_usd": _float(info.tags, B.TAG_USD),
        "job_estimated_kgco2e": _float(info.tags, B.TAG_KG),
        "plan_id": info.tags.get(B.TAG_MARK),
    }


def instances(
    provider: Annotated[
        list[str] | None,
        typer.Option(
            "--provider",
            help="Only these clouds: aws, gcp [default: both].",
            callback=no_empty_names,
        ),
    ] = None,
    region: Annotated[
        list[str] | None,
        typer.Option(
            "--region",
            help="Only these regions, as PROVIDER:REGION (repeatable).",
            callback=no_empty_names,
        ),
    ] = None,
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """List instances carbonplan launched (found by tag/label) with their estimated and
    elapsed cost and emissions."""
    from recommender.launch import BackendOptions

    options = BackendOptions(profile=profile, project=project)
    scope = _scope(provider, region)
    found, notes = _collect(scope, options, explicit=bool(provider or region))
    now = datetime.now(UTC)
    records = sorted(
        (_instance_record(i, now) for i in found), key=lambda r: (r["provider"], r["id"])
    )
    if fmt is not Format.table:
        emit(fmt, {"instances": records, "notes": notes}, records)
        return
    _render_instances(records)
    err = console_err()
    for note in notes:
        err.print(f"note: {note}")


def _render_instances(records: list[dict[str, Any]]) -> None:
    from rich.table import Table

    def num(value: Any, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    table = Table(title=f"{len(records)} carbonplan instance(s)", header_style="bold")
    for col, justify in [
        ("id", "left"),
        ("name", "left"),
        ("instance", "left"),
        ("market", "left"),
        ("state", "left"),
        ("hours", "right"),
        ("$ so far", "right"),
        ("kg so far", "right"),
        ("est. hours", "right"),
        ("est. $ (job)", "right"),
        ("est. kg (job)", "right"),
    ]:
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in records:
        table.add_row(
            r["id"],
            r["name"],
            r["instance_type"],
            r["market"],
            r["state"],
            num(r["elapsed_hours"], ".2f"),
            num(r["elapsed_cost_usd"], ",.2f"),
            num(r["elapsed_kgco2e"], ".3g"),
            num(r["estimated_wall_hours"], ".1f"),
            num(r["job_estimated_cost_usd"], ",.2f"),
            num(r["job_estimated_kgco2e"], ".3g"),
        )
    console().print(table)


def down(
    ids: Annotated[
        list[str],
        typer.Argument(
            help="Instances to terminate: ids as 'carbonplan instances' prints them "
            "(aws:ZONE/i-..., gcp:ZONE/NAME) or bare instance ids/names."
        ),
    ],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Terminate instances carbonplan launched (and only those)."""
    from recommender.launch import BackendOptions, LaunchFailedError, get_backend

    options = BackendOptions(profile=profile, project=project)
    qualified = [i for i in ids if ":" in i and "/" in i]
    providers = sorted({i.split(":", 1)[0] for i in qualified})
    explicit = bool(providers) and len(qualified) == len(ids)
    scope = _scope(providers or None, None)
    if explicit:  # qualified ids name their region: ask only there
        for p in providers:
            zones = {i.split(":", 1)[1].split("/", 1)[0] for i in qualified if i.startswith(p)}
            if p == "aws":
                scope[p] = sorted({z[:-1] if z[-1].isalpha() else z for z in zones})
    found, notes = _collect(scope, options, explicit=explicit)
    by_id = {i.qualified_id: i for i in found} | {i.instance_id: i for i in found}
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        raise BadInputError(
            f"not a running carbonplan instance: {', '.join(unknown)}",
            "'carbonplan instances' lists what carbonplan launched; down touches nothing else",
        )
    targets = list({by_id[i].qualified_id: by_id[i] for i in ids}.values())
    err = console_err()
    for note in notes:
        err.print(f"note: {note}")
    if not yes:
        if not sys.stdin.isatty():
            raise BadInputError(
                "down needs confirmation", "add --yes when not running interactively"
            )
        listing = "\n".join(f"  {t.qualified_id} ({t.name}, {t.instance_type})" for t in targets)
        typer.confirm(f"Terminate {len(targets)} instance(s)?\n{listing}\n", abort=True)
    groups: dict[tuple[str, str, str], list[str]] = {}
    for t in targets:
        groups.setdefault((t.provider, t.region, t.zone), []).append(t.instance_id)
    results: list[dict[str, str]] = []
    failed: list[str] = []
    for (provider, region_name, zone_name), names in groups.items():
        try:
            get_backend(provider, options).terminate(region_name, zone_name, names)
            status = "terminating"
        except Exception as exc:
            status = f"FAILED: {exc}"
            failed.extend(f"{provider}:{zone_name}/{n}" for n in names)
        results += [
            {"id": f"{provider}:{zone_name}/{n}", "instance_id": n, "status": status} for n in names
        ]
    if fmt is Format.table:
        out = console()
        for r in results:
            out.print(f"{r['id']}: {r['status']}")
    else:
        emit(fmt, {"terminated": results}, results)
    if failed:
        raise LaunchFailedError(
            f"could not terminate {', '.join(failed)}",
            "they are still running and cost money: retry, or use the cloud console",
        )
