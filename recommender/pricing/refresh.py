"""``carbonplan data refresh``: fetch each provider's prices with a progress bar, write what
answered to the overlay, and report what did not."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from recommender.catalog import Catalog
from recommender.pricing.base import RegionResult, SourceFailure, Target, source_for
from recommender.pricing.store import Written, write_provider


@dataclass
class ProviderReport:
    provider: str
    source: str
    regions: int  # asked for
    refreshed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # region -> reason
    error: str | None = None  # the whole provider failed
    hint: str = ""
    written: Written | None = None
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.failed

    def as_dict(self) -> dict[str, Any]:
        written = self.written
        return {
            "provider": self.provider,
            "source": self.source,
            "regions_asked": self.regions,
            "regions_refreshed": sorted(self.refreshed),
            "regions_failed": dict(sorted(self.failed.items())),
            "error": self.error,
            "offers_refreshed": written.refreshed_offers if written else 0,
            "overlay_offers": written.offers if written else None,
            "overlay_file": str(written.path) if written else None,
            "skipped": dict(
                sorted({**self.skipped, **(written.dropped if written else {})}.items())
            ),
        }


def target_for(catalog: Catalog, provider: str, regions: Sequence[str] | None = None) -> Target:
    """The regions (all of the provider's in the catalog, or ``regions``) and the instance
    types the catalog knows for ``provider``."""
    offers = catalog.offers[catalog.offers["provider"] == provider]
    known_regions = catalog.regions[catalog.regions["provider"] == provider]["region"]
    wanted = tuple(regions) if regions else tuple(sorted(set(known_regions)))
    first = offers.drop_duplicates("instance_type")
    specs = {
        str(row.instance_type): (
            str(row.gpu),
            float(row.gpu_count),
            float(row.vcpus),
            float(row.memory_gib),
        )
        for row in first.itertuples(index=False)
    }
    offered = {
        str(region): frozenset(group["instance_type"].astype(str))
        for region, group in offers.groupby("region")
    }
    return Target(
        provider=provider,
        regions=wanted,
        instance_types=frozenset(specs),
        specs=specs,
        offered=offered,
    )


def refresh(
    catalog: Catalog,
    providers: Sequence[str],
    regions: dict[str, list[str]],
    console: Any,
    now: datetime | None = None,
) -> list[ProviderReport]:
    """Refresh ``providers`` (restricted to ``regions[provider]`` where given), one progress
    bar each; each provider's overlay is written as soon as its fetch ends."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    reports = []
    columns = (
        TextColumn("{task.fields[provider]:<6}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*columns, console=console, disable=not console.is_terminal) as bars:
        for provider in providers:
            target = target_for(catalog, provider, regions.get(provider))
            source = source_for(provider)
            report = ProviderReport(provider, source.label, len(target.regions))
            task = bars.add_task(
                "starting",
                total=len(target.regions) * source.steps_per_region,
                provider=provider,
            )

            def progress(label: str, advance: float, task: Any = task) -> None:
                bars.update(task, advance=advance, description=label)

            try:
                results: list[RegionResult] = source.fetch(target, progress)
            except SourceFailure as exc:
                report.error, report.hint = exc.message, exc.hint
                bars.update(task, description=f"failed: {exc.message}")
                reports.append(report)
                continue
            for result in results:
                if result.error is None:
                    report.refreshed.append(result.region)
                else:
                    report.failed[result.region] = result.error
                for reason, n in result.skipped.items():
                    report.skipped[reason] = report.skipped.get(reason, 0) + n
            report.written = write_provider(
                provider, source.label, results, now or datetime.now(UTC)
            )
            bars.update(
                task,
                completed=len(target.regions) * source.steps_per_region,
                description=f"{len(report.refreshed)} region(s) refreshed"
                + (f", {len(report.failed)} failed" if report.failed else ""),
            )
            reports.append(report)
    return reports
