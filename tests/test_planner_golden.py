"""The planner ranks exactly as it did before it was made faster (issue 17).

``tests/fixtures/planner_golden.json.gz`` was written by the planner as it was before the
speed-up (commit "tests: planner golden rankings"), by running this module as a script::

    .venv/bin/python tests/test_planner_golden.py --write

For a varied set of requests on the shipped data it holds the whole ranking (rank, identity,
kg and $ as exact float reprs, Pareto flag), every column of the planner's options frame
(dtype and a SHA-256 of its exact values), the table's combined-markets rows, the counts and
constraint steps, or the error a request gives. The test plans the same requests now and
compares them all: bit for bit, not to a tolerance.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "fixtures" / "planner_golden.json.gz"
TRACE = str(ROOT / "samples" / "ES_week.csv")

# name -> (suggest keywords, top, all_sizes)
CASES: dict[str, tuple[dict[str, Any], int, bool]] = {
    "default": ({"gpu_hours": 400}, 0, False),
    "cost": ({"gpu_hours": 400, "objective": "cost"}, 0, False),
    "time-deadline": (
        {"gpu_hours": 2000, "objective": "time", "deadline": 24, "max_instances": 4},
        0,
        False,
    ),
    "balanced": ({"gpu_hours": 400, "objective": "balanced", "carbon_price": 200}, 0, False),
    "all-sizes": ({"gpu_hours": 1000}, 0, True),
    "spot-two-clouds": ({"gpu_hours": 50, "provider": ["aws", "gcp"], "spot": True}, 50, False),
    "gpus-baseline": (
        {
            "gpu_hours": 400,
            "gpu": ["H100", "A100"],
            "on_demand": True,
            "baseline": "aws:us-east-1",
        },
        0,
        False,
    ),
    "baseline-all-sizes": ({"gpu_hours": 120, "baseline": "gcp:us-central1"}, 40, True),
    "params": ({"params": "7B", "tokens": "100B"}, 0, False),
    "regions": (
        {
            "gpu_hours": 300,
            "provider": "aws,azure",
            "exclude_region": "aws:us-east-1",
            "min_gpu_memory": 40,
        },
        0,
        False,
    ),
    "budget": ({"gpu_hours": 400, "max_cost": 2000, "max_kg": 50}, 0, False),
    "provider-basis": ({"gpu_hours": 400, "intensity_basis": "provider"}, 25, False),
    "trace-window": (
        {
            "gpu_hours": 64,
            "intensity_file": TRACE,
            "start_after": "2022-06-02T00:00:00Z",
            "deadline": 72,
            "region": ["aws:eu-south-2", "azure:spaincentral", "aws:us-east-1"],
        },
        0,
        False,
    ),
    "search": (
        {"gpu_hours": 30, "trials": 12, "early_stop": 0.5, "objective": "cost"},
        0,
        False,
    ),
    "assumptions": (
        {
            "gpu_hours": 5000,
            "no_embodied": True,
            "utilisation": 0.6,
            "scaling_efficiency": 0.8,
            "deadline": 60,
            "max_instances": 16,
        },
        0,
        False,
    ),
    "finetune-peft": (
        {"params": "13B", "finetune": True, "examples": "50k", "seq_len": 2048, "peft": True},
        30,
        False,
    ),
    "no-option": ({"gpu_hours": 400, "max_cost": 1}, 0, False),
    "memory-no-fit": ({"params": "70B", "tokens": "1T", "gpu": "T4"}, 0, False),
}

RANKING = ["rank", "provider", "region", "instance_type", "market", "kgco2e", "cost_usd"]


def _exact(value: Any) -> Any:
    """A value as text that tells every float bit apart (repr round-trips)."""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    if hasattr(value, "item"):  # a numpy scalar
        return _exact(value.item())
    return repr(value)


def _digest(values: list[Any]) -> str:
    text = json.dumps([_exact(v) for v in values], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _frame(frame: Any) -> dict[str, Any]:
    return {
        "rows": len(frame),
        "columns": [
            [name, str(frame[name].dtype), _digest(frame[name].tolist())] for name in frame.columns
        ],
    }


def snapshot(name: str) -> dict[str, Any]:
    """What the planner gives for the case ``name`` now."""
    import recommender
    from recommender.errors import CarbonplanError
    from recommender.planner.core import combine_markets

    kwargs, top, all_sizes = CASES[name]
    try:
        result = recommender.suggest(
            **kwargs, top=top, all_sizes=all_sizes, warn=lambda message: None
        ).result
    except CarbonplanError as exc:
        return {"error": [type(exc).__name__, exc.message, exc.hint]}
    options = result.options
    ranking = [
        [_exact(v) for v in row]
        for row in zip(*(options[c].tolist() for c in RANKING), strict=True)
    ]
    return {
        "feasible": result.feasible,
        "candidates": result.candidates,
        "hidden_sizes": result.hidden_sizes,
        "steps": [[s.name, s.remaining, s.detail] for s in result.steps],
        "ranking": ranking,
        "pareto": [bool(v) for v in options["pareto"].tolist()],
        "options": _frame(options),
        "combined": _frame(combine_markets(options, 20)),
    }


def _golden() -> dict[str, Any]:
    with gzip.open(GOLDEN, "rt", encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_ranking_is_the_one_before_the_speed_up(name):
    expected = _golden()[name]
    got = snapshot(name)
    if "error" in expected:
        assert got == expected
        return
    for key in ("feasible", "candidates", "hidden_sizes", "steps"):
        assert got[key] == expected[key], key
    assert got["ranking"] == expected["ranking"]
    assert got["pareto"] == expected["pareto"]
    for part in ("options", "combined"):
        assert got[part]["rows"] == expected[part]["rows"]
        assert [c[0] for c in got[part]["columns"]] == [c[0] for c in expected[part]["columns"]]
        for column, want in zip(got[part]["columns"], expected[part]["columns"], strict=True):
            assert column == want, part


def test_the_golden_file_covers_every_case_and_both_outcomes():
    golden = _golden()
    assert sorted(golden) == sorted(CASES)
    errors = [name for name, case in golden.items() if "error" in case]
    assert sorted(errors) == ["memory-no-fit", "no-option"]
    assert all(len(golden[n]["ranking"]) > 0 for n in golden if n not in errors)


def _write() -> None:
    import tempfile

    base = Path(tempfile.mkdtemp())
    os.environ["CARBONPLAN_CACHE_DIR"] = str(base / "cache")
    os.environ["CARBONPLAN_CONFIG"] = str(base / "no-config.toml")
    os.environ["CARBONPLAN_OVERLAY_DIR"] = str(base / "no-overlay")
    os.environ["CARBONPLAN_PRICES_MAX_AGE_DAYS"] = "0"
    from recommender import config

    for setting, key in config.PLAN_KEYS.items():
        os.environ.pop(key.env(setting), None)
    data = {name: snapshot(name) for name in sorted(CASES)}
    with gzip.GzipFile(GOLDEN, "wb", mtime=0) as f:
        f.write(json.dumps(data, indent=0, sort_keys=True).encode())
    print(f"wrote {GOLDEN} ({GOLDEN.stat().st_size:,} bytes)")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_planner_golden.py --write")
    _write()


# --- the array path and the frame path agree --------------------------------------------
# plan() ranks static figures on arrays and takes the frame path when an intensity hook is
# given; a hook that replaces nothing must give the very same plan.


def _frame_path(frame):
    return frame[[]]


def _both(offers, regions, gpus, job, settings, constraints, **kwargs):
    from recommender.planner import plan

    fast = plan(offers, regions, gpus, job, settings, constraints, **kwargs)
    slow = plan(
        offers, regions, gpus, job, settings, constraints, intensity_fn=_frame_path, **kwargs
    )
    return fast, slow


def _same(fast, slow):
    import pandas as pd

    pd.testing.assert_frame_equal(fast.options, slow.options, check_exact=True)
    assert (fast.feasible, fast.candidates, fast.hidden_sizes, fast.steps) == (
        slow.feasible,
        slow.candidates,
        slow.hidden_sizes,
        slow.steps,
    )


@pytest.mark.parametrize("objective", ["carbon", "cost", "time", "balanced"])
@pytest.mark.parametrize(("top", "all_sizes"), [(None, False), (3, False), (4, True), (None, True)])
@pytest.mark.parametrize("wide_rows", [200_000, 0])
def test_ties_and_duplicates_rank_alike_on_both_paths(
    tiny, objective, top, all_sizes, wide_rows, monkeypatch
):
    """``wide_rows`` 0: the shown rows are joined anew, as for a catalog too large to keep
    as one frame."""
    import pandas as pd

    from recommender.planner import Constraints, Job, Settings, core

    monkeypatch.setattr(core, "_WIDE_ROWS", wide_rows)

    # every offer twice (same identity: only their order tells them apart), and a copy of
    # each in a region with the same figures (ties on every figure, not on the name)
    twin = tiny.offers.assign(region=tiny.offers["region"] + "-twin")
    offers = pd.concat([tiny.offers, tiny.offers, twin], ignore_index=True)
    regions = pd.concat(
        [tiny.regions, tiny.regions.assign(region=tiny.regions["region"] + "-twin")],
        ignore_index=True,
    )
    fast, slow = _both(
        offers,
        regions,
        tiny.gpus,
        Job(gpu_hours=64.0, ref_gpu="A100"),
        Settings(objective=objective),
        Constraints(deadline_hours=30.0, max_instances=4),
        top=top,
        all_sizes=all_sizes,
        baseline=("aws", "dirty-1"),
    )
    _same(fast, slow)
    assert len(fast.options) > 1


@pytest.mark.parametrize(
    "constraints",
    [
        {"providers": ("gcp",), "markets": ("spot",)},
        {"regions": (("aws", "eu-north-1"), ("gcp", "us-central1")), "min_gpu_memory_gb": 24.0},
        {"exclude_regions": (("aws", "us-east-1"),), "gpus": ("L4", "A10G", "T4")},
        {"max_cost_usd": 900.0, "deadline_hours": 48.0, "max_instances": 2},
    ],
)
@pytest.mark.parametrize("wide_rows", [200_000, 0])
def test_constraints_filter_alike_on_both_paths(constraints, wide_rows, monkeypatch):
    from recommender.catalog import load_catalog
    from recommender.planner import Constraints, Job, Settings, core

    monkeypatch.setattr(core, "_WIDE_ROWS", wide_rows)

    catalog = load_catalog()
    fast, slow = _both(
        catalog.offers,
        catalog.regions,
        catalog.gpus,
        Job(gpu_hours=250.0, memory_gb_required=20.0),
        Settings(objective="cost"),
        Constraints(**constraints),
        top=15,
    )
    _same(fast, slow)
    assert fast.steps and fast.feasible < fast.candidates


def test_a_frame_changed_in_place_is_planned_again(tiny):
    from recommender.planner import Job, plan

    before = plan(tiny.offers, tiny.regions, tiny.gpus, Job(gpu_hours=100.0), top=1).options
    tiny.regions.loc[tiny.regions["region"] == "clean-1", "gco2_per_kwh"] = 900.0
    tiny.regions.loc[tiny.regions["region"] == "clean-1", "gco2_per_kwh_high"] = 900.0
    after = plan(tiny.offers, tiny.regions, tiny.gpus, Job(gpu_hours=100.0), top=1).options
    assert before["region"].iloc[0] == "clean-1"
    assert after["region"].iloc[0] != "clean-1"


@pytest.mark.parametrize(
    ("constraints", "job"),
    [
        ({"providers": ("azure",), "gpus": ("L4", "A10G")}, {}),
        ({"gpus": ("T4",)}, {"memory_gb_required": 500.0}),
        ({"max_kgco2e": 0.01}, {}),
        ({"deadline_hours": 1.0, "max_instances": 2}, {}),
    ],
)
def test_no_option_is_the_same_error_on_both_paths(constraints, job):
    from recommender.catalog import load_catalog
    from recommender.errors import NoOptionError
    from recommender.planner import Constraints, Job, Settings

    catalog = load_catalog()
    errors = []
    for hook in (None, _frame_path):
        with pytest.raises(NoOptionError) as caught:
            plan_args = (catalog.offers, catalog.regions, catalog.gpus)
            from recommender.planner import plan

            plan(
                *plan_args,
                Job(gpu_hours=900.0, **job),
                Settings(),
                Constraints(**constraints),
                intensity_fn=hook,
            )
        errors.append((caught.value.message, caught.value.hint))
    assert errors[0] == errors[1]
