"""The report's campaign breakdown: one run vs the whole search (grid and random side by side),
fine-tune vs from scratch, checked on the JSON data (plan.json and ``report --format json``)
against independent ``suggest`` runs, and its absence where it does not apply."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recommender import api
from recommender.planner.sizing import from_flags
from recommender.reports import text as T
from recommender.reports.campaign import applies, variants

SEARCH = ["--params", "200M", "--tokens", "4B", "--trials", "20"]
FINETUNE = ["--params", "200M", "--finetune", "--examples", "100k", "--seq-len", "512"]
FINETUNE += ["--epochs", "3"]
OPTION_KEYS = ("provider", "region", "instance_type", "market", "instances")


def _report(cli, out: Path, *flags: str) -> tuple[dict, dict]:
    """Run report; return what it printed (--format json) and the plan.json it wrote."""
    result = cli("report", *flags, "--out", str(out), "--format", "json")
    assert result.code == 0, result.err
    printed = json.loads(result.out)
    saved = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    return printed, saved


def _best(cli, *flags: str) -> dict:
    """The best option of ``suggest`` for these flags: the independent check of each row."""
    result = cli("suggest", *flags, "--top", "1", "--format", "json")
    assert result.code == 0, result.err
    return json.loads(result.out)["options"][0]


def _rows(breakdown: dict) -> dict[str, dict]:
    return {row["kind"]: row for row in breakdown["rows"]}


def test_one_run_vs_a_random_search(cli, tmp_path):
    printed, saved = _report(cli, tmp_path / "r", *SEARCH)
    breakdown = saved["campaign_breakdown"]
    assert printed["campaign_breakdown"] == breakdown
    assert [r["kind"] for r in breakdown["rows"]] == ["one_run", "campaign"]  # no fine-tune row
    one, campaign = breakdown["rows"]
    assert (one["trials"], one["planned"], campaign["trials"], campaign["planned"]) == (
        1,
        False,
        20,
        True,
    )
    assert one["flops"] == pytest.approx(6 * 200e6 * 4e9)  # 6ND, by hand: 4.8e18
    assert campaign["flops"] == pytest.approx(20 * 6 * 200e6 * 4e9)

    # the planned row is the plan's recommended option; the one-run row is what suggest gives
    # for a single run, planned afresh
    recommended = min(saved["options"], key=lambda o: o["rank"])
    assert {k: campaign[k] for k in OPTION_KEYS} == {k: recommended[k] for k in OPTION_KEYS}
    assert campaign["kgco2e"] == recommended["kgco2e"]
    single = _best(cli, "--params", "200M", "--tokens", "4B")
    assert {k: one[k] for k in OPTION_KEYS} == {k: single[k] for k in OPTION_KEYS}
    assert one["kgco2e"] == pytest.approx(single["kgco2e"])
    assert one["cost_usd"] == pytest.approx(single["cost_usd"])

    # the same best option for both: the campaign is 20 runs' worth of kg and $
    assert campaign["same_option_as_one_run"] is True
    assert campaign["kgco2e"] / one["kgco2e"] == pytest.approx(20, rel=1e-4)
    assert campaign["kg_ratio_to_one_run"] == pytest.approx(20, rel=1e-4)
    assert campaign["usd_ratio_to_one_run"] == pytest.approx(20, rel=1e-4)
    assert campaign["wall_hours"] == pytest.approx(20 * one["wall_hours"], rel=1e-4)

    html = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    table = html[html.index('<table id="campaign">') :]
    table = table[: table.index("</table>")]
    assert '<th scope="col" class="n">kg CO2e vs one run</th>' in table
    assert table.count('<th scope="row">') == 2 and "20x" in table
    md = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    assert "## Campaign breakdown" in md and "emits 20x one run" in md
    assert md.index("## Campaign breakdown") < md.index("## Cost vs carbon")


def test_grid_and_random_side_by_side(cli, tmp_path):
    _, saved = _report(cli, tmp_path / "r", *SEARCH, "--grid", "lr=4,batch=3")
    rows = _rows(saved["campaign_breakdown"])
    assert list(rows) == ["one_run", "grid_search", "random_search"]
    grid, rand = rows["grid_search"], rows["random_search"]
    assert (grid["trials"], grid["planned"], rand["trials"], rand["planned"]) == (
        12,
        True,
        20,
        False,
    )
    assert "lr 4 x batch 3" in grid["label"]
    assert grid["kg_ratio_to_one_run"] == pytest.approx(12, rel=1e-4)
    assert rand["kg_ratio_to_one_run"] == pytest.approx(20, rel=1e-4)
    # the random row is the random search planned on its own
    alone = _best(cli, *SEARCH, "--grid", "lr=4,batch=3", "--search", "random")
    assert rand["kgco2e"] == pytest.approx(alone["kgco2e"])
    md = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    assert "| **full grid (lr 4 x batch 3), 12 trials - as planned** |" in md
    assert "| random search, 20 trials |" in md


def test_early_stop_scales_the_campaign_not_the_one_run(cli, tmp_path):
    _, saved = _report(cli, tmp_path / "r", "--gpu-hours", "400", "--trials", "5")
    rows = _rows(saved["campaign_breakdown"])
    assert rows["campaign"]["kg_ratio_to_one_run"] == pytest.approx(5, rel=1e-4)
    assert rows["one_run"]["flops"] is None  # sized in GPU-hours: no FLOPs column
    md = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    assert "| FLOPs |" not in md.split("## Campaign breakdown")[1].split("##")[0]

    campaign = from_flags(trials=5, early_stop=0.5)
    one, planned = variants(campaign)
    assert (one.campaign.search.runs, planned.campaign.search.runs) == (1.0, 2.5)
    assert "0.5 of a run" in planned.label


def test_finetune_gets_a_from_scratch_row_with_its_assumption(cli, tmp_path):
    _, saved = _report(cli, tmp_path / "r", *FINETUNE)
    breakdown = saved["campaign_breakdown"]
    rows = _rows(breakdown)
    assert list(rows) == ["one_run", "from_scratch"]
    one, scratch = rows["one_run"], rows["from_scratch"]
    assert one["planned"] and not scratch["planned"]
    assert one["flops"] == pytest.approx(6 * 200e6 * 100e3 * 512 * 3)
    assert scratch["flops"] == pytest.approx(6 * 200e6 * (20 * 200e6))  # 20 tokens per param
    assert "20 tokens per parameter" in scratch["assumption"]
    assert "Chinchilla" in scratch["assumption"]
    figure = breakdown["assumptions"]["pretraining_tokens_per_param"]
    assert figure["value"] == 20 and "Hoffmann et al. 2022" in figure["source"]
    # from scratch is the same model trained on 4B tokens, planned on its own
    alone = _best(cli, "--params", "200M", "--tokens", "4B")
    assert scratch["kgco2e"] == pytest.approx(alone["kgco2e"])
    assert scratch["kg_ratio_to_one_run"] == pytest.approx(
        alone["kgco2e"] / one["kgco2e"], rel=1e-3
    )
    md = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    assert "[assumption: 20 tokens per parameter" in md
    html = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert "Training the model from scratch instead would emit" in html


def test_a_row_with_no_feasible_option_says_why(cli, tmp_path):
    _, saved = _report(cli, tmp_path / "r", *FINETUNE[:-2], "--max-kg", "0.01")
    scratch = _rows(saved["campaign_breakdown"])["from_scratch"]
    assert scratch["kgco2e"] is None and scratch["kg_ratio_to_one_run"] is None
    assert "--max-kg" in scratch["note"]


def test_plain_gpu_hours_report_has_no_section(cli, tmp_path):
    printed, saved = _report(cli, tmp_path / "r", "--gpu-hours", "400")
    assert "campaign_breakdown" not in printed and "campaign_breakdown" not in saved
    for name in ("report.md", "report.html"):
        assert "Campaign breakdown" not in (tmp_path / "r" / name).read_text(encoding="utf-8")
    assert not applies(from_flags())


def test_from_a_saved_suggest_plan_explains_the_absence(cli, tmp_path):
    plan = tmp_path / "plan.json"
    saved = cli("suggest", *SEARCH, "--top", "0", "--format", "json")
    plan.write_text(saved.out, encoding="utf-8")
    printed, again = _report(cli, tmp_path / "r", "--from", str(plan))
    assert "campaign_breakdown" not in printed and "campaign_breakdown" not in again
    md = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    html = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert f"> {T.CAMPAIGN_MISSING}" in md
    assert "rerun &#x27;carbonplan report&#x27; with the job flags" in html
    assert '<table id="campaign">' not in html


def test_from_a_report_plan_json_redraws_the_saved_breakdown(cli, tmp_path):
    _, first = _report(cli, tmp_path / "a", *SEARCH)
    _, second = _report(cli, tmp_path / "b", "--from", str(tmp_path / "a" / "plan.json"))
    assert second["campaign_breakdown"] == first["campaign_breakdown"]
    html = (tmp_path / "b" / "report.html").read_text(encoding="utf-8")
    assert '<table id="campaign">' in html

    broken = dict(first, campaign_breakdown={"rows": [{"label": "x", "kgco2e": "lots"}]})
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken), encoding="utf-8")
    result = cli("report", "--from", str(path), "--out", str(tmp_path / "c"))
    assert result.code == 2 and "campaign_breakdown" in result.err and "kgco2e" in result.err


def test_report_plans_at_most_four_times(cli, tmp_path, monkeypatch):
    calls = []
    real = api.Resolved.run

    def counted(self, **kwargs):
        calls.append(self.job.trials)
        return real(self, **kwargs)

    monkeypatch.setattr(api.Resolved, "run", counted)
    flags = [*FINETUNE, "--trials", "20", "--grid", "lr=4,batch=3"]
    _, saved = _report(cli, tmp_path / "r", *flags)
    assert [r["kind"] for r in saved["campaign_breakdown"]["rows"]] == [
        "one_run",
        "grid_search",
        "random_search",
        "from_scratch",
    ]
    assert sorted(calls) == [1, 1, 12, 20]  # the plan (grid), one run, random, from scratch
