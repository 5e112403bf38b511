"""Turn planner frames into plain records (stable field names, plain floats, no numpy)."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

OPTION_FIELDS = [
    "rank",
    "provider",
    "region",
    "location",
    "country",
    "instance_type",
    "gpu",
    "gpus_per_instance",
    "instances",
    "market",
    "start",
    "wall_hours",
    "gpu_hours",
    "energy_kwh",
    "gco2_per_kwh",
    "intensity_source",
    "intensity_year",
    "intensity_basis",
    "intensity_method",
    "intensity_kind",
    "intensity_observed_at",
    "pue",
    "pue_source",
    "operational_kgco2e",
    "embodied_kgco2e",
    "kgco2e",
    "usd_per_hour",
    "cost_usd",
    "pareto",
    "rel_throughput",
    "throughput_basis",
    # low/high ranges from the spread of the inputs (recommender/planner/ranges.py)
    "kgco2e_low",
    "kgco2e_high",
    "wall_hours_low",
    "wall_hours_high",
    "energy_kwh_low",
    "energy_kwh_high",
    "gco2_per_kwh_low",
    "gco2_per_kwh_high",
    "rel_throughput_low",
    "rel_throughput_high",
    "vcpus",
    "memory_gib",
    "gpu_power_kw",
    "host_power_kw",
    "price_as_of",
    "price_source",
    "note",
]
BASELINE_FIELDS = [
    "baseline_instance_type",
    "baseline_match",  # same-instance, or same-gpus (closest instance with the same GPUs)
    "baseline_kgco2e",
    "baseline_cost_usd",
    "saves_kgco2e",
    "saves_usd",
]
# With --start-after/--deadline/--interruptible (recommender/planner/timing.py).
TIMING_FIELDS = [
    "end",
    "delay_hours",
    "run_hours",
    "pauses",
    "run_intervals",
    "run_now_gco2_per_kwh",
    "run_now_kgco2e",
    "shift_saving_pct",
]


def plain(value: Any, digits: int = 6) -> Any:
    """A JSON-safe plain Python value: numpy scalars unwrapped, NaN -> None, floats rounded."""
    if value is None or value is pd.NA:
        return None
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        return round(value, digits)
    return value


def frame_records(frame: pd.DataFrame, fields: Iterable[str]) -> list[dict[str, Any]]:
    columns = [f for f in fields if f in frame.columns]
    return [
        {name: plain(value) for name, value in zip(columns, row, strict=True)}
        for row in frame[columns].itertuples(index=False, name=None)
    ]


def option_records(options: pd.DataFrame) -> list[dict[str, Any]]:
    frame = options.assign(gpus_per_instance=options["gpu_count"])
    fields = list(OPTION_FIELDS)
    if "saves_kgco2e" in frame.columns:
        fields += BASELINE_FIELDS
    if "run_now_kgco2e" in frame.columns:
        fields += TIMING_FIELDS
    records = frame_records(frame, fields)
    for record in records:
        count = record["gpus_per_instance"]
        if isinstance(count, float) and count.is_integer():
            record["gpus_per_instance"] = int(count)
    return records


def to_json(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False)


def to_csv(records: Sequence[Mapping[str, Any]]) -> str:
    if not records:
        return ""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(records[0]), lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: ("" if v is None else v) for k, v in record.items()})
    return buffer.getvalue()


def data_files(report: Any, files: dict[str, bytes]) -> dict[str, bytes]:
    """``options.csv`` and ``plan.json`` of a report (a renderer of
    :data:`recommender.reports.report.RENDERERS`)."""
    return {
        "options.csv": to_csv(report.document["options"]).encode("utf-8"),
        "plan.json": (to_json(report.document) + "\n").encode("utf-8"),
    }
