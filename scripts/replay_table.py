"""The README's replay table: `carbonplan replay` on the reference traces for the issue's three
job patterns, as one Markdown table.

    python scripts/replay_table.py [--traces ../shared/reference/traces]

Runs the commands it prints (so the table can be checked by hand) and reads their JSON.
The traces are not shipped with carbonplan: they are the reference data next to the repo.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

PATTERNS = {
    "1 h daily at 01:00, 8 h flex": ["--job-hours", "1", "--every", "24h", "--at", "01:00",
                                     "--flex", "8"],
    "8-day, 24 h flex": ["--job-hours", "192", "--every", "24h", "--flex", "24"],
    "24 h due in 48 h": ["--job-hours", "24", "--every", "24h", "--flex", "24",
                         "--interruptible"],
}  # fmt: skip


def groups(root: Path) -> list[tuple[list[Path], list[str]]]:
    """(trace files, extra flags): the 2020 European traces, then the Electricity Maps years."""
    lwa = [root / "lets-wait-awhile" / f"{name}_ci.csv" for name in ("ger", "gb", "fr")]
    em = sorted((root / "electricitymaps-hourly").glob("*_hourly.csv"))
    return [(lwa, ["--from", "2020-01-01", "--until", "2021-01-01"]), (em, [])]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", default="../shared/reference/traces", type=Path)
    args = parser.parse_args()
    exe = str(Path(sys.executable).with_name("carbonplan"))
    rows: dict[str, dict[str, dict]] = {}
    for label, flags in PATTERNS.items():
        for files, extra in groups(args.traces):
            command = ["carbonplan", "replay"]
            for f in files:
                command += ["--trace", str(f)]
            command += [*extra, *flags, "--format", "json"]
            print("$ " + shlex.join(command), file=sys.stderr)
            out = subprocess.run([exe, *command[1:]], capture_output=True, text=True, check=True)
            for record in json.loads(out.stdout):
                rows.setdefault(record["trace"], {})[label] = record

    def pct(value: float | None) -> str:
        text = "-" if value is None else f"{value:.1f}"
        return "0.0" if text == "-0.0" else text

    def pair(record: dict, key: str) -> str:
        return f"{pct(record[f'forecast_{key}'])} / {pct(record[f'oracle_{key}'])}"

    head = (
        "| trace | run at submit, gCO2e/kWh (24 h jobs) | 1 h jobs: forecast / oracle % | "
        "8-day jobs: forecast / oracle % | 24 h jobs: forecast / oracle % | 24 h jobs "
        "pausing: forecast / oracle % | 24 h jobs: mean delay h, forecast / oracle |"
    )
    print(head)
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    a, b, c = PATTERNS
    for trace, by in rows.items():
        one, eight, day = by[a], by[b], by[c]
        print(
            f"| {trace} | {day['baseline_gco2_per_kwh']:.0f} "
            f"| {pair(one, 'shifted_saving_pct')} | {pair(eight, 'shifted_saving_pct')} "
            f"| {pair(day, 'shifted_saving_pct')} | {pair(day, 'interruptible_saving_pct')} "
            f"| {day['forecast_mean_delay_hours']:.1f} / {day['oracle_mean_delay_hours']:.1f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
