"""Report charts drawn with matplotlib (Agg, no pyplot state): the cost/carbon trade-off with
its Pareto frontier, kg CO2e per region against the grid intensity behind it, and (where time
shifting applies) the chosen region's intensity over time with the run window shaded.

Charts must read without colour: provider is shown by colour *and* fill, market by marker
shape, and the recommended option and the baseline carry text labels. Every artist a test
looks for has a ``gid`` (``options:<provider>:<market>``, ``frontier``, ``recommended``,
``baseline``, ``kg-bars``, ``intensity-bars``, ``intensity-curve``, ``run-window``,
``run-now``, and where the plan has kg CO2e ranges ``kg-ranges`` and ``kg-range-bars``), which
also names the element in the SVG.

matplotlib is imported only here, and this module only by the report, so ``suggest`` never
pays for it.
"""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recommender.extras import require
from recommender.planner.core import pareto_mask

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from recommender.reports.report import Report, Timing

# Okabe-Ito colours (distinguishable with the common colour-vision deficiencies), plus a fill
# style per provider so that a greyscale print still tells them apart.
PROVIDER_STYLE: dict[str, tuple[str, Any]] = {
    "aws": ("#E69F00", "full"),
    "gcp": ("#0072B2", "none"),
    "azure": ("#009E73", "left"),
}
OTHER_STYLE: tuple[str, Any] = ("#777777", "bottom")
MARKET_MARKER = {"on-demand": "o", "spot": "^"}
LOG_SPREAD = 20.0  # use a log axis when max / min exceeds this

_RC: dict[Any, Any] = {
    "font.size": 9,
    "axes.titlesize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.fonttype": "path",  # text as paths: the SVG needs no font installed
    "svg.hashsalt": "carbonplan",  # stable element ids, so a rerun gives the same SVG
}


@dataclass(frozen=True)
class Marked:
    """A labelled point on the trade-off chart."""

    cost_usd: float
    kgco2e: float
    label: str


def wants_log(values: pd.Series | np.ndarray) -> bool:
    """Whether a positive quantity spreads over enough orders of magnitude for a log axis."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) < 2 or v.min() <= 0:
        return False
    return bool(v.max() / v.min() > LOG_SPREAD)


def _matplotlib() -> None:
    require("report")
    import matplotlib

    matplotlib.use("Agg", force=False)


def _usd(x: float, _pos: object = None) -> str:
    return f"${x:,.0f}" if x >= 10 else f"${x:,.2f}".rstrip("0").rstrip(".")


def _kg(x: float, _pos: object = None) -> str:
    return f"{x:,.0f}" if x >= 10 else f"{x:,.2f}".rstrip("0").rstrip(".")


def tradeoff_figure(
    options: pd.DataFrame,
    *,
    recommended: Marked | None,
    baseline: Marked | None,
    title: str,
) -> Figure:
    """Every option as a point (x: $, y: kg CO2e), the Pareto frontier of those points as a
    step line, and the recommended option and the baseline labelled."""
    _matplotlib()
    import matplotlib as mpl
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    with mpl.rc_context(_RC):
        fig = Figure(figsize=(9.0, 5.6), dpi=100, layout="constrained")
        ax = fig.add_subplot()
        cost = options["cost_usd"].to_numpy(dtype=float)
        kg = options["kgco2e"].to_numpy(dtype=float)
        ranged = _kg_errors(options)
        if ranged is not None:  # behind the markers: each option's kg CO2e range
            ax.errorbar(
                cost,
                kg,
                yerr=ranged,
                fmt="none",
                ecolor="#9a9a9a",
                elinewidth=0.8,
                capsize=1.5,
                alpha=0.7,
                zorder=1,
                gid="kg-ranges",
            )
        for (provider, market), group in options.groupby(["provider", "market"], sort=True):
            colour, fill = PROVIDER_STYLE.get(str(provider), OTHER_STYLE)
            ax.plot(
                group["cost_usd"].to_numpy(dtype=float),
                group["kgco2e"].to_numpy(dtype=float),
                linestyle="none",
                marker=MARKET_MARKER.get(str(market), "s"),
                markersize=5.5,
                color=colour,
                fillstyle=fill,
                markeredgewidth=0.9,
                alpha=0.85,
                gid=f"options:{provider}:{market}",
            )
        front = pareto_mask(options["cost_usd"], options["kgco2e"]).to_numpy()
        order = np.argsort(cost[front], kind="stable")
        ax.step(
            cost[front][order],
            kg[front][order],
            where="post",
            color="black",
            linewidth=1.2,
            linestyle="--",
            gid="frontier",
        )
        if wants_log(cost):
            ax.set_xscale("log")
        if wants_log(kg if ranged is None else np.concatenate([kg - ranged[0], kg + ranged[1]])):
            ax.set_yscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(_usd))
        ax.yaxis.set_major_formatter(FuncFormatter(_kg))
        ax.grid(True, which="major", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.autoscale_view()  # settle the limits so labels can be placed inside the axes
        to_axes = ax.transData + ax.transAxes.inverted()
        for mark, gid, offset, marker in (
            (recommended, "recommended", (18, 28), "*"),
            (baseline, "baseline", (18, -30), "X"),
        ):
            if mark is None:
                continue
            ax.plot(
                [mark.cost_usd],
                [mark.kgco2e],
                linestyle="none",
                marker=marker,
                markersize=13,
                color="black",
                markerfacecolor="white" if gid == "baseline" else "black",
                gid=gid,
            )
            # Label on the side with room, and keep it out of the layout: a long label must
            # not shrink the plot (constrained layout would make room for it outside).
            fx, fy = to_axes.transform((mark.cost_usd, mark.kgco2e))
            dx, dy = offset
            wrapped = "\n".join(textwrap.fill(line, 44) for line in mark.label.splitlines())
            label = ax.annotate(
                wrapped,
                (mark.cost_usd, mark.kgco2e),
                xytext=(-dx if fx > 0.5 else dx, -abs(dy) if fy > 0.75 else dy),
                textcoords="offset points",
                ha="right" if fx > 0.5 else "left",
                fontsize=8.5,
                fontweight="bold",
                arrowprops={"arrowstyle": "-", "color": "black", "linewidth": 0.8},
                bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": "#444444", "lw": 0.6},
            )
            label.set_in_layout(False)
        ax.set_xlabel("cost (USD" + (", log scale)" if ax.get_xscale() == "log" else ")"))
        ax.set_ylabel("emissions (kg CO2e" + (", log scale)" if ax.get_yscale() == "log" else ")"))
        ax.set_title(textwrap.fill(title, 80), loc="left")
        handles = []
        for provider in sorted(set(options["provider"])):
            colour, fill = PROVIDER_STYLE.get(provider, OTHER_STYLE)
            handles.append(
                Line2D(
                    [],
                    [],
                    linestyle="none",
                    marker="s",
                    color=colour,
                    fillstyle=fill,
                    label=provider,
                )
            )
        for market in sorted(set(options["market"])):
            handles.append(
                Line2D(
                    [],
                    [],
                    linestyle="none",
                    marker=MARKET_MARKER.get(market, "s"),
                    color="#444444",
                    fillstyle="none",
                    label=market,
                )
            )
        handles.append(
            Line2D([], [], color="black", linestyle="--", label="Pareto frontier (cost vs kg)")
        )
        if ranged is not None:
            handles.append(
                Line2D([], [], color="#9a9a9a", marker="|", markersize=8, label="kg CO2e range")
            )
        if recommended is not None:
            handles.append(
                Line2D([], [], linestyle="none", marker="*", color="black", label="recommended")
            )
        if baseline is not None:
            handles.append(
                Line2D(
                    [],
                    [],
                    linestyle="none",
                    marker="X",
                    color="black",
                    markerfacecolor="white",
                    label="baseline",
                )
            )
        fig.legend(handles=handles, loc="outside right upper", fontsize=8, frameon=False)
        _freeze_layout(fig)
    return fig


def _kg_errors(frame: pd.DataFrame) -> np.ndarray | None:
    """``[kg - kgco2e_low, kgco2e_high - kg]`` (shape 2 x rows) for error bars, or None when the
    frame has no ranges (a plan saved before them). Gap rows stay NaN."""
    if "kgco2e_low" not in frame or "kgco2e_high" not in frame:
        return None
    kg = frame["kgco2e"].to_numpy(dtype=float)
    low = frame["kgco2e_low"].to_numpy(dtype=float)
    high = frame["kgco2e_high"].to_numpy(dtype=float)
    real = np.isfinite(kg)
    if not (np.isfinite(low[real]).all() and np.isfinite(high[real]).all()):
        return None
    return np.stack([kg - low, high - kg])


def region_figure(regions: pd.DataFrame, *, title: str) -> Figure:
    """Horizontal bars, one per region in the order given: the lowest kg CO2e of any option
    there (solid, bottom axis), over the region's grid intensity (hatched, top axis).

    ``regions`` has ``label``, ``kgco2e`` and ``gco2_per_kwh`` (and ``kgco2e_low``/``_high``,
    drawn as whiskers, where the plan has ranges); a row with NaN values is drawn as a gap
    labelled with its ``label`` (used for "... N more regions")."""
    _matplotlib()
    import matplotlib as mpl
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter

    n = len(regions)
    with mpl.rc_context(_RC):
        fig = Figure(figsize=(9.0, max(2.8, 0.6 + 0.27 * n)), dpi=100, layout="constrained")
        back = fig.add_subplot()  # grid intensity, drawn first so it sits behind
        front = back.twiny()
        y = np.arange(n)
        kg = regions["kgco2e"].to_numpy(dtype=float)
        g = regions["gco2_per_kwh"].to_numpy(dtype=float)
        real = np.isfinite(kg)
        back.barh(
            y[real],
            g[real],
            height=0.86,
            color="#e6e6e6",
            edgecolor="#9a9a9a",
            hatch="///",
            linewidth=0.5,
            gid="intensity-bars",
        )
        front.barh(y[real], kg[real], height=0.42, color="#1b4f72", gid="kg-bars")
        errors = _kg_errors(regions)
        tips = kg.copy()
        if errors is not None:  # each bar's kg CO2e range as a whisker
            front.errorbar(
                kg[real],
                y[real],
                xerr=errors[:, real],
                fmt="none",
                ecolor="#222222",
                elinewidth=0.9,
                capsize=2.5,
                gid="kg-range-bars",
            )
            tips = kg + errors[1]
        # linear even when the spread is wide: bar length must be proportional to kg
        front.set_xlim(0, max(float(np.nanmax(tips)) if real.any() else 1.0, 1e-9) * 1.12)
        front.xaxis.set_major_formatter(FuncFormatter(_kg))
        for yi, value, tip in zip(y[real], kg[real], tips[real], strict=True):
            front.annotate(
                f"{value:,.3g} kg",
                (tip, yi),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=7.5,
                bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.85},
            )
        back.set_yticks(y, regions["label"].tolist())
        back.invert_yaxis()  # cleanest on top
        back.set_xlim(0, max(float(np.nanmax(g)) if real.any() else 1.0, 1.0) * 1.08)
        # the kg axis reads from the bottom, the intensity axis from the top
        front.xaxis.set_ticks_position("bottom")
        front.xaxis.set_label_position("bottom")
        back.xaxis.set_ticks_position("top")
        back.xaxis.set_label_position("top")
        front.spines["bottom"].set_visible(True)
        front.spines["top"].set_visible(False)
        back.spines["top"].set_visible(True)
        back.spines["bottom"].set_visible(False)
        front.set_xlabel("kg CO2e of the lowest-carbon option in the region")
        back.set_xlabel("grid intensity (gCO2e/kWh)")
        back.tick_params(axis="y", length=0)
        fig.suptitle(title, x=0.01, ha="left", fontsize=11)
        ranges = (
            [Line2D([], [], color="#222222", marker="|", markersize=8, label="kg CO2e range")]
            if errors is not None
            else []
        )
        fig.legend(
            handles=[
                Patch(color="#1b4f72", label="kg CO2e (bottom axis)"),
                *ranges,
                Patch(
                    facecolor="#e6e6e6",
                    edgecolor="#9a9a9a",
                    hatch="///",
                    label="grid gCO2e/kWh (top axis)",
                ),
            ],
            loc="outside lower center",
            ncols=2 + len(ranges),
            fontsize=8,
            frameon=False,
        )
        front.set_zorder(back.get_zorder() + 1)
        front.patch.set_visible(False)
        _freeze_layout(fig)
    return fig


def timing_figure(timing: Timing, *, title: str) -> Figure:
    """The region's intensity per period from --start-after to --deadline (a step line), the
    chosen run shaded and hatched (each interval of a paused run), and starting at once
    outlined with a dashed box, each labelled with its mean gCO2e/kWh."""
    _matplotlib()
    import matplotlib as mpl
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    edges = mdates.date2num(timing.edges)
    values = timing.gco2_per_kwh
    with mpl.rc_context(_RC):
        fig = Figure(figsize=(9.0, 3.8), dpi=100, layout="constrained")
        ax = fig.add_subplot()
        # a step per period: the value holds from its edge to the next
        ax.step(
            edges,
            np.append(values, values[-1] if len(values) else np.nan),
            where="post",
            color="black",
            linewidth=1.3,
            gid="intensity-curve",
        )
        for begin, end in timing.run:
            ax.axvspan(
                float(mdates.date2num(begin)),
                float(mdates.date2num(end)),
                facecolor="#9ecae1",
                edgecolor="#08519c",
                hatch="///",
                linewidth=0.8,
                alpha=0.6,
                gid="run-window",
            )
        now_begin, now_end = (float(mdates.date2num(t)) for t in timing.run_now)
        ax.axvspan(
            now_begin,
            now_end,
            ymax=0.97,  # the top edge stays visible
            fill=False,
            edgecolor="#444444",
            linestyle="--",
            linewidth=1.4,
            gid="run-now",
        )
        if timing.data_end is not None:
            ax.axvline(
                float(mdates.date2num(timing.data_end)),
                color="#777777",
                linestyle=":",
                linewidth=1.0,
                gid="data-end",
            )
        finite = values[np.isfinite(values)]
        top = float(finite.max()) if len(finite) else 1.0
        ax.set_ylim(0, max(top, 1.0) * 1.22)
        ax.set_xlim(float(edges[0]), float(mdates.date2num(max(timing.deadline, timing.edges[-1]))))
        first = timing.run[0][0]
        ax.annotate(
            f"chosen run: {timing.run_gco2_per_kwh:,.0f} g/kWh",
            (float(mdates.date2num(first)), top * 1.04),
            xytext=(0, 4),
            textcoords="offset points",
            ha="left"
            if first < timing.edges[0] + (timing.deadline - timing.edges[0]) / 2
            else "right",
            fontsize=8.5,
            fontweight="bold",
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "#08519c", "lw": 0.6},
        )
        ax.annotate(
            f"run now: {timing.run_now_gco2_per_kwh:,.0f} g/kWh",
            (now_begin, top * 1.13),
            xytext=(0, 4),
            textcoords="offset points",
            ha="left",
            fontsize=8.5,
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "#444444", "lw": 0.6},
        )
        locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b\n%H:%M", tz=mdates.UTC))
        ax.grid(True, which="major", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.set_xlabel("time (UTC), from --start-after to --deadline")
        ax.set_ylabel("grid intensity (gCO2e/kWh)")
        ax.set_title(title, loc="left")
        handles = [
            Line2D([], [], color="black", linewidth=1.3, label=f"grid intensity, {timing.source}"),
            Patch(
                facecolor="#9ecae1",
                edgecolor="#08519c",
                hatch="///",
                alpha=0.6,
                label="chosen run" + (" (each stretch)" if len(timing.run) > 1 else ""),
            ),
            Patch(
                fill=False, edgecolor="#444444", linestyle="--", label="run now (at --start-after)"
            ),
        ]
        if timing.data_end is not None:
            handles.append(
                Line2D([], [], color="#777777", linestyle=":", label="data ends (then: last value)")
            )
        fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=8, frameon=False)
        _freeze_layout(fig)
    return fig


def _freeze_layout(fig: Figure) -> None:
    """Run the constrained layout once, so that saving PNG and SVG does not redo it."""
    engine = fig.get_layout_engine()
    if engine is not None:
        engine.execute(fig)
        fig.set_layout_engine(None)


def png_bytes(fig: Figure, dpi: int = 150) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


def svg_bytes(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return buffer.getvalue()


def chart_files(report: Report, files: dict[str, bytes]) -> dict[str, bytes]:
    """The report's charts: ``tradeoff.png``/``.svg``, ``regions.png`` and, where time shifting
    applied, ``timing.png`` (a renderer of :data:`recommender.reports.report.RENDERERS`)."""
    from recommender.reports import text as T
    from recommender.reports.report import TIMING_FILE, option_label

    rec = report.recommended
    recommended = Marked(
        float(rec["cost_usd"]),
        float(rec["kgco2e"]),
        f"recommended: {option_label(rec, short=True)}\n"
        f"${rec['cost_usd']:,.0f}, {rec['kgco2e']:,.3g} kg",
    )
    base = report.baseline
    baseline = (
        Marked(
            base.cost_usd,
            base.kgco2e,
            f"baseline: {base.region}, {base.instance_type}, {base.market}\n"
            f"${base.cost_usd:,.0f}, {base.kgco2e:,.3g} kg",
        )
        if base
        else None
    )
    tradeoff = tradeoff_figure(
        report.options,
        recommended=recommended,
        baseline=baseline,
        title=f"{report.title}: {len(report.options)} options, cost vs emissions",
    )
    regions = region_figure(
        report.regions,
        title=f"Lowest kg CO2e per region ({report.region_count} regions), cleanest first",
    )
    out = {
        "tradeoff.png": png_bytes(tradeoff),
        "tradeoff.svg": svg_bytes(tradeoff),
        "regions.png": png_bytes(regions),
    }
    if report.timing is not None:
        out[TIMING_FILE] = png_bytes(
            timing_figure(report.timing, title=T.timing_title(report.timing))
        )
    return out
