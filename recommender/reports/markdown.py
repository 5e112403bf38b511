"""The report as Markdown for a pull request or a wiki page; charts are the PNG files beside
it (``tradeoff.png``, ``regions.png``, and ``timing.png`` where time shifting applies)."""

from __future__ import annotations

from recommender.reports import text as T
from recommender.reports.report import (
    REGIONS_RANGE_CAPTION,
    TRADEOFF_RANGE_CAPTION,
    Report,
    has_ranges,
    ranges_method,
)
from recommender.reports.text import kg_with_range


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(headers: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    right = right or set()
    lines = ["| " + " | ".join(_cell(h) for h in headers) + " |"]
    lines.append(
        "| " + " | ".join("---:" if i in right else "---" for i in range(len(headers))) + " |"
    )
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(report: Report) -> str:
    out: list[str] = [f"# {T.page_title(report)}", "", f"_{T.meta_line(report)}_", ""]
    out += ["## Summary", ""]
    out += [f"- {s}" for s in T.summary_sentences(report)]
    out += [""] + [f"> {n}" for n in report.notes] + ([""] if report.notes else [])

    campaign = T.campaign_paragraphs(report)
    if campaign:
        out += ["## Campaign breakdown: one run vs the whole campaign", ""]
        if report.campaign is None:  # a saved plan: say how to get it
            out += [f"> {p}" for p in campaign] + [""]
        else:
            columns = T.campaign_headers(report)
            cells = T.campaign_table_rows(report)
            for row, r in zip(cells, report.campaign["rows"], strict=True):
                if r.get("planned"):
                    row[0] = f"**{row[0]}**"
            right = {i for i, (_, numeric) in enumerate(columns) if numeric}
            out += [p for para in campaign for p in (para, "")]
            out += [_table([h for h, _ in columns], cells, right=right), ""]
            out += [T.campaign_caption(report), ""]

    ranged = has_ranges(report.options)
    out += ["## Cost vs carbon", "", f"![{T.tradeoff_alt(report)}](tradeoff.png)", ""]
    out += [T.TRADEOFF_CAPTION + (f" {TRADEOFF_RANGE_CAPTION}" if ranged else ""), ""]

    out += ["## Budget ladder: what more money buys", "", T.LADDER_INTRO, ""]
    headers = ["budget", "budget $", "lowest-carbon option within it", "$", "kg CO2e"]
    headers += ["kg avoided vs step above", "$ per t CO2e avoided"]
    price = report.carbon_price
    rows = T.ladder_rows(report)
    if price is not None:
        headers.append(f"below ${price:,.0f}/t carbon price?")
    else:
        rows = [r[:7] for r in rows]
    out += [_table(headers, rows, right={0, 1, 3, 4, 5, 6}), "", T.LADDER_CAPTION, ""]

    out += ["## Emissions by region", "", f"![{T.regions_alt(report)}](regions.png)", ""]
    out += [T.REGIONS_CAPTION + (f" {REGIONS_RANGE_CAPTION}" if ranged else ""), ""]

    out += ["## Ranked options", ""]
    shown = report.options.head(report.top).to_dict("records")
    has_baseline = report.baseline is not None and "saves_kgco2e" in report.options.columns
    headers = ["#", "P", "cloud", "region", "instance", "GPUs", "market", "inst", "hours"]
    kg_header = "kg CO2e (range)" if ranged else "kg CO2e"
    headers += ["kWh", "gCO2e/kWh", kg_header, "$"] + (["vs baseline"] if has_baseline else [])
    rows = []
    for o in shown:
        bold = "**" if o["rank"] == report.recommended["rank"] else ""
        row = [
            f"{bold}{o['rank']}{bold}",
            "P" if o.get("pareto") else "",
            o["provider"],
            f"{o['region']} ({o.get('location') or ''})",
            o["instance_type"],
            T.gpus(o),
            o["market"],
            str(o.get("instances") or 1),
            T.sig(o["wall_hours"]),
            T.sig(o["energy_kwh"]),
            T.sig(o["gco2_per_kwh"]),
            kg_with_range(o),
            T.usd(o["cost_usd"]),
        ]
        if has_baseline:
            row.append(T.savings(o))
        rows.append(row)
    numeric = {0, 7, 8, 9, 10, 11, 12, 13}
    out += [_table(headers, rows, right=numeric), ""]
    out += [
        f"The {len(shown)} best of {len(report.options)} options (all are in `options.csv`). "
        "P = on the cost/CO2e Pareto frontier; * = GPU throughput estimated from specs."
        + (
            " The kg CO2e range in brackets is the spread of GPU throughput, power draw and "
            "grid intensity (low rounded down, high up; method under Assumptions and sources)."
            if ranged
            else ""
        ),
        "",
    ]

    out += ["## What the recommended option amounts to", ""]
    saved = report.saved_equivalents
    headers = ["", "recommended option"] + (["saved vs baseline"] if saved else [])
    headers += ["source"]
    rows = []
    for key, item in report.equivalents.items():
        row = [T.EQUIVALENT_LABELS[key], T.sig(item["value"])]
        if saved:
            row.append(T.sig(saved[key]["value"]) if key in saved else "-")
        rows.append([*row, f"{item['basis']}; {item['source']}"])
    out += [_table(headers, rows, right={1, 2} if saved else {1}), ""]
    out += [T.EQUIVALENTS_CAPTION, "", T.share_sentence(report), ""]

    out += ["## When to run", ""]
    if report.timing is not None:
        out += [f"![{T.timing_alt(report)}](timing.png)", "", T.TIMING_CAPTION, ""]
    for paragraph in T.timing_paragraphs(report):
        out += [paragraph, ""]

    out += ["## Assumptions and sources", "", "### Job and constraints", ""]
    out += [_table(["setting", "value"], [list(r) for r in T.job_rows(report)]), ""]
    out += ["### Modelling assumptions", ""]
    out += [
        _table(["assumption", "value", "unit", "default?", "source"], T.assumption_rows(report)),
        "",
    ]
    method = ranges_method(report.document)
    if method is not None:
        out += ["### Ranges", "", method, ""]
    out += ["### Grid intensity", "", T.intensity_sentence(report), ""]
    out += [_table(["intensity source", "year", "options"], T.intensity_rows(report)), ""]
    out += ["### Prices", ""]
    out += [_table(["price source", "as of", "options"], T.price_rows(report)), ""]
    gpu_rows = T.gpu_rows(report)
    if gpu_rows:
        out += ["### GPU throughput (relative to A100 80GB SXM)", ""]
        out += [_table(["GPU", "relative throughput", "basis", "evidence"], gpu_rows), ""]
    out += ["### Data sources", ""]
    out += [_table(["source", "what", "upstream", "licence"], T.data_source_rows(report)), ""]
    out += ["### Versions and how this report was made", ""]
    out += [f"- {line}" for line in T.version_lines(report)]
    out += ["", "```console", report.command, "```", ""]
    return "\n".join(out)


def markdown_files(report: Report, files: dict[str, bytes]) -> dict[str, bytes]:
    """``report.md`` (a renderer of :data:`recommender.reports.report.RENDERERS`)."""
    return {"report.md": render_markdown(report).encode("utf-8")}
