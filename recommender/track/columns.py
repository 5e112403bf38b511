"""The emissions CSV: CodeCarbon's columns, names and units, then carbonplan's own.

CodeCarbon's order is that of its ``EmissionsData`` dataclass (codecarbon 3.3; a test
compares this list with the installed package's at test time). Units are CodeCarbon's:
seconds, kg CO2e, kg/s, W and kWh. Appending is safe: the header is written once, under an
exclusive lock, and a file with other columns is refused rather than corrupted.

Only the standard library: ``compare`` and ``--calibrate`` read these files too.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recommender.errors import BadInputError

#: CodeCarbon's columns, in its order (``codecarbon.output_methods.emissions_data``).
CODECARBON_COLUMNS: tuple[str, ...] = (
    "timestamp",
    "project_name",
    "run_id",
    "experiment_id",
    "duration",  # s
    "emissions",  # kg CO2e
    "emissions_rate",  # kg CO2e per s
    "cpu_power",  # W
    "gpu_power",
    "ram_power",
    "cpu_energy",  # kWh
    "gpu_energy",
    "ram_energy",
    "energy_consumed",
    "water_consumed",  # L
    "country_name",
    "country_iso_code",
    "region",
    "cloud_provider",
    "cloud_region",
    "os",
    "python_version",
    "codecarbon_version",
    "cpu_count",
    "cpu_model",
    "gpu_count",
    "gpu_model",
    "longitude",
    "latitude",
    "ram_total_size",  # GB
    "tracking_mode",
    "cpu_utilization_percent",
    "gpu_utilization_percent",
    "ram_utilization_percent",
    "ram_used_gb",
    "on_cloud",
    "pue",
    "wue",
)

#: carbonplan's own columns, after CodeCarbon's: where each figure came from.
CARBONPLAN_COLUMNS: tuple[str, ...] = (
    "carbonplan_version",
    "gco2_per_kwh",  # the intensity emissions were computed with
    "intensity_source",
    "intensity_basis",  # grid (lifecycle, location-based), or how a fallback differs
    "intensity_year",
    "region_source",  # --region, aws/gcp/azure metadata, country, or none
    "cpu_power_source",  # rapl, or the estimate used
    "ram_power_source",
    "gpu_energy_source",  # nvml energy counter, nvml power samples, or none
    "steps",  # progress the program reported (t.step, --progress-regex)
    "exit_status",
    "interrupted",  # true when SIGINT/SIGTERM ended the run
)

COLUMNS: tuple[str, ...] = CODECARBON_COLUMNS + CARBONPLAN_COLUMNS


class CsvHeaderError(BadInputError):
    """The output file exists with another header."""


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "" if not math.isfinite(value) else repr(value)
    return str(value)


def _line(values: list[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([_cell(v) for v in values])
    return buffer.getvalue()


def _header_of(path: Path) -> list[str] | None:
    """The file's header, or None when it does not exist or is empty."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return next(csv.reader(handle), None)
    except FileNotFoundError:
        return None


def columns_for(path: Path) -> tuple[str, ...]:
    """The columns a row appended to ``path`` gets: all of ours, or only CodeCarbon's when the
    file is CodeCarbon's own (so a track row joins an existing CodeCarbon log). Raises
    :class:`CsvHeaderError` for any other header."""
    header = _header_of(path)
    if header is None or tuple(header) == COLUMNS:
        return COLUMNS
    if tuple(header) == CODECARBON_COLUMNS:
        return CODECARBON_COLUMNS
    extra = [c for c in header if c not in COLUMNS]
    missing = [c for c in COLUMNS if c not in header]
    what = (
        f"unknown column {extra[0]!r}"
        if extra
        else f"no column {missing[0]!r}"
        if missing
        else "its columns in another order"
    )
    raise CsvHeaderError(
        f"{path} has other columns than carbonplan track writes ({what}); not appending to it",
        "give another --output file, or move this one aside",
    )


def append_row(path: Path, row: dict[str, Any]) -> None:
    """Append one row (header first when the file is new or empty), under an exclusive lock,
    as one write: concurrent trackers on the same file never interleave or repeat the header."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        columns = columns_for(path)  # again, under the lock: the file may have changed
        size = os.fstat(fd).st_size
        text = ""
        if size == 0:
            text = _line(list(columns))
        else:  # a file whose last line lacks its newline gets one, not a joined row
            os.lseek(fd, size - 1, os.SEEK_SET)
            if os.read(fd, 1) != b"\n":
                text = "\n"
        text += _line([row.get(c) for c in columns])
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One row of an emissions CSV and the line it is on, for error messages."""

    values: dict[str, str]
    line: int
    name: str  # the file's name

    def text(self, column: str) -> str:
        return (self.values.get(column) or "").strip()

    def number(self, column: str, *, required: bool = True, positive: bool = False) -> float:
        """The column as a finite, non-negative number (> 0 with ``positive``); a missing or
        bad value is one error naming the file, line and column."""
        raw = self.text(column)
        if raw == "":
            if not required:
                return math.nan
            raise BadInputError(
                f"{self.name} line {self.line}: {column} is empty",
                "give a CodeCarbon emissions.csv (written by codecarbon or carbonplan track)",
            )
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0 or (positive and value == 0):
            need = "a positive number" if positive else "a number >= 0"
            raise BadInputError(
                f"{self.name} line {self.line}: {column} must be {need}, got {raw!r}",
                "give a CodeCarbon emissions.csv (written by codecarbon or carbonplan track)",
            )
        return value


def read_rows(path: Path, required: tuple[str, ...]) -> list[Row]:
    """Every row of a CodeCarbon-style CSV; the header must have ``required``. One
    :class:`BadInputError` naming the file (and line) for anything else."""
    hint = "give a CodeCarbon emissions.csv (written by codecarbon or carbonplan track)"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise BadInputError(f"{path}: no such file", hint) from None
    except IsADirectoryError:
        raise BadInputError(f"{path} is a directory", hint) from None
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read it ({exc.strerror})", hint) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInputError(f"{path.name}: not UTF-8 text ({exc.reason})", hint) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if not header:
            raise BadInputError(f"{path.name} is empty", hint)
        header = [h.strip() for h in header]
        missing = [c for c in required if c not in header]
        if missing:
            raise BadInputError(
                f"{path.name} line 1: no {', '.join(missing)} column"
                + ("s" if len(missing) > 1 else ""),
                hint,
            )
        rows = list(_rows(reader, header, path.name))
    except csv.Error as exc:
        raise BadInputError(f"{path.name} line {reader.line_num}: {exc}", hint) from None
    if not rows:
        raise BadInputError(f"{path.name} has a header but no rows", hint)
    return rows


def _rows(reader: Any, header: list[str], name: str) -> Iterator[Row]:
    for cells in reader:
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            raise BadInputError(
                f"{name} line {reader.line_num}: {len(cells)} fields, the header has {len(header)}",
                "give a CodeCarbon emissions.csv (written by codecarbon or carbonplan track)",
            )
        yield Row(dict(zip(header, cells, strict=True)), reader.line_num, name)
