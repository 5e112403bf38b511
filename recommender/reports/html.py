"""The report as one self-contained HTML page: inline CSS, charts as data URIs, no script and
no network. Real headings, table headers with scope, alt text on every chart, and print
styles; nothing is told by colour alone."""

from __future__ import annotations

import base64
from html import escape
from typing import Any

from recommender.reports import text as T
from recommender.reports.report import (
    REGIONS_RANGE_CAPTION,
    TRADEOFF_RANGE_CAPTION,
    Report,
    has_ranges,
    ranges_method,
)
from recommender.reports.text import kg_with_range

CSS = """
:root { --ink: #1d2329; --muted: #56606b; --rule: #d5dae0; --band: #f3f5f7; --accent: #1b4f72; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
main { max-width: 1200px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 1.7rem; margin: 0 0 4px; }
h2 { font-size: 1.25rem; margin: 36px 0 8px; padding-bottom: 4px;
  border-bottom: 2px solid var(--ink); }
h3 { font-size: 1.02rem; margin: 20px 0 6px; }
p.meta { color: var(--muted); margin: 0 0 16px; font-size: .9rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); gap: 12px;
  margin: 12px 0; }
.card { border: 1px solid var(--rule); border-left: 5px solid var(--accent);
  padding: 10px 12px; background: var(--band); }
.card h3 { margin: 0 0 4px; font-size: .8rem; text-transform: uppercase; letter-spacing: .04em;
  color: var(--muted); }
.card .big { font-size: 1.35rem; font-weight: 700; }
.card p { margin: 2px 0; font-size: .88rem; }
figure { margin: 12px 0; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--rule); }
figcaption { color: var(--muted); font-size: .88rem; margin-top: 6px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 4px; font-size: .86rem; }
caption { text-align: left; color: var(--muted); font-size: .86rem; padding: 4px 0;
  caption-side: bottom; }
th, td { border-bottom: 1px solid var(--rule); padding: 4px 7px; vertical-align: top; }
thead th { border-bottom: 2px solid var(--ink); text-align: left; background: #fff; }
tbody tr:nth-child(even) { background: var(--band); }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody th { text-align: left; font-weight: 600; }
tbody th.n { text-align: right; }
.scroll { overflow-x: auto; }
tr.recommended td, tr.recommended th { font-weight: 700; }
#options { font-size: .78rem; }
#options td, #options th { padding: 3px 5px; }
.share { display: flex; height: 22px; border: 1px solid var(--ink); max-width: 560px;
  margin: 6px 0; }
.share span { display: block; font-size: .75rem; line-height: 20px; padding: 0 6px;
  overflow: hidden; white-space: nowrap; }
.share .op { background: #1b4f72; color: #fff; }
.share .em { background: repeating-linear-gradient(45deg, #fff 0 4px, #c9ced4 4px 6px);
  color: var(--ink); }
.note { border-left: 4px solid var(--muted); padding: 4px 10px; color: var(--muted); }
code { font-size: .85rem; background: var(--band); padding: 1px 4px; }
pre { background: var(--band); padding: 8px 10px; overflow-x: auto; font-size: .82rem;
  white-space: pre-wrap; }
a { color: var(--accent); }
@media print {
  body { font-size: 10.5pt; }
  main { max-width: none; padding: 0; }
  h2 { break-after: avoid; }
  figure, .cards, tr { break-inside: avoid; }
  thead { display: table-header-group; }
  tbody tr:nth-child(even) { background: none; }
  .card, .share .op, .share .em { print-color-adjust: exact; -webkit-print-color-adjust: exact;
  }
  a { color: inherit; text-decoration: none; }
  .scroll { overflow: visible; }
}
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _img(png: bytes, alt: str, file_stem: str, caption: str, files: list[str]) -> str:
    data = base64.b64encode(png).decode("ascii")
    links = ", ".join(f'<a href="{_e(name)}">{_e(name)}</a>' for name in files)
    return (
        f'<img src="data:image/png;base64,{data}" alt="{_e(alt)}" id="{file_stem}-chart">'
        f"<figcaption>{_e(caption)} Files: {links}.</figcaption>"
    )


def _table(
    headers: list[tuple[str, bool]],
    rows: list[list[str]],
    *,
    caption: str = "",
    table_id: str = "",
    row_classes: list[str] | None = None,
    row_headers: bool = True,
) -> str:
    """A table; ``headers`` are (label, numeric). The first cell of each row is its header."""
    out = [f'<table id="{table_id}">' if table_id else "<table>"]
    if caption:
        out.append(f"<caption>{_e(caption)}</caption>")
    out.append("<thead><tr>")
    for label, numeric in headers:
        cls = ' class="n"' if numeric else ""
        out.append(f'<th scope="col"{cls}>{_e(label)}</th>')
    out.append("</tr></thead><tbody>")
    for i, row in enumerate(rows):
        cls = (row_classes or [""] * len(rows))[i]
        out.append(f'<tr class="{cls}">' if cls else "<tr>")
        for j, (cell, (_label, numeric)) in enumerate(zip(row, headers, strict=True)):
            attrs = ' class="n"' if numeric else ""
            if j == 0 and row_headers:
                out.append(f'<th scope="row"{attrs}>{cell}</th>')
            else:
                out.append(f"<td{attrs}>{cell}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _cards(report: Report) -> str:
    cards = []
    rec = report.recommended
    cards.append(
        (
            f"Recommended ({T.OBJECTIVE_WORDS.get(report.objective, report.objective)})",
            f"{T.kg(rec['kgco2e'])} CO2e",
            [T.option_label(rec), f"{T.usd(rec['cost_usd'])}, {T.hours(rec['wall_hours'])}"],
        )
    )
    if report.baseline is not None:
        b = report.baseline
        cards.append(
            (
                f"Against the baseline {b.region}",
                T.change_kg(rec["kgco2e"] - b.kgco2e, b.kgco2e),
                [
                    f"{T.change_usd(rec['cost_usd'] - b.cost_usd)} "
                    f"({T.usd(b.cost_usd)} there, {T.kg(b.kgco2e)} CO2e)",
                    f"baseline: {b.how}",
                ],
            )
        )
    for title, opt in (("Cheapest", report.cheapest), ("Lowest carbon", report.cleanest)):
        cards.append(
            (title, T.usd(opt["cost_usd"]), [T.option_label(opt), f"{T.kg(opt['kgco2e'])} CO2e"])
        )
    html = ['<div class="cards">']
    for title, big, lines in cards:
        html.append(f'<div class="card"><h3>{_e(title)}</h3><div class="big">{_e(big)}</div>')
        html.extend(f"<p>{_e(line)}</p>" for line in lines)
        html.append("</div>")
    html.append("</div>")
    return "".join(html)


def _ladder(report: Report) -> str:
    price = report.carbon_price
    headers = [
        ("budget", True),
        ("budget $", True),
        ("lowest-carbon option within it", False),
        ("$", True),
        ("kg CO2e", True),
        ("kg avoided vs step above", True),
        ("$ per t CO2e avoided", True),
    ]
    if price is not None:
        headers.append((f"below ${price:,.0f}/t carbon price?", False))
    rows = []
    for row in T.ladder_rows(report):
        cells = [_e(c) for c in row[:7]]
        if price is not None:
            cells.append(_e(row[7]))
        rows.append(cells)
    caption = T.LADDER_CAPTION
    return _table(headers, rows, caption=caption, table_id="budget-ladder")


def _campaign(report: Report) -> str:
    """The campaign breakdown section, or nothing where it does not apply."""
    paragraphs = T.campaign_paragraphs(report)
    if not paragraphs:
        return ""
    if report.campaign is None:  # a saved plan: say how to get it
        body = "".join(f'<p class="note">{_e(p)}</p>' for p in paragraphs)
    else:
        rows = [[_e(c) for c in row] for row in T.campaign_table_rows(report)]
        classes = ["recommended" if r.get("planned") else "" for r in report.campaign["rows"]]
        table = _table(
            T.campaign_headers(report),
            rows,
            caption=T.campaign_caption(report),
            table_id="campaign",
            row_classes=classes,
        )
        body = "".join(f"<p>{_e(p)}</p>" for p in paragraphs) + f'<div class="scroll">{table}</div>'
    return (
        '<section aria-labelledby="campaign-h">\n'
        '<h2 id="campaign-h">Campaign breakdown: one run vs the whole campaign</h2>\n'
        f"{body}\n</section>\n"
    )


def _options(report: Report) -> str:
    shown = report.options.head(report.top).to_dict("records")
    has_baseline = report.baseline is not None and "saves_kgco2e" in report.options.columns
    headers = [
        ("#", True),
        ("Pareto", False),
        ("cloud", False),
        ("region", False),
        ("instance", False),
        ("GPUs", False),
        ("market", False),
        ("instances", True),
        ("hours", True),
        ("kWh", True),
        ("gCO2e/kWh", True),
        ("kg CO2e (range)" if has_ranges(report.options) else "kg CO2e", True),
        ("$", True),
    ]
    if has_baseline:
        headers.append(("vs baseline", True))
    rows, classes = [], []
    for o in shown:
        cells = [
            str(o["rank"]),
            "P" if o.get("pareto") else "",
            _e(o["provider"]),
            _e(f"{o['region']} ({o.get('location') or ''})"),
            _e(o["instance_type"]),
            _e(T.gpus(o)),
            _e(o["market"]),
            str(o.get("instances") or 1),
            T.sig(o["wall_hours"]),
            T.sig(o["energy_kwh"]),
            T.sig(o["gco2_per_kwh"]),
            _e(kg_with_range(o)),
            T.usd(o["cost_usd"]),
        ]
        if has_baseline:
            cells.append(_e(T.savings(o)))
        rows.append(cells)
        classes.append("recommended" if o["rank"] == report.recommended["rank"] else "")
    caption = (
        f"The {len(shown)} best of {len(report.options)} options by "
        f"{T.OBJECTIVE_WORDS.get(report.objective, report.objective)} (all are in options.csv). "
        "P = on the cost/CO2e Pareto frontier: no other option is both cheaper and cleaner. "
        "* = GPU throughput estimated from specs (no benchmark). The recommended option is in "
        "bold; each row's intensity source is in options.csv and under Assumptions and sources."
        + (
            " The kg CO2e range in brackets is the spread of GPU throughput, power draw and grid "
            "intensity (low rounded down, high up; method under Assumptions and sources)."
            if has_ranges(report.options)
            else ""
        )
    )
    table = _table(headers, rows, caption=caption, table_id="options", row_classes=classes)
    return f'<div class="scroll">{table}</div>'


def _equivalents(report: Report) -> str:
    headers = [("", False), ("recommended option", True)]
    saved = report.saved_equivalents
    if saved:
        headers.append(("saved vs baseline", True))
    headers += [("basis", False), ("source", False)]
    rows = []
    for key, item in report.equivalents.items():
        cells = [_e(T.EQUIVALENT_LABELS[key]), T.sig(item["value"])]
        if saved:
            cells.append(T.sig(saved[key]["value"]) if key in saved else "-")
        cells += [_e(item["basis"]), _e(item["source"])]
        rows.append(cells)
    rec = report.recommended
    op, em = float(rec["operational_kgco2e"]), float(rec["embodied_kgco2e"])
    total = op + em
    op_pct = 100 * op / total if total else 0.0
    em_pct = 100 - op_pct if total else 0.0
    lo, hi = report.embodied_share_range
    bar = (
        f'<div class="share" role="img" aria-label="{_e(T.share_sentence(report))}">'
        f'<span class="op" style="width:{op_pct:.1f}%">operational {op_pct:.0f}%</span>'
        f'<span class="em" style="width:{em_pct:.1f}%">embodied {em_pct:.0f}%</span></div>'
    )
    return (
        _table(headers, rows, caption=T.EQUIVALENTS_CAPTION, table_id="equivalents")
        + "<h3>Embodied vs operational emissions</h3>"
        + bar
        + f"<p>{_e(T.share_sentence(report))} Across all options embodied emissions are "
        f"{lo:.0%} to {hi:.0%} of the total: the cleaner the grid, the larger the share of "
        "the hardware's own footprint.</p>"
    )


def _provenance(report: Report) -> str:
    parts = ["<h3>Job and constraints</h3>"]
    parts.append(
        _table(
            [("setting", False), ("value", False)],
            [[_e(k), _e(v)] for k, v in T.job_rows(report)],
            table_id="job",
        )
    )
    parts.append("<h3>Modelling assumptions</h3>")
    parts.append(
        _table(
            [
                ("assumption", False),
                ("value", True),
                ("unit", False),
                ("default?", False),
                ("source", False),
            ],
            [[_e(c) for c in row] for row in T.assumption_rows(report)],
            caption="default? = yes when the value is carbonplan's default, not a flag you gave.",
            table_id="assumptions",
        )
    )
    method = ranges_method(report.document)
    if method is not None:
        parts.append("<h3>Ranges</h3>")
        parts.append(f'<p id="ranges-method">{_e(method)}</p>')
    parts.append("<h3>Grid intensity</h3>")
    parts.append(f"<p>{_e(T.intensity_sentence(report))}</p>")
    parts.append(
        _table(
            [("intensity source", False), ("year", True), ("options", True)],
            [[_e(c) for c in row] for row in T.intensity_rows(report)],
            table_id="intensity-sources",
        )
    )
    parts.append("<h3>Prices</h3>")
    parts.append(
        _table(
            [("price source", False), ("as of", False), ("options", True)],
            [[_e(c) for c in row] for row in T.price_rows(report)],
            table_id="price-sources",
        )
    )
    gpu_rows = T.gpu_rows(report)
    if gpu_rows:
        parts.append("<h3>GPU throughput</h3>")
        parts.append(
            _table(
                [
                    ("GPU", False),
                    ("relative throughput", True),
                    ("basis", False),
                    ("evidence", False),
                ],
                [[_e(c) for c in row] for row in gpu_rows],
                caption="Training throughput relative to an A100 80GB SXM.",
                table_id="gpus",
            )
        )
    parts.append("<h3>Data sources</h3>")
    parts.append(
        _table(
            [("source", False), ("what", False), ("upstream", False), ("licence", False)],
            [[_e(c) for c in row] for row in T.data_source_rows(report)],
            table_id="data-sources",
        )
    )
    parts.append("<h3>Versions and how this report was made</h3><ul>")
    parts.extend(f"<li>{_e(line)}</li>" for line in T.version_lines(report))
    parts.append("</ul>")
    parts.append(f"<pre><code>{_e(report.command)}</code></pre>")
    return "".join(parts)


def render_html(
    report: Report, *, tradeoff_png: bytes, regions_png: bytes, timing_png: bytes | None = None
) -> str:
    """The whole page (with the timing chart where time shifting applies)."""
    notes = "".join(f'<p class="note">{_e(n)}</p>' for n in report.notes)
    bullets = "".join(f"<li>{_e(s)}</li>" for s in T.summary_sentences(report))
    ranged = has_ranges(report.options)
    tradeoff = _img(
        tradeoff_png,
        T.tradeoff_alt(report),
        "tradeoff",
        T.TRADEOFF_CAPTION + (f" {TRADEOFF_RANGE_CAPTION}" if ranged else ""),
        ["tradeoff.svg", "tradeoff.png"],
    )
    regions = _img(
        regions_png,
        T.regions_alt(report),
        "regions",
        T.REGIONS_CAPTION + (f" {REGIONS_RANGE_CAPTION}" if ranged else ""),
        ["regions.png"],
    )
    note = ' class="note"' if report.timing is None else ""
    timing = "".join(f"<p{note}>{_e(line)}</p>" for line in T.timing_paragraphs(report))
    if timing_png is not None and report.timing is not None:
        chart = _img(timing_png, T.timing_alt(report), "timing", T.TIMING_CAPTION, ["timing.png"])
        timing = f"<figure>{chart}</figure>{timing}"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="carbonplan {_e(report.version)}">
<title>{_e(T.page_title(report))}</title>
<style>{CSS}</style>
</head>
<body>
<main>
<header>
<h1>{_e(T.page_title(report))}</h1>
<p class="meta">{_e(T.meta_line(report))}</p>
</header>
<section aria-labelledby="summary-h">
<h2 id="summary-h">Summary</h2>
{_cards(report)}
<ul>{bullets}</ul>
{notes}
</section>
{_campaign(report)}<section aria-labelledby="tradeoff-h">
<h2 id="tradeoff-h">Cost vs carbon</h2>
<figure>{tradeoff}</figure>
</section>
<section aria-labelledby="ladder-h">
<h2 id="ladder-h">Budget ladder: what more money buys</h2>
<p>{_e(T.LADDER_INTRO)}</p>
{_ladder(report)}
</section>
<section aria-labelledby="regions-h">
<h2 id="regions-h">Emissions by region</h2>
<figure>{regions}</figure>
</section>
<section aria-labelledby="options-h">
<h2 id="options-h">Ranked options</h2>
{_options(report)}
</section>
<section aria-labelledby="equivalents-h">
<h2 id="equivalents-h">What the recommended option amounts to</h2>
{_equivalents(report)}
</section>
<section aria-labelledby="time-h">
<h2 id="time-h">When to run</h2>
{timing}
</section>
<section aria-labelledby="sources-h">
<h2 id="sources-h">Assumptions and sources</h2>
{_provenance(report)}
</section>
</main>
</body>
</html>
"""


def html_files(report: Report, files: dict[str, bytes]) -> dict[str, bytes]:
    """``report.html``, with the charts rendered before it inline (a renderer of
    :data:`recommender.reports.report.RENDERERS`)."""
    from recommender.reports.report import TIMING_FILE

    page = render_html(
        report,
        tradeoff_png=files["tradeoff.png"],
        regions_png=files["regions.png"],
        timing_png=files.get(TIMING_FILE),
    )
    return {"report.html": page.encode("utf-8")}
