"""``carbonplan data refresh|status``: fetch current prices from the clouds' own APIs into the
user's overlay (never the packaged data), and show where every price comes from and how old
it is."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any

import typer

from recommender.cliopts import Format, FormatOpt, console, emit, no_empty_names, split_values, warn
from recommender.errors import BadInputError, SourceUnreachableError

ALL_PROVIDERS = ("aws", "azure", "gcp")


class DataAction(StrEnum):
    refresh = "refresh"
    status = "status"


def data(
    action: Annotated[
        DataAction,
        typer.Argument(
            help="refresh: fetch current prices (Azure Retail Prices, AWS Price List + EC2, "
            "GCP Cloud Billing Catalog) into your overlay; status: each price source, its age "
            "and row counts."
        ),
    ] = DataAction.status,
    provider: Annotated[
        list[str] | None,
        typer.Option(
            "--provider",
            help="refresh: only these clouds: aws, gcp, azure (repeat or comma-separate) "
            "[default: every cloud, or those of --region].",
            callback=no_empty_names,
        ),
    ] = None,
    region: Annotated[
        list[str] | None,
        typer.Option(
            "--region",
            help="refresh: only these PROVIDER:REGIONs (repeat or comma-separate; a bare "
            "REGION with one --provider) [default: every region of the catalog].",
            callback=no_empty_names,
        ),
    ] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Refresh prices from the clouds' APIs into your overlay, or show the price sources."""
    from recommender.catalog import load_catalog

    catalog = load_catalog()
    if action is DataAction.status:
        if provider or region:
            raise BadInputError(
                "--provider and --region choose what 'data refresh' fetches",
                "drop them: 'carbonplan data status' shows every source",
            )
        _status(catalog, fmt)
        return
    providers, regions = _targets(catalog, split_values(provider), split_values(region))
    _refresh(catalog, providers, regions, fmt)


def _targets(
    catalog: Any, providers: list[str], regions: list[str]
) -> tuple[list[str], dict[str, list[str]]]:
    from recommender.catalog import parse_region, resolve_provider

    chosen = list(dict.fromkeys(resolve_provider(p) for p in providers))
    by_provider: dict[str, list[str]] = {}
    for name in regions:
        if ":" not in name and len(chosen) == 1:
            name = f"{chosen[0]}:{name}"
        p, r = parse_region(name, catalog.regions)
        if chosen and p not in chosen:
            raise BadInputError(
                f"--region {p}:{r} is not in --provider {','.join(chosen)}",
                "drop --provider, or name a region of those providers",
            )
        by_provider.setdefault(p, [])
        if r not in by_provider[p]:
            by_provider[p].append(r)
    if not chosen:
        chosen = sorted(by_provider) if by_provider else list(ALL_PROVIDERS)
    return chosen, by_provider


def _refresh(
    catalog: Any, providers: list[str], regions: dict[str, list[str]], fmt: Format
) -> None:
    from rich.console import Console

    from recommender.pricing.refresh import refresh

    progress = Console(stderr=True, highlight=False)
    reports = refresh(catalog, providers, regions, progress)
    for report in reports:
        if report.error:
            warn(
                f"{report.provider}: {report.source}: {report.error}; its prices are unchanged"
                + (f" ({report.hint})" if report.hint else "")
            )
        for name, reason in sorted(report.failed.items()):
            warn(f"{report.provider}:{name}: {reason}; the previous prices of this region are kept")
    documents = [r.as_dict() for r in reports]
    if fmt is Format.table:
        _render_refresh(reports)
    else:
        emit(
            fmt,
            {"refreshed": documents},
            [{k: v for k, v in d.items() if not isinstance(v, dict | list)} for d in documents],
        )
    if not any(r.refreshed for r in reports):
        raise SourceUnreachableError(
            "no prices were refreshed; the overlay is unchanged",
            "see the warnings above; 'carbonplan data status' shows the prices in use",
        )


def _render_refresh(reports: list[Any]) -> None:
    from rich.table import Table

    view = Table(header_style="bold")
    for name in ("provider", "regions", "offers", "failed", "left out"):
        view.add_column(name, justify="right" if name in ("offers", "regions") else "left")
    for r in reports:
        written = r.written
        skipped = {**r.skipped, **(written.dropped if written else {})}
        view.add_row(
            r.provider,
            f"{len(r.refreshed)}/{r.regions}",
            str(written.refreshed_offers) if written else "0",
            r.error or (", ".join(sorted(r.failed)) if r.failed else "-"),
            "; ".join(f"{n} {reason}" for reason, n in sorted(skipped.items())) or "-",
        )
    out = console()
    out.print(view)
    paths = sorted({str(r.written.path.parent) for r in reports if r.written})
    if paths:
        out.print(f"overlay: {paths[0]} ('carbonplan data status' shows every source)")


def status_records(catalog: Any, today: date | None = None) -> list[dict[str, Any]]:
    """One record per (provider, shipped | refreshed): rows in use, price dates and age."""
    from recommender.catalog.overlay import overlay_file

    today = today or datetime.now(UTC).date()
    offers = catalog.offers
    refreshed = offers["price_source"].astype(str).str.contains("(refreshed ", regex=False)
    records = []
    for provider in ALL_PROVIDERS:
        mine = offers["provider"] == provider
        for kind, rows in (
            ("shipped", offers[mine & ~refreshed]),
            ("refreshed", offers[mine & refreshed]),
        ):
            path = overlay_file(provider)
            if rows.empty and (kind == "shipped" or not path.exists()):
                continue
            dates = sorted(set(rows["price_as_of"].astype(str)))
            oldest, newest = (dates[0], dates[-1]) if dates else (None, None)
            sources = sorted(
                set(
                    rows["price_source"]
                    .astype(str)
                    .str.replace(r" \(refreshed [^)]*\)", "", regex=True)
                )
            )
            records.append(
                {
                    "provider": provider,
                    "kind": kind,
                    "source": "; ".join(sources) if sources else "(none in use)",
                    "offers": len(rows),
                    "regions": int(rows["region"].nunique()),
                    "oldest_price_as_of": oldest,
                    "newest_price_as_of": newest,
                    "age_days": (today - date.fromisoformat(oldest[:10])).days if oldest else None,
                    "overlay_file": str(path) if kind == "refreshed" else None,
                }
            )
    return records


def _status(catalog: Any, fmt: Format) -> None:
    from recommender.catalog.overlay import max_age_days, overlay_dir

    records = status_records(catalog)
    limit = max_age_days()
    document = {
        "overlay_dir": str(overlay_dir()),
        "max_age_days": limit,
        "built": catalog.meta.get("built"),
        "sources": records,
    }
    if fmt is not Format.table:
        emit(fmt, document, records)
        return
    from rich import box
    from rich.table import Table

    # The sources are long (repository, file, commit, notes): listed under the table, one
    # paragraph each, so the figures stay whole at any width.
    view = Table(header_style="bold", box=box.SIMPLE_HEAD, show_edge=False)
    for name in ("provider", "prices", "offers", "regions", "as of", "age (days)"):
        view.add_column(
            name,
            justify="right" if name in ("offers", "regions", "age (days)") else "left",
            no_wrap=True,
        )
    for r in records:
        span = r["oldest_price_as_of"] or "-"
        if r["newest_price_as_of"] and r["newest_price_as_of"] != span:
            span = f"{span}..{r['newest_price_as_of']}"
        age = r["age_days"]
        stale = limit is not None and age is not None and age > limit
        view.add_row(
            r["provider"],
            r["kind"],
            str(r["offers"]),
            str(r["regions"]),
            span,
            "-" if age is None else f"{age}{' (stale)' if stale else ''}",
        )
    out = console()
    out.print(view)
    for r in records:
        out.print(f"{r['provider']} {r['kind']} prices: {r['source']}", markup=False)
    out.print(f"overlay: {document['overlay_dir']}")
    if limit is not None:
        out.print(
            f"prices older than {limit:g} days are stale; 'carbonplan data refresh' "
            "fetches current ones"
        )
    sys.stdout.flush()
