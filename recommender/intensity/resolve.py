"""The ordered fallback: for each cloud region, the first source in the chain that answers.

Fallback is data: a list of sources tried in order, and for every region the series that
answered (or None: the static annual figure). Zones are shared between regions and fetched
concurrently (bounded); fresh cached series are used without a request; a source that fails
for a zone falls back to what it said before (if recent enough), else to the next source. Each
(source, reason) makes one warning line.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recommender.errors import BadInputError
from recommender.intensity import sources as _builtins  # noqa: F401  (registers the built-ins)
from recommender.intensity.model import SourceFault, Target, ZoneSeries, utc
from recommender.intensity.registry import FetchContext, IntensitySource, get_source
from recommender.intensity.settings import IntensitySettings, load_settings

if TYPE_CHECKING:
    from recommender.intensity.cache import IntensityCache, Key

Warn = Callable[[str], None]
PROGRESS_AFTER_S = 1.0
# Faults that mean the host itself is down: zones not yet asked fail fast with the same reason.
_HOST_DOWN = ("connection refused", "unreachable", "timeout")
_CREDENTIAL_HINTS = {
    "electricitymaps": "check ELECTRICITYMAPS_API_KEY (or electricitymaps_api_key in the "
    "config file), or use --intensity live to fall back quietly",
    "watttime": "check WATTTIME_USERNAME and WATTTIME_PASSWORD (or the config file), or use "
    "--intensity live to fall back quietly",
}


@dataclass(frozen=True)
class Chain:
    """The sources to try, in order (static, the last resort, is implicit)."""

    sources: tuple[IntensitySource, ...]
    explicit: frozenset[str]  # names the user typed: missing/wrong credentials are errors
    settings: IntensitySettings
    skipped: tuple[str, ...] = ()  # sources `live` left out because they are not configured
    # (source, why) for sources `live` left out because their credentials are set but unusable
    unusable: tuple[tuple[str, str], ...] = ()

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.sources]

    @property
    def is_static(self) -> bool:
        return not self.sources


def build_chain(spec: str, settings: IntensitySettings) -> Chain:
    """``static``, ``live`` or ``SOURCE[,SOURCE...]`` (``live`` may appear in a list) to a
    chain. A source named explicitly must be usable; ``live`` skips unconfigured ones."""
    names = [part.strip().lower() for part in spec.split(",") if part.strip()]
    if not names:
        raise BadInputError("--intensity needs a value", "static, live or SOURCE[,SOURCE...]")
    if settings.csv_file is not None and "csv" not in names:
        if names == ["static"]:
            names = ["csv"]
        else:
            names.insert(0, "csv")
    chosen: list[IntensitySource] = []
    explicit: set[str] = set()
    skipped: list[str] = []
    unusable: list[tuple[str, str]] = []
    for name in names:
        if name == "static":
            break  # everything after static is unreachable
        if name == "live":
            for live_name in settings.sources:
                source = get_source(live_name, settings)
                if source.name == "static" or source.name in [s.name for s in chosen]:
                    continue
                problem = source.credentials_problem()
                if problem is None:
                    chosen.append(source)
                elif problem.startswith(f"{source.name} needs"):  # not configured
                    if source.name not in skipped:
                        skipped.append(source.name)
                elif source.name not in [name for name, _ in unusable]:
                    unusable.append((source.name, problem))
            continue
        source = get_source(name, settings)
        problem = source.credentials_problem()
        if problem is not None:
            raise BadInputError(problem, _CREDENTIAL_HINTS.get(source.name, _setup_hint()))
        if source.name not in [s.name for s in chosen]:
            chosen.append(source)
            explicit.add(source.name)
    return Chain(tuple(chosen), frozenset(explicit), settings, tuple(skipped), tuple(unusable))


def _setup_hint() -> str:
    return "see the README section 'Live grid intensity' for each source's settings"


@dataclass
class Resolution:
    """What answered for each region, and what went wrong on the way."""

    answers: dict[str, ZoneSeries | None]  # target key -> series (None: static)
    # Every warning line, the cache's own included: a resolution made without ``warn`` (the
    # prefetch) carries them to whoever uses it.
    warnings: list[str] = field(default_factory=list)
    requests: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    zones_fetched: int = 0


def _scrub(message: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 3:
            message = message.replace(secret, "***")
    return message


def _progress(total: int, label: str) -> Any:
    """A transient progress bar on stderr (only on a terminal)."""
    if not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import Progress

    progress = Progress(console=Console(stderr=True), transient=True)
    progress.start()
    progress.add_task(label, total=total)
    return progress


def fetch_zones(
    source: IntensitySource,
    zones: Sequence[str],
    ctx: FetchContext,
    cache: IntensityCache | None,
    *,
    history: bool = False,
) -> dict[str, ZoneSeries | SourceFault]:
    """Each zone's series from the cache (within the TTL) or the source (concurrently), else
    its last cached series up to ``stale_max_s`` old, marked stale; else the fault.

    Single-flight among processes: a zone another process is fetching (it holds the lease in
    the cache) is not asked again; this waits for that answer, or that failure, in the cache,
    at most until the lease lapses (then fetches it itself)."""
    settings = ctx.settings
    use_cache = cache is not None and source.needs_network
    out: dict[str, ZoneSeries | SourceFault] = {}
    todo: list[str] = []
    for zone in zones:
        hit = (
            cache.load(source.name, zone, source.signal, ctx.now, settings.ttl_s, history=history)
            if use_cache and cache is not None
            else None
        )
        if hit is not None:
            out[zone] = hit
        else:
            todo.append(zone)
    if not todo:
        return out

    def key(zone: str) -> Key:
        return (source.name, zone, source.signal)

    shared = cache if use_cache else None
    # Long enough for the holder's slowest fetch (every attempt timing out, queued behind the
    # other zones for a worker); a lease that lapses early costs one more request, no more.
    per_fetch_s = (settings.timeout_s + settings.backoff_s + settings.retry_after_max_s) * (
        settings.retries + 1
    )
    lease_s = per_fetch_s * -(-len(todo) // max(1, settings.workers)) + 5.0
    fail_hold_s = min(_FAILURE_SHARED_S, settings.ttl_s)
    mine = shared.claim([key(z) for z in todo], lease_s) if shared else {key(z) for z in todo}
    waiting = [z for z in todo if key(z) not in mine]
    wait_until = time.monotonic() + lease_s + 1.0

    shared_fault: list[SourceFault] = []  # a fault every later zone would hit too
    lock = threading.Lock()

    def task(zone: str) -> ZoneSeries:
        with lock:
            if shared_fault:
                raise shared_fault[0]
        try:
            return source.fetch(zone, ctx, history=history)
        except SourceFault as fault:
            if fault.auth or fault.reason.startswith(_HOST_DOWN):
                with lock:
                    shared_fault.append(fault)
            raise

    workers = max(1, min(settings.workers, len(todo)))
    started = time.monotonic()
    progress = None
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=source.name)
    try:
        futures: dict[Future[ZoneSeries], str] = {
            pool.submit(task, z): z for z in todo if key(z) in mine
        }
        pending = set(futures)
        try:
            while pending or waiting:
                done, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
                if not done and not pending:
                    time.sleep(0.1)  # only waiting on other processes
                answered: list[ZoneSeries] = []
                failed: dict[Key, tuple[str, bool, bool]] = {}
                for future in done:
                    zone = futures[future]
                    try:
                        series = future.result()
                    except SourceFault as fault:
                        out[zone] = fault
                        failed[key(zone)] = (fault.reason, fault.auth, fault.access)
                    else:
                        out[zone] = series
                        answered.append(series)
                if shared is not None and done:
                    # Stored and released as they come, so waiting processes go on at once.
                    shared.store(answered)
                    shared.release([key(futures[f]) for f in done], failed, fail_hold_s)
                if waiting and shared is not None:
                    waiting, taken = _poll_others(
                        shared, waiting, key, ctx, history, out, lease_s, wait_until
                    )
                    for zone in taken:
                        future = pool.submit(task, zone)
                        futures[future] = zone
                        pending.add(future)
                if progress is None and pending and time.monotonic() - started > PROGRESS_AFTER_S:
                    progress = _progress(len(todo), f"fetching {source.name}")
                if progress is not None:
                    progress.update(
                        progress.task_ids[0], completed=len(todo) - len(pending) - len(waiting)
                    )
        finally:
            if shared is not None:  # an interrupt: let the other processes fetch
                shared.release([key(futures[f]) for f in pending])
    except BaseException:
        # Ctrl-C or SIGTERM: do not wait for requests in flight (up to the HTTP timeout);
        # the CLI abandons the worker threads when it exits.
        pool.shutdown(wait=False, cancel_futures=True)
        if progress is not None:
            progress.stop()
        raise
    pool.shutdown(wait=True)
    if progress is not None:
        progress.stop()
    if use_cache and cache is not None:
        for zone, result in list(out.items()):
            if isinstance(result, SourceFault):
                stale = cache.load(source.name, zone, source.signal, ctx.now, settings.stale_max_s)
                if stale is not None:
                    out[zone] = stale.as_stale(result.reason)
    return out


# How long a failed fetch stands for the processes that waited on it (at most the TTL): a
# failing API is asked once by a crowd of processes, and again by the next run.
_FAILURE_SHARED_S = 30.0


def _poll_others(
    cache: IntensityCache,
    waiting: list[str],
    key: Callable[[str], Key],
    ctx: FetchContext,
    history: bool,
    out: dict[str, ZoneSeries | SourceFault],
    lease_s: float,
    wait_until: float,
) -> tuple[list[str], list[str]]:
    """One look at the zones other processes are fetching: their answer from the cache (into
    ``out``), their failure (likewise), or the lease if it was given up or lapsed. The zones
    still waiting, and those to fetch now."""
    still: list[str] = []
    taken: list[str] = []
    for zone in waiting:
        source, _, signal = key(zone)
        hit = cache.load(
            source, zone, signal, ctx.now, ctx.settings.ttl_s, history=history, count=False
        )
        if hit is not None:
            out[zone] = hit
            continue
        lease = cache.lease_state(key(zone))
        if lease is not None and lease.state == "failed":
            out[zone] = SourceFault(lease.reason, auth=lease.auth, access=lease.access)
        elif lease is None and cache.claim([key(zone)], lease_s):
            taken.append(zone)
        elif time.monotonic() > wait_until:
            taken.append(zone)  # waited as long as a fetch may take: ask without the lease
        else:
            still.append(zone)
    return still, taken


def resolve(
    targets: Sequence[Target],
    chain: Chain,
    *,
    now: datetime | None = None,
    history: bool = False,
    cache: IntensityCache | None = None,
    ctx: FetchContext | None = None,
    warn: Warn | None = None,
) -> Resolution:
    """Try the chain's sources in order for every target; return each target's series."""
    settings = chain.settings
    ctx = ctx or FetchContext(settings=settings, now=utc(now or datetime.now(UTC)))
    own_cache = cache is None and any(s.needs_network for s in chain.sources)
    cache_notes: list[str] = []  # the cache's own warnings: part of the Resolution
    if own_cache:
        from recommender.intensity.cache import KEEP_S, IntensityCache

        keep_s = max(KEEP_S, settings.stale_max_s)
        cache = IntensityCache(warn=cache_notes.append, keep_s=keep_s)
    answers: dict[str, ZoneSeries | None] = {t.key: None for t in targets}
    faults: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)  # -> (key, zone)
    remaining = list(dict.fromkeys(targets))
    zones_fetched = 0
    uncovered: list[str] = []  # a source asked for by name that matched no region
    try:
        for source in chain.sources:
            by_zone: dict[str, list[Target]] = defaultdict(list)
            for target in remaining:
                zone = source.zone_for(target)
                if zone is not None:
                    by_zone[zone].append(target)
            if not by_zone:
                if source.name in chain.explicit and remaining:
                    covers = getattr(source, "coverage", lambda: "")()
                    uncovered.append(
                        f"{source.name}: covers none of the {_plural(len(remaining), 'region')} "
                        f"planned{f' ({covers})' if covers else ''}; "
                        f"{'it uses' if len(remaining) == 1 else 'they use'} the static figures"
                    )
                continue
            unused = getattr(source, "unused_zones", None)  # a trace's zones no region took
            spare = unused(by_zone) if unused is not None and source.name in chain.explicit else []
            if spare:
                more = f" and {len(spare) - 5} more" if len(spare) > 5 else ""
                uncovered.append(
                    f"{source.name}: {'zones' if len(spare) > 1 else 'zone'} "
                    f"{', '.join(spare[:5])}{more} "
                    f"{'match' if len(spare) > 1 else 'matches'} none of the "
                    f"{_plural(len(remaining), 'region')} planned and "
                    f"{'are' if len(spare) > 1 else 'is'} not used (a zone names "
                    "PROVIDER:REGION, an Electricity Maps zone or a WattTime region)"
                )
            results = fetch_zones(source, list(by_zone), ctx, cache, history=history)
            zones_fetched += len(by_zone)
            auth = [r for r in results.values() if isinstance(r, SourceFault) and r.auth]
            if auth and source.name in chain.explicit:
                raise BadInputError(
                    f"{source.name} rejected the credentials ({auth[0].reason})",
                    _CREDENTIAL_HINTS.get(source.name, _setup_hint()),
                )
            for zone, result in results.items():
                for target in by_zone[zone]:
                    if isinstance(result, SourceFault):
                        faults[(source.name, result.reason)].append((target.key, zone))
                        continue
                    if result.stale:
                        reason = result.notes[0] if result.notes else "failed"
                        faults[(source.name, reason)].append((target.key, zone))
                    answers[target.key] = result
            remaining = [t for t in remaining if answers[t.key] is None]
            if not remaining:
                break
    finally:
        ctx.close()
        if own_cache and cache is not None:
            cache.close()
    warnings = list(dict.fromkeys(cache_notes)) + uncovered + _warnings(faults, answers)
    secrets = settings.secrets()
    warnings = [_scrub(w, secrets) for w in warnings]
    if warn is not None:
        for line in warnings:
            warn(line)
    return Resolution(
        answers=answers,
        warnings=warnings,
        requests=ctx.requests_made,
        cache_hits=cache.hits if cache else 0,
        cache_misses=cache.misses if cache else 0,
        zones_fetched=zones_fetched,
    )


def _answer_name(series: ZoneSeries | None) -> str:
    if series is None:
        return "static"
    return f"cached {series.source}" if series.stale else series.source


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _warnings(
    faults: dict[tuple[str, str], list[tuple[str, str]]],
    answers: dict[str, ZoneSeries | None],
) -> list[str]:
    lines = []
    for (source, reason), hits in faults.items():
        if not hits:
            continue
        keys = list(dict.fromkeys(k for k, _ in hits))
        zones = sorted(set(z for _, z in hits))
        used: dict[str, int] = defaultdict(int)
        for key in keys:
            used[_answer_name(answers[key])] += 1
        using = " and ".join(
            f"{name} figures for {_plural(n, 'region')}"
            for name, n in sorted(used.items(), key=lambda item: (-item[1], item[0]))
        )
        detail = reason
        if "access" in reason or "coverage" in reason or len(zones) <= 3:
            shown = ", ".join(zones[:5]) + (", ..." if len(zones) > 5 else "")
            detail = f"{reason}; {_plural(len(zones), 'zone')}: {shown}"
        lines.append(f"{source} unavailable ({detail}): using {using}")
    return lines


def region_targets(frame: Any) -> list[Target]:
    """One :class:`Target` per distinct (provider, region) of a regions/options frame."""
    import pandas as pd

    cols = [
        c
        for c in (
            "provider",
            "region",
            "location",
            "country_code",
            "em_zone",
            "watttime_region",
            "lat",
            "lon",
            "gco2_per_kwh",
            "intensity_source",
            "intensity_year",
        )
        if c in frame.columns
    ]
    rows = frame[cols].drop_duplicates(["provider", "region"])

    def text(value: Any) -> str | None:
        return (
            None if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)
        )

    def number(value: Any) -> float | None:
        return None if value is None or pd.isna(value) else float(value)

    targets = []
    for rec in rows.to_dict("records"):
        year = rec.get("intensity_year")
        targets.append(
            Target(
                provider=str(rec["provider"]),
                region=str(rec["region"]),
                location=text(rec.get("location")) or "",
                country_code=text(rec.get("country_code")) or "",
                em_zone=text(rec.get("em_zone")),
                watttime_region=text(rec.get("watttime_region")),
                lat=number(rec.get("lat")),
                lon=number(rec.get("lon")),
                static_gco2_per_kwh=number(rec.get("gco2_per_kwh")),
                static_source=text(rec.get("intensity_source")) or "",
                static_year=None if year is None or pd.isna(year) else int(year),
            )
        )
    return targets


def fetch_series(
    targets: Sequence[Target],
    spec: str = "live",
    *,
    csv_file: Path | None = None,
    now: datetime | None = None,
    history: bool = False,
    warn: Warn | None = None,
    settings: IntensitySettings | None = None,
) -> Resolution:
    """Each region's intensity series (native resolution, with source and kind per point),
    from the first source of ``spec`` that answers. The time shifter builds on this."""
    settings = settings or load_settings(csv_file)
    return resolve(targets, build_chain(spec, settings), now=now, history=history, warn=warn)
