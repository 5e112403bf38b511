"""What `suggest --interruptible` shows agrees with what it counts (issue 13: run_intervals
once showed a partial period as whole in 13 of 120 cases).

For random hourly traces, start times, deadlines, job sizes and restart
overheads, every option's ``run_intervals`` are checked against the other
fields of the same option, from the trace itself:

- the intervals lie in [--start-after, --deadline], in order, without overlap, and there are
  ``pauses + 1`` of them;
- their lengths sum to ``run_hours``, which is ``wall_hours + pauses x checkpoint hours``;
- the intensity of the trace integrated over the intervals, at the option's energy per hour
  of running, is the ``operational_kgco2e`` reported.

Starts fall on the trace's hours and inside them: with a start inside a trace period the
planner's grid runs from --start-after and each grid period straddles two trace periods; a
partly used one is charged for the part run (the last test pins the case that found it).

Times in the JSON are rounded to the second and figures to 6 decimals: the tolerances below
are those roundings, nothing looser.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ORIGIN = datetime(2025, 3, 1, tzinfo=UTC)
SECOND_H = 1 / 3600


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _hours(when: datetime) -> float:
    return (when - ORIGIN).total_seconds() / 3600


def _integral(values: list[float], a: float, b: float) -> float:
    """The hourly step function ``values`` (hour i from ORIGIN + i h) integrated over [a, b)."""
    total = 0.0
    for i, v in enumerate(values):
        lo, hi = max(a, float(i)), min(b, float(i + 1))
        if hi > lo:
            total += (hi - lo) * v
    return total


@st.composite
def plans(draw):
    values = draw(
        st.lists(
            st.one_of(
                st.sampled_from([50.0, 100.0, 400.0]),
                st.floats(min_value=10, max_value=800, allow_nan=False, allow_infinity=False),
            ),
            min_size=30,
            max_size=72,
        )
    )
    # on the trace's hours and inside them (the grid then straddles two trace hours)
    start_min = draw(st.one_of(st.integers(0, 6).map(lambda h: 60 * h), st.integers(0, 360)))
    deadline_h = draw(st.floats(min_value=4.0, max_value=len(values) - start_min / 60 - 1))
    gpu_hours = draw(st.floats(min_value=1.0, max_value=60.0))
    checkpoint = draw(st.sampled_from([0.0, 5.0, 7.0, 20.0, 60.0, 95.0]))
    return values, start_min, round(deadline_h, 3), round(gpu_hours, 3), checkpoint


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plans())
def test_intervals_hours_and_kg_agree(cli, tmp_path, plan):
    values, start_min, deadline_h, gpu_hours, checkpoint = plan
    trace = tmp_path / "trace.csv"
    rows = [
        f"{(ORIGIN + timedelta(hours=i)).strftime('%Y-%m-%dT%H:%M:%SZ')},{v!r}"
        for i, v in enumerate(values)
    ]
    trace.write_text("datetime,gco2_per_kwh\n" + "\n".join(rows) + "\n")
    begin = ORIGIN + timedelta(minutes=start_min)
    result = cli(
        "suggest",
        "--gpu-hours",
        str(gpu_hours),
        "--region",
        "aws:eu-north-1",
        "--intensity-file",
        str(trace),
        "--start-after",
        begin.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "--deadline",
        str(deadline_h),
        "--interruptible",
        "--checkpoint-minutes",
        str(checkpoint),
        "--top",
        "5",
        "--format",
        "json",
    )
    if result.code == 4:  # no option finishes by the deadline: nothing to compare
        return
    assert result.code == 0, result.err
    options = json.loads(result.out)["options"]
    assert options
    lo, hi = _hours(begin), _hours(begin) + deadline_h
    for o in options:
        intervals = [
            tuple(_hours(_t(x)) for x in part.split("/")) for part in o["run_intervals"].split()
        ]
        assert len(intervals) == o["pauses"] + 1
        for (a, b), nxt in zip(intervals, [*intervals[1:], None], strict=True):
            assert lo - SECOND_H <= a < b <= hi + SECOND_H
            if nxt is not None:
                assert b < nxt[0]  # a pause lies between two runs
        assert intervals[0][0] == pytest.approx(lo + o["delay_hours"], abs=SECOND_H)
        assert o["start"] == o["run_intervals"].split("/")[0]
        assert o["end"] == o["run_intervals"].split("/")[-1]
        shown = sum(b - a for a, b in intervals)
        tol = SECOND_H * len(intervals) + 1e-6
        assert shown == pytest.approx(o["run_hours"], abs=tol)
        assert o["run_hours"] == pytest.approx(
            o["wall_hours"] + o["pauses"] * checkpoint / 60, abs=2e-6
        )
        # the emissions of the shown intervals, at the option's power while it runs
        kw = o["energy_kwh"] / o["run_hours"]
        grams = sum(_integral(values, a, b) for a, b in intervals)
        per_s = max(values) * kw / 3600 / 1000  # kg per second of rounding
        assert grams * kw / 1000 == pytest.approx(
            o["operational_kgco2e"], rel=1e-5, abs=len(intervals) * 2 * per_s + 2e-6
        )


def test_a_start_inside_a_trace_period_charges_what_the_intervals_run_in(cli, tmp_path):
    """Found by the property test above with starts inside an hour: 34 hours at 50 g, one at
    10 g, one at 50 g; start 01:01, deadline 33 h (34:01), 1 GPU-hour, no overhead. The run
    is 3 minutes in a grid period (hh:01-hh+1:01) that straddles two trace hours; it was once
    charged at that grid period's mean (49.33 g where it holds a minute of the 10 g hour)
    although it ran at 50 g only."""
    values = [50.0] * 34 + [10.0, 50.0]
    trace = tmp_path / "trace.csv"
    rows = [
        f"{(ORIGIN + timedelta(hours=i)).strftime('%Y-%m-%dT%H:%M:%SZ')},{v!r}"
        for i, v in enumerate(values)
    ]
    trace.write_text("datetime,gco2_per_kwh\n" + "\n".join(rows) + "\n")
    result = cli(
        "suggest",
        "--gpu-hours",
        "1",
        "--region",
        "aws:eu-north-1",
        "--intensity-file",
        str(trace),
        "--start-after",
        "2025-03-01T01:01:00Z",
        "--deadline",
        "33",
        "--interruptible",
        "--checkpoint-minutes",
        "0",
        "--format",
        "json",
    )
    assert result.code == 0, result.err
    best = json.loads(result.out)["options"][0]
    (a, b), *rest = [
        tuple(_hours(_t(x)) for x in part.split("/")) for part in best["run_intervals"].split()
    ]
    assert not rest and b <= 1 + 1 / 60 + 33  # one run, before the deadline (01:01 + 33 h)
    assert best["gco2_per_kwh"] == pytest.approx(_integral(values, a, b) / (b - a), rel=1e-4)
