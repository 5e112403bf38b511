"""Time the one trace reader (recommender.intensity.tracefile) on a year of hourly data.

    python scripts/bench_traces.py [--runs 15]

Writes a year (8,760 rows) of one zone in two layouts to a temporary directory: an
Electricity Maps portal export (11 columns, zone column, LCA and direct) and carbonplan's
``datetime,gco2_per_kwh``. For each it times, uncached: ``pandas.read_csv`` of the file alone
(the floor: parsing the text), the reader (parse and every check, the replay path), and the
reader plus the csv source's series (the suggest/intensity path). Prints the best of ``--runs``
in ms and each as a ratio to read_csv.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

EM_HEADER = (
    "Datetime (UTC),Country,Zone Name,Zone Id,Carbon Intensity gCO₂eq/kWh (direct),"
    "Carbon Intensity gCO₂eq/kWh (LCA),Low Carbon Percentage,Renewable Percentage,"
    "Data Source,Data Estimated,Data Estimation Method"
)


def write_year(root: Path) -> dict[str, Path]:
    times = pd.date_range("2022-01-01", periods=8760, freq="h", tz="UTC")
    values = 200 + 100 * np.sin(np.arange(8760) / 24 * 2 * np.pi)
    em = root / "ES_2022_hourly.csv"
    em.write_text(
        EM_HEADER
        + "\n"
        + "".join(
            f"{t:%Y-%m-%d %H:%M:%S},Spain,Spain,ES,{v:.2f},{v + 40:.2f},50,30,entsoe.eu,false,\n"
            for t, v in zip(times, values, strict=True)
        ),
        encoding="utf-8",
    )
    plain = root / "year.csv"
    plain.write_text(
        "datetime,gco2_per_kwh\n"
        + "".join(f"{t:%Y-%m-%dT%H:%M:%SZ},{v:.2f}\n" for t, v in zip(times, values, strict=True)),
        encoding="utf-8",
    )
    return {"electricitymaps export": em, "datetime,gco2_per_kwh": plain}


def best_ms(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm imports
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def bench(layout: str, path: Path, runs: int) -> None:
    from recommender.intensity import tracefile
    from recommender.intensity.csvfile import CsvSource
    from recommender.intensity.registry import FetchContext
    from recommender.intensity.settings import load_settings

    settings = load_settings(path)

    def read() -> object:
        tracefile._read_cached.cache_clear()
        return tracefile.read_trace_file(path)

    def series() -> object:
        tracefile._read_cached.cache_clear()
        source = CsvSource(settings)
        zone = next(iter(source.trace()))
        return source.fetch(zone, FetchContext(settings, datetime.now(UTC)))

    floor = best_ms(lambda: pd.read_csv(path, dtype=str, keep_default_na=False), runs)
    print(f"{layout} (8,760 rows):")
    print(f"  {'pandas.read_csv alone':<27} {floor:6.1f} ms  1.00x")
    for label, fn in (("reader (replay path)", read), ("reader + series (suggest)", series)):
        ms = best_ms(fn, runs)
        print(f"  {label:<27} {ms:6.1f} ms  {ms / floor:.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for layout, path in write_year(Path(tmp)).items():
            bench(layout, path, args.runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
