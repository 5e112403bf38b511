"""`carbonplan report` where time shifting applies: `timing.png` draws the recommended
region's intensity from --start-after to --deadline (the series the planner searched), the
chosen run shaded and starting at once outlined; without the timing flags there is none."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from recommender.errors import ExitCode
from recommender.reports.report import build_report

START = datetime(2026, 1, 5, tzinfo=UTC)
JOB = ["--gpu-hours", "40", "--region", "aws:eu-north-1,aws:us-east-1"]


def _values() -> list[float]:
    """72 h hourly: a daily sine, cleanest at 18:00 UTC; the second day 30 g cleaner."""
    return [
        round(200.0 + 150.0 * math.sin(2 * math.pi * h / 24) - (30.0 if 24 <= h < 48 else 0), 3)
        for h in range(72)
    ]


@pytest.fixture
def trace(tmp_path: Path) -> Path:
    path = tmp_path / "trace.csv"
    rows = [
        f"{(START + timedelta(hours=h)).strftime('%Y-%m-%dT%H:%M:%SZ')},{v}"
        for h, v in enumerate(_values())
    ]
    path.write_text("datetime,gco2_per_kwh\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _report(cli, out: Path, *args: str):
    result = cli("report", *args, "--out", str(out), "--format", "json")
    assert result.code == 0, result.err
    plan = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    best = min(plan["options"], key=lambda o: o["rank"])
    return plan, best


def _spans(fig, gid: str) -> list[tuple[datetime, datetime]]:
    import matplotlib.dates as mdates

    patches = [p for ax in fig.axes for p in ax.patches if p.get_gid() == gid]
    return sorted(
        (mdates.num2date(p.get_x()), mdates.num2date(p.get_x() + p.get_width())) for p in patches
    )


def _close(a: datetime, b: datetime) -> bool:
    return abs((a - b).total_seconds()) < 1.0  # the plan's times are to the second


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs))


def test_timing_chart_shades_the_chosen_window_on_the_planners_series(cli, tmp_path, trace):
    from recommender.reports import charts

    out = tmp_path / "r"
    plan, best = _report(
        cli,
        out,
        *JOB,
        "--intensity-file",
        str(trace),
        "--start-after",
        "2026-01-05T00:00Z",
        "--deadline",
        "48",
    )
    png = out / "timing.png"
    assert png.stat().st_size > 0 and png.read_bytes().startswith(b"\x89PNG")

    start, end = _t(best["start"]), _t(best["end"])
    assert best["delay_hours"] > 0 and best["shift_saving_pct"] > 0  # shifting did apply
    assert start > START and end <= START + timedelta(hours=48)

    # the curve saved with the plan is the trace over [--start-after, --deadline]
    curve = plan["timing_curve"]
    assert curve["region"] == f"{best['provider']}:{best['region']}"
    assert curve["start"] == "2026-01-05T00:00:00Z" and curve["period_hours"] == 1.0
    assert curve["gco2_per_kwh"] == pytest.approx(_values()[:48])

    report = build_report(plan, top=20, origin="t", command="t")
    timing = report.timing
    assert timing is not None and timing.run == [(start, end)]
    fig = charts.timing_figure(timing, title="t")
    (window,) = _spans(fig, "run-window")
    assert _close(window[0], start) and _close(window[1], end)
    (now,) = _spans(fig, "run-now")
    assert _close(now[0], START)
    assert _close(now[1], START + timedelta(hours=best["wall_hours"]))
    (line,) = [ln for ax in fig.axes for ln in ax.lines if ln.get_gid() == "intensity-curve"]
    assert line.get_drawstyle() == "steps-post"
    assert np.asarray(line.get_ydata())[:48] == pytest.approx(_values()[:48])

    # the page embeds it with alt text; the Markdown links it
    html = (out / "report.html").read_text(encoding="utf-8")
    page = _Images()
    page.feed(html)
    (img,) = [a for a in page.images if a.get("id") == "timing-chart"]
    assert (img.get("src") or "").startswith("data:image/png;base64,")
    alt = img.get("alt") or ""
    assert curve["region"] in alt and "Shaded: the chosen run" in alt
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "](timing.png)" in md
    assert f"{best['shift_saving_pct']:.0f}% less CO2e" in md
    assert start.strftime("%Y-%m-%d %H:%M") in md


def test_an_interruptible_run_shades_each_stretch(cli, tmp_path, trace):
    from recommender.reports import charts

    plan, best = _report(
        cli,
        tmp_path / "r",
        "--gpu-hours",
        "400",
        "--region",
        "aws:eu-north-1",
        "--intensity-file",
        str(trace),
        "--start-after",
        "2026-01-05T00:00Z",
        "--deadline",
        "72",
        "--interruptible",
    )
    intervals = [part.split("/") for part in best["run_intervals"].split()]
    assert best["pauses"] >= 1 and len(intervals) >= 2
    timing = build_report(plan, top=20, origin="t", command="t").timing
    assert timing is not None
    spans = _spans(charts.timing_figure(timing, title="t"), "run-window")
    assert len(spans) == len(intervals)
    for (a, b), (x, y) in zip(spans, intervals, strict=True):
        assert _close(a, _t(x)) and _close(b, _t(y))
    md = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    assert f"pausing {best['pauses']} times" in md


def test_without_timing_flags_there_is_no_timing_chart(cli, tmp_path, trace):
    out = tmp_path / "r"
    plan, _ = _report(cli, out, *JOB)
    assert not (out / "timing.png").exists() and "timing_curve" not in plan
    assert "no timing chart is drawn" in (out / "report.md").read_text(encoding="utf-8")
    assert 'id="timing-chart"' not in (out / "report.html").read_text(encoding="utf-8")
    # a trace alone (no --start-after/--deadline) shifts nothing either
    plan, _ = _report(cli, tmp_path / "r2", *JOB, "--intensity-file", str(trace))
    assert not (tmp_path / "r2" / "timing.png").exists() and "timing_curve" not in plan


def test_static_intensity_with_timing_flags_draws_nothing(cli, tmp_path):
    out = tmp_path / "r"
    _report(cli, out, *JOB, "--start-after", "now", "--deadline", "48")
    assert not (out / "timing.png").exists()
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "no timing chart is drawn" in md and "does not keep it" not in md


def test_from_the_reports_plan_redraws_the_chart_and_from_suggest_says_why_not(
    cli, tmp_path, trace
):
    flags = [
        *JOB,
        "--intensity-file",
        str(trace),
        "--start-after",
        "2026-01-05T00:00Z",
        "--deadline",
        "48",
    ]
    _report(cli, tmp_path / "r", *flags)
    again = cli(
        "report", "--from", str(tmp_path / "r" / "plan.json"), "--out", str(tmp_path / "again")
    )
    assert again.code == 0, again.err
    assert (tmp_path / "again" / "timing.png").stat().st_size > 0

    saved = cli("suggest", *flags, "--top", "0", "--format", "json")
    assert saved.code == 0, saved.err
    (tmp_path / "plan.json").write_text(saved.out, encoding="utf-8")
    plain = cli("report", "--from", str(tmp_path / "plan.json"), "--out", str(tmp_path / "s"))
    assert plain.code == 0, plain.err
    assert not (tmp_path / "s" / "timing.png").exists()
    assert "does not keep it" in (tmp_path / "s" / "report.md").read_text(encoding="utf-8")

    # --force replaces a report that has a timing chart
    forced = cli("report", *JOB, "--out", str(tmp_path / "r"), "--force")
    assert forced.code == 0, forced.err
    assert not (tmp_path / "r" / "timing.png").exists()


def test_a_malformed_timing_curve_in_from_is_refused(cli, tmp_path, trace):
    plan, _ = _report(
        cli,
        tmp_path / "r",
        *JOB,
        "--intensity-file",
        str(trace),
        "--start-after",
        "2026-01-05T00:00Z",
        "--deadline",
        "48",
    )
    plan["timing_curve"]["period_hours"] = 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(plan), encoding="utf-8")
    result = cli("report", "--from", str(bad), "--out", str(tmp_path / "x"))
    assert result.code == ExitCode.BAD_INPUT
    assert "timing_curve" in result.err and not (tmp_path / "x").exists()
