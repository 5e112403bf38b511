"""`carbonplan report`: the files it writes and what is in them, the budget ladder, the charts'
content, `--from`, refusing bad input without leaving anything half-written, and
`suggest --plot`."""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.cli import main
from recommender.planner import pareto_mask
from recommender.reports.ladder import budget_ladder
from recommender.reports.report import REPORT_FILES, build_report, read_plan

FLAGS = ["--gpu-hours", "400", "--baseline", "aws:us-east-1"]


def _run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """One real report (the README's command), shared by the tests that only read it."""
    base = tmp_path_factory.mktemp("made")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CARBONPLAN_CACHE_DIR", str(base / "cache"))
        code, _, err = _run("report", *FLAGS, "--out", str(base / "r"))
        assert code == 0, err
        code, csv_out, err = _run("suggest", *FLAGS, "--top", "0", "--format", "csv")
        assert code == 0, err
    return base / "r", csv_out


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


# --- what a report holds --------------------------------------------------------------------


def test_report_writes_every_file(made):
    out, _ = made
    assert sorted(p.name for p in out.iterdir()) == sorted(REPORT_FILES)
    for name in REPORT_FILES:
        assert (out / name).stat().st_size > 0, name
    assert (out / "tradeoff.png").read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in (out / "tradeoff.svg").read_bytes()[:2000]
    assert _leftovers(out.parent) == []


def test_options_csv_has_the_fields_and_rows_of_suggest_csv(made):
    out, suggest_csv = made
    ours = list(csv.reader(io.StringIO((out / "options.csv").read_text(encoding="utf-8"))))
    theirs = list(csv.reader(io.StringIO(suggest_csv)))
    assert ours[0] == theirs[0]
    assert "kgco2e" in ours[0] and "cost_usd" in ours[0] and "saves_kgco2e" in ours[0]
    assert ours == theirs


class _Page(HTMLParser):
    """Collects what an accessibility and offline check needs from the HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_html_is_self_contained_and_accessible(made):
    out, suggest_csv = made
    html = (out / "report.html").read_text(encoding="utf-8")
    page = _Page()
    page.feed(html)
    tags = [t for t, _ in page.tags]
    assert tags.count("h1") == 1 and tags.count("h2") >= 7
    assert "script" not in tags  # nothing to run, nothing to fail
    for tag, attrs in page.tags:  # no resource is fetched from anywhere
        for key in ("src", "href"):
            value = attrs.get(key) or ""
            if tag in ("img", "link", "script", "iframe") and key in attrs:
                assert value.startswith("data:"), (tag, value[:60])
            assert not value.startswith(("http:", "https:", "//")) or tag == "a", value
    assert "@import" not in html and "url(http" not in html
    images = [a for t, a in page.tags if t == "img"]
    assert len(images) == 2
    for attrs in images:
        assert len(attrs.get("alt") or "") > 40  # says what the chart shows
    # the chart shows every option `suggest --top 0` lists for the same flags
    shown = len(list(csv.reader(io.StringIO(suggest_csv)))) - 1
    assert f"Scatter chart of {shown} options" in images[0]["alt"]
    headers = [a for t, a in page.tags if t == "th"]
    assert headers and all(a.get("scope") in ("col", "row") for a in headers)
    assert "@media print" in html
    assert "carbonplan 0.1.0" in html and "Data sources" in html


def test_report_names_its_sources_defaults_and_limits(made):
    out, _ = made
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "![" in md and "](tradeoff.png)" in md and "](regions.png)" in md
    for needed in (
        "## Budget ladder",
        "gpu_utilisation",  # a default used
        "BLOOM method",  # the source of the embodied default
        "google-region-carbon-info",  # a data source from the catalog meta
        "static annual average",  # live vs static
        "km driven by an average car",  # an equivalent
        "EPA",  # its source
        "embodied (making the hardware",
        "carbonplan report --gpu-hours 400 --baseline aws:us-east-1",  # the command
        "no timing chart is drawn",  # static intensity: says why there is no timing.png
    ):
        assert needed in md, needed


def test_report_of_the_readme_command_recommends_and_compares(made):
    out, _ = made
    plan = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    report = build_report(plan, top=20, origin="test", command="test")
    rec = report.recommended
    assert rec["rank"] == 1 and rec["kgco2e"] == min(o["kgco2e"] for o in plan["options"])
    assert report.baseline is not None and report.baseline.region == "aws:us-east-1"
    assert report.baseline.kgco2e == pytest.approx(rec["baseline_kgco2e"])
    # what it saves is the difference to the baseline, as the plan states it
    assert report.baseline.kgco2e - rec["kgco2e"] == pytest.approx(rec["saves_kgco2e"], abs=1e-5)
    assert rec["saves_kgco2e"] > 0
    md = (out / "report.md").read_text(encoding="utf-8")
    assert f"{report.baseline.kgco2e:,.1f} kg" in md or f"{report.baseline.kgco2e:,.3g}" in md


# --- the budget ladder ----------------------------------------------------------------------


def test_budget_ladder_of_the_readme_command(made):
    out, _ = made
    plan = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    options = pd.DataFrame(plan["options"])
    ladder = budget_ladder(options)
    cheapest = options.sort_values(["cost_usd", "kgco2e"]).iloc[0]
    assert ladder[0].cost_usd == cheapest["cost_usd"] and ladder[0].kgco2e == cheapest["kgco2e"]
    kgs = [row.kgco2e for row in ladder]
    assert all(b <= a for a, b in itertools.pairwise(kgs))
    assert kgs[-1] < kgs[0]  # money buys something here
    assert [r.multiple for r in ladder[:5]] == [1.0, 1.25, 1.5, 2.0, 3.0]
    for row in ladder[:5]:
        assert row.cost_usd <= row.budget_usd + 1e-9
        within = options[options["cost_usd"] <= row.budget_usd]
        assert row.kgco2e == within["kgco2e"].min()  # the lowest-carbon option it affords
    html = (out / "report.html").read_text(encoding="utf-8")
    body = re.search(r'<table id="budget-ladder">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert body is not None and body.group(1).count("<tr") == len(ladder)


def test_budget_ladder_marginal_cost_by_hand():
    options = pd.DataFrame(
        {
            "cost_usd": [100.0, 120.0, 140.0, 400.0, 1000.0],
            "kgco2e": [50.0, 30.0, 40.0, 10.0, 9.0],
        }
    )
    ladder = budget_ladder(options)
    # x1 -> $100 (50 kg); x1.25 -> $120 (30 kg): $20 for 20 kg = $1,000/t
    assert [r.cost_usd for r in ladder] == [100.0, 120.0, 120.0, 120.0, 120.0, 1000.0]
    assert ladder[1].usd_per_t_avoided == pytest.approx(20 / 0.020)
    assert ladder[2].usd_per_t_avoided is None  # nothing more avoided at x1.5
    assert ladder[-1].multiple is None  # lowest carbon at any price: $1000, 9 kg
    assert ladder[-1].usd_per_t_avoided == pytest.approx(880 / 0.021)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0.01, 1e5, allow_nan=False), st.floats(0.0, 1e4, allow_nan=False)),
        min_size=1,
        max_size=40,
    )
)
def test_budget_ladder_starts_cheapest_and_never_rises(points):
    options = pd.DataFrame(points, columns=["cost_usd", "kgco2e"])
    ladder = budget_ladder(options)
    cheapest = options["cost_usd"].min()
    assert ladder[0].cost_usd == cheapest
    assert ladder[0].kgco2e == options.loc[options["cost_usd"] == cheapest, "kgco2e"].min()
    kgs = [r.kgco2e for r in ladder]
    assert all(b <= a for a, b in itertools.pairwise(kgs))
    assert kgs[-1] == options["kgco2e"].min()
    for row in ladder:
        if row.usd_per_t_avoided is not None:
            assert row.usd_per_t_avoided >= 0 and row.avoided_kgco2e > 0


# --- the charts' content --------------------------------------------------------------------


def _lines(fig, prefix: str):
    return [
        line for ax in fig.axes for line in ax.lines if (line.get_gid() or "").startswith(prefix)
    ]


def test_tradeoff_chart_plots_every_option_and_a_non_dominated_frontier(made):
    from recommender.reports import charts

    out, _ = made
    plan = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    options = pd.DataFrame(plan["options"])
    fig = charts.tradeoff_figure(options, recommended=None, baseline=None, title="t")
    points = _lines(fig, "options:")
    assert sum(len(line.get_xdata()) for line in points) == len(options)
    xy = {
        (x, y) for line in points for x, y in zip(line.get_xdata(), line.get_ydata(), strict=True)
    }
    assert xy == set(zip(options["cost_usd"], options["kgco2e"], strict=True))
    (frontier,) = _lines(fig, "frontier")
    assert frontier.get_drawstyle() == "steps-post"
    fx, fy = np.asarray(frontier.get_xdata()), np.asarray(frontier.get_ydata())
    assert len(fx) >= 2 and np.all(np.diff(fx) >= 0) and np.all(np.diff(fy) < 0)
    c, k = options["cost_usd"].to_numpy(), options["kgco2e"].to_numpy()
    for x, y in zip(fx, fy, strict=True):  # nothing is at least as good on both and better on one
        dominated = (c <= x) & (k <= y) & ((c < x) | (k < y))
        assert not dominated.any(), (x, y)
    front = pareto_mask(options["cost_usd"], options["kgco2e"])
    assert len(fx) == int(front.sum())
    ax = points[0].axes
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"  # $120..$12k, 4..600 kg


def test_chart_files_hold_one_marker_per_option(made):
    out, _ = made
    plan = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    svg = (out / "tradeoff.svg").read_text(encoding="utf-8")
    groups = dict(
        (m.group(1), m.group(2).count("<use"))
        for m in re.finditer(r'<g id="(options:[^"]+)">(.*?)</g>', svg, re.S)
    )
    expected: dict[str, int] = {}
    for o in plan["options"]:
        key = f"options:{o['provider']}:{o['market']}"
        expected[key] = expected.get(key, 0) + 1
    assert groups == expected
    assert 'id="frontier"' in svg and 'id="recommended"' in svg and 'id="baseline"' in svg


def test_region_chart_is_sorted_and_keeps_the_baseline(made):
    from recommender.reports import charts

    out, _ = made
    plan = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    report = build_report(plan, top=20, origin="t", command="t")
    regions = report.regions
    assert report.region_count > 30 and len(regions) < report.region_count
    drawn = regions.dropna()
    assert list(drawn["kgco2e"]) == sorted(drawn["kgco2e"])
    assert any("aws:us-east-1" in label and "baseline" in label for label in drawn["label"])
    assert regions["label"].str.contains("more regions").sum() >= 1
    fig = charts.region_figure(regions, title="t")
    bars = [p for ax in fig.axes for p in ax.patches if p.get_gid() == "kg-bars"]
    assert sorted(b.get_width() for b in bars) == sorted(drawn["kgco2e"])
    back = [p for ax in fig.axes for p in ax.patches if p.get_gid() == "intensity-bars"]
    assert sorted(b.get_width() for b in back) == sorted(drawn["gco2_per_kwh"])
    svg = charts.svg_bytes(fig).decode()
    assert svg.count('id="kg-bars"') == len(drawn) == svg.count('id="intensity-bars"')


# --- --from ---------------------------------------------------------------------------------


def test_report_from_a_saved_plan(cli, tmp_path):
    saved = cli("suggest", "--gpu-hours", "100", "--provider", "aws", "--format", "json")
    assert saved.code == 0, saved.err
    plan = tmp_path / "plan.json"
    plan.write_text(saved.out, encoding="utf-8")
    result = cli("report", "--from", str(plan), "--out", str(tmp_path / "r"), "--format", "json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["options"] == len(json.loads(saved.out)["options"])  # what the file holds
    assert {f["file"] for f in doc["files"]} == set(REPORT_FILES)
    md = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    assert "the saved plan" in md and "--top 0" in md  # says the plan was cut
    again = json.loads((tmp_path / "r" / "plan.json").read_text(encoding="utf-8"))
    assert again["options"] == json.loads(saved.out)["options"]


def test_from_cannot_be_combined_with_job_flags(cli, tmp_path):
    plan = tmp_path / "plan.json"
    plan.write_text(cli("suggest", "--gpu-hours", "10", "--format", "json").out)
    result = cli("report", "--from", str(plan), "--gpu-hours", "5", "--out", str(tmp_path / "r"))
    assert result.code == 2
    assert "--from" in result.err and "--gpu-hours" in result.err
    assert not (tmp_path / "r").exists()


def test_report_needs_the_job(cli, tmp_path):
    result = cli("report", "--out", str(tmp_path / "r"))
    assert result.code == 2 and "error:" in result.err and "hint:" in result.err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "content,message",
    [
        (None, "cannot read --from"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"carbon: yes\n", "is not JSON"),
        (b"[1, 2, 3]", "not a saved 'carbonplan suggest --format json' plan"),
        (b'{"type": "FeatureCollection", "features": []}', "no 'job', 'assumptions', 'options'"),
        (b'{"job": {}, "assumptions": {}, "options": []}', "has no options"),
        (
            b'{"job": {}, "assumptions": {}, "options": [{"rank": 1, "provider": "aws"}]}',
            "option 1 has no region",
        ),
    ],
)
def test_unreadable_or_foreign_from_is_refused(cli, tmp_path, content, message):
    plan = tmp_path / "plan.json"
    if content is not None:
        plan.write_bytes(content)
    out = tmp_path / "r"
    result = cli("report", "--from", str(plan), "--out", str(out))
    assert result.code == 2, result.err
    assert message in result.err, result.err
    assert "hint:" in result.err and "Traceback" not in result.err
    assert not out.exists() and _leftovers(tmp_path) == []


def test_bad_numbers_in_a_saved_plan_name_the_option_and_field(tmp_path, cli):
    good = json.loads(cli("suggest", "--gpu-hours", "10", "--format", "json", "--top", "3").out)
    good["options"][2]["kgco2e"] = "NaN"
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(good))
    result = cli("report", "--from", str(plan), "--out", str(tmp_path / "r"))
    assert result.code == 2 and "option 3 has no valid kgco2e" in result.err


# --- writing: refuse, replace, never half-write ---------------------------------------------


def test_existing_report_is_refused_without_force_and_replaced_with_it(cli, tmp_path):
    out = tmp_path / "r"
    args = ["report", "--gpu-hours", "50", "--provider", "gcp", "--out", str(out)]
    assert cli(*args).code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    again = cli(*args[:-2], "--gpu-hours", "60", "--out", str(out))  # typer takes the last value
    assert again.code == 2 and "already holds a report" in again.err and "--force" in again.err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    forced = cli(*args, "--gpu-hours", "60", "--force")
    assert forced.code == 0, forced.err
    assert (out / "plan.json").read_bytes() != before["plan.json"]
    assert json.loads((out / "plan.json").read_text())["job"]["gpu_hours"] == 60
    assert _leftovers(tmp_path) == []


def test_force_never_deletes_files_that_are_not_a_report(cli, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    result = cli("report", "--gpu-hours", "50", "--out", str(out), "--force")
    assert result.code == 2 and "not part of a report" in result.err
    assert (out / "thesis.tex").read_text() == "precious"
    assert sorted(p.name for p in out.iterdir()) == ["thesis.tex"]


def test_unwritable_out_is_a_clear_error_and_leaves_nothing(cli, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = cli("report", "--gpu-hours", "50", "--out", str(blocker / "r"))
    assert result.code == 2 and "cannot write --out" in result.err, result.err
    assert blocker.read_text() == "not a directory"
    result = cli("report", "--gpu-hours", "50", "--out", str(blocker))
    assert result.code == 2 and "is a file" in result.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_a_failure_while_writing_leaves_the_old_report_intact(cli, tmp_path, monkeypatch):
    out = tmp_path / "r"
    assert cli("report", "--gpu-hours", "50", "--provider", "gcp", "--out", str(out)).code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real_write = Path.write_bytes
    calls = {"n": 0}

    def flaky(self, data):
        calls["n"] += 1
        if calls["n"] == 4:
            raise OSError(28, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", flaky)
    result = cli("report", "--gpu-hours", "70", "--out", str(out), "--force")
    assert result.code == 2 and "No space left on device" in result.err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert _leftovers(tmp_path) == []
    calls["n"] = 0
    fresh = tmp_path / "new"
    assert cli("report", "--gpu-hours", "70", "--out", str(fresh)).code == 2
    assert not fresh.exists() and _leftovers(tmp_path) == []


def test_report_table_output_lists_the_files(cli, tmp_path):
    result = cli("report", "--gpu-hours", "50", "--gpu", "T4", "--out", str(tmp_path / "r"))
    assert result.code == 0, result.err
    for name in REPORT_FILES:
        assert name in result.out
    assert "report.html" in result.out and "open " in result.out


def test_read_plan_accepts_what_suggest_writes(cli, tmp_path):
    saved = cli("suggest", "--gpu-hours", "10", "--format", "json", "--top", "2")
    plan = tmp_path / "plan.json"
    plan.write_text(saved.out)
    assert read_plan(plan)["options"][0]["rank"] == 1


# --- suggest --plot -------------------------------------------------------------------------


def test_suggest_plot_draws_every_option_in_the_terminal(cli):
    result = cli("suggest", "--gpu-hours", "400", "--provider", "aws", "--top", "5", "--plot")
    assert result.code == 0, result.err
    rows = re.findall(r"^ *\d+ +P? +aws ", result.out, flags=re.M)
    assert len(rows) == 5  # the table keeps --top
    feasible = int(re.search(r"of (\d+) feasible", result.out).group(1))
    hidden = int(re.search(r"(\d+) other sizes", result.out).group(1))
    assert f": {feasible - hidden} options" in result.out  # the chart has them all
    chart = result.out[result.out.index("kg CO2e") :]
    plot_rows = [line for line in chart.splitlines() if "|" in line]
    import inspect

    from recommender.reports.terminal import tradeoff_text

    # one line a row of the chart: the height the terminal chart is drawn with
    assert len(plot_rows) == inspect.signature(tradeoff_text).parameters["height"].default
    grid = "".join(line.split("|", 1)[1] for line in plot_rows)
    assert grid.count("*") == 1  # the recommended option
    assert "P" in grid and ("o" in grid or "^" in grid)
    assert "Pareto frontier" in chart and "on-demand" in chart


def test_suggest_plot_with_json_is_refused(cli):
    result = cli("suggest", "--gpu-hours", "400", "--plot", "--format", "json")
    assert result.code == 2 and "--plot" in result.err


def test_suggest_plot_stays_free_of_matplotlib():
    code = (
        "import io, sys, contextlib\n"
        "from recommender.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['suggest', '--gpu-hours', '400', '--plot']) == 0\n"
        "print(','.join(sorted(m for m in sys.modules if m.startswith('matplotlib'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
