"""Plan many jobs at once: a jobs file (``carbonplan suggest --jobs FILE``) or a list of jobs
(:func:`recommender.suggest_many`), on one catalog, with the totals of the best choices.

A jobs file is CSV (a header row, one job a row) or YAML (a list of mappings, or a mapping
with a ``jobs`` list). Columns are named like ``suggest``'s flags (``gpu_hours`` or
``gpu-hours``), plus ``name`` (the job's label) and ``market`` (spot, on-demand or any). A
blank cell takes the command line's value; a job that states its work (``gpu_hours``, or
``params``) does not take the command line's other way of stating it. Every row is read and
checked before anything is planned, every job is planned before anything is printed, and a
bad row is one error naming the file, the line and the column.

Importing this module is light; the planning imports what it needs when called.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recommender.errors import BadInputError, CarbonplanError

if TYPE_CHECKING:
    from recommender.api import Plan, PlanRequest

Warn = Callable[[str], None]
#: plans one merged request: (request, top, warn) -> Plan (recommender.api.plan_request)
PlanOne = Callable[["PlanRequest", int, Warn], "Plan"]
#: called after each job is planned with (jobs done, jobs in all)
Progress = Callable[[int, int], None]

_FLOATS = {
    "gpu_hours",
    "min_gpu_memory",
    "checkpoint_minutes",
    "max_cost",
    "max_kg",
    "carbon_price",
    "utilisation",
    "scaling_efficiency",
    "embodied",
    "mfu",
    "epochs",
    "early_stop",
    "pilot_steps",
    "total_steps",
}
_INTS = {"max_instances", "seq_len", "trials"}
_BOOLS = {"spot", "on_demand", "interruptible", "finetune", "peft", "no_embodied"}
_NAMES = {"provider", "region", "exclude_region", "gpu", "grid"}
#: columns that are not flags
_EXTRA = {"name", "market"}
# the two ways of stating the work: a job giving one does not take the other from the
# command line
_WORK_HOURS = {"gpu_hours", "ref_gpu"}
_WORK_MODEL = {"params", "active_params", "tokens", "finetune", "examples", "seq_len", "epochs"}
_MARKETS = {"spot": (True, False), "on-demand": (False, True), "any": (False, False)}


def _market(value: Any, where: str) -> tuple[bool, bool]:
    """A job's market as (spot only, on-demand only); ``where`` names the cell or keyword."""
    market = str(value).lower()
    if market not in _MARKETS:
        raise BadInputError(f"{where}: market {value!r} is not spot, on-demand or any", "e.g. spot")
    return _MARKETS[market]


_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off", ""}


@dataclass(frozen=True)
class JobRow:
    """One job of a jobs file: its values by request field, where it was, and which column
    (as written in the file) gave each value."""

    name: str
    line: int | None  # None: a job given in Python
    values: dict[str, Any]
    columns: dict[str, str] = field(default_factory=dict)
    source: str = "jobs"


# --- reading a jobs file ----------------------------------------------------------------


def read_jobs(path: Path, known: list[str]) -> list[JobRow]:
    """The jobs in the CSV or YAML file ``path``, every cell checked; ``known``: the request
    fields a column may name (:class:`recommender.api.PlanRequest`'s)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BadInputError(
            f"cannot read --jobs {path}: {exc.strerror or exc}", "give a CSV or YAML jobs file"
        ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadInputError(f"{path} is not UTF-8 text", "save the jobs file as UTF-8") from None
    yaml_like = path.suffix.lower() in (".yaml", ".yml")
    rows = (_yaml_rows if yaml_like else _csv_rows)(text, str(path), known)
    if not rows:
        raise BadInputError(f"{path} has no jobs", _HINT)
    return rows


_HINT = (
    "one job a row, columns named like suggest's flags, e.g.\n"
    "  name,gpu_hours,gpu,deadline,max_cost\n  finetune-a,400,A100,48,2000"
)


def _column(name: Any, where: str, known: list[str]) -> str:
    """A header as a request field (``--gpu-hours``, ``gpu-hours`` and ``gpu_hours`` alike)."""
    text = str(name).strip().lower().lstrip("-").replace("-", "_")
    if text in known or text in _EXTRA:
        return text
    choices = sorted({*known, *_EXTRA})
    close = difflib.get_close_matches(text, choices, n=1)
    if text in ("submit", "job_hours"):
        hint = "that is a replay jobs file (carbonplan replay --jobs); suggest --jobs takes " + (
            "columns named like suggest's flags: name, gpu_hours, gpu, deadline, ..."
        )
    elif close:
        hint = f"did you mean {close[0]!r}? columns are named like suggest's flags"
    else:
        hint = "columns are named like suggest's flags: " + ", ".join(choices)
    raise BadInputError(f"{where}: unknown column {str(name)!r}", hint)


def _csv_rows(text: str, name: str, known: list[str]) -> list[JobRow]:
    import csv
    import io

    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
        if header is None:
            raise BadInputError(f"{name} is empty", _HINT)
        columns = [
            _column(h, f"{name}, line 1, column {i + 1}", known) for i, h in enumerate(header)
        ]
        seen: set[str] = set()
        for i, column in enumerate(columns):
            if column in seen:
                raise BadInputError(
                    f"{name}, line 1, column {i + 1}: {column!r} appears twice", "keep one"
                )
            seen.add(column)
        rows: list[JobRow] = []
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue  # a blank line
            if len(cells) > len(columns):
                raise BadInputError(
                    f"{name}, line {line}: {len(cells)} cells for {len(columns)} columns",
                    "quote cells that hold commas (\"aws,gcp\") or use ';' between names",
                )
            values = dict(zip(columns, cells, strict=False))
            rows.append(
                _row(values, dict(zip(columns, header, strict=False)), name, line, len(rows) + 1)
            )
    except csv.Error as exc:
        raise BadInputError(f"{name}, line {reader.line_num}: not CSV ({exc})", _HINT) from None
    return rows


def _yaml_rows(text: str, name: str, known: list[str]) -> list[JobRow]:
    import yaml

    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}, line {mark.line + 1}" if mark is not None else name
        raise BadInputError(f"{where}: not YAML ({getattr(exc, 'problem', exc)})", _HINT) from None
    if isinstance(node, yaml.MappingNode):  # {jobs: [...]}
        inner = [v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == "jobs"]
        node = inner[0] if inner else None
    if not isinstance(node, yaml.SequenceNode):
        raise BadInputError(
            f"{name}: a YAML jobs file is a list of jobs (or a mapping with a 'jobs' list)", _HINT
        )
    rows: list[JobRow] = []
    constructor = yaml.SafeLoader("")
    for item in node.value:
        line = item.start_mark.line + 1
        if not isinstance(item, yaml.MappingNode):
            raise BadInputError(f"{name}, line {line}: a job is a mapping of column: value", _HINT)
        values: dict[str, Any] = {}
        written: dict[str, str] = {}
        lines: dict[str, int] = {}
        for key, value in item.value:
            where = f"{name}, line {key.start_mark.line + 1}"
            column = _column(key.value, f"{where}, column {key.value!r}", known)
            if column in values:
                raise BadInputError(f"{where}: {column!r} appears twice", "keep one")
            data = constructor.construct_object(value, deep=True)
            values[column] = _yaml_cell(data)
            written[column] = str(key.value)
            lines[column] = key.start_mark.line + 1
        rows.append(_row(values, written, name, line, len(rows) + 1, lines))
    return rows


def _yaml_cell(value: Any) -> Any:
    """A YAML value as a cell: lists of names joined, dates and times as ISO text."""
    import datetime as dt

    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if value is None:
        return ""
    return value


def _row(
    cells: Mapping[str, Any],
    written: Mapping[str, str],
    name: str,
    line: int,
    number: int,
    lines: Mapping[str, int] | None = None,
) -> JobRow:
    """Check and convert one row's cells (blank cells are left out). ``lines``: the line of
    each cell where it is not the row's (YAML)."""
    values: dict[str, Any] = {}
    columns: dict[str, str] = {}
    label = f"job-{number}"
    named = cells.get("name")
    if named is not None and str(named).strip():
        label = str(named).strip()
    for column, cell in cells.items():
        text = cell.strip() if isinstance(cell, str) else cell
        if text == "" or text is None:
            continue
        at = (lines or {}).get(column, line)
        where = f"{name}, line {at}, column {written.get(column, column)} (job {label!r})"
        if column == "name":
            continue
        if column == "market":
            values["spot"], values["on_demand"] = _market(text, where)
            columns["spot"] = columns["on_demand"] = written.get(column, column)
            continue
        values[column] = _value(column, text, where)
        columns[column] = written.get(column, column)
    return JobRow(name=label, line=line, values=values, columns=columns, source=name)


def _value(column: str, value: Any, where: str) -> Any:
    if column in _FLOATS:
        try:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        except (TypeError, ValueError):
            raise BadInputError(f"{where}: {value!r} is not a number", "e.g. 400") from None
    if column in _INTS:
        try:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(float(value)) if isinstance(value, float) else int(value)
        except (TypeError, ValueError):
            raise BadInputError(f"{where}: {value!r} is not a whole number", "e.g. 8") from None
    if column in _BOOLS:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise BadInputError(f"{where}: {value!r} is not true or false", "use true or false")
    if column in _NAMES:
        return [part for part in str(value).replace(";", ",").split(",") if part.strip()]
    return str(value)


# --- planning ----------------------------------------------------------------------------


@dataclass(frozen=True)
class JobPlan:
    """One job's plan, with where it came from."""

    name: str
    line: int | None
    plan: Plan


@dataclass(frozen=True)
class JobsPlan:
    """Every job's plan (top N options each) and the totals of their best choices:
    :meth:`to_dict` is ``carbonplan suggest --jobs FILE --format json``."""

    jobs: list[JobPlan]
    top: int
    source: str | None = None

    def documents(self) -> list[dict[str, Any]]:
        """Each job's ``suggest --format json`` document, with its name (and line)."""
        out = []
        for job in self.jobs:
            document: dict[str, Any] = {"name": job.name}
            if job.line is not None:
                document["line"] = job.line
            out.append(document | job.plan.to_dict())
        return out

    def to_dict(self) -> dict[str, Any]:
        documents = self.documents()
        return {"jobs": documents, "totals": totals(documents)}

    def records(self) -> list[dict[str, Any]]:
        """One record per job x rank: the job's name, then the option's fields."""
        from recommender.reports.records import option_records

        out = []
        for job in self.jobs:
            for record in option_records(job.plan.result.options):
                out.append({"job": job.name, "line": job.line} | record)
        return out


def totals(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """The best (rank 1) option of every job added up: kg CO2e, $, GPU-hours, energy, wall
    hours, and the same by provider and by provider:region."""
    sums = ("kgco2e", "cost_usd", "gpu_hours", "energy_kwh", "wall_hours")

    def empty() -> dict[str, Any]:
        return {"jobs": 0, **dict.fromkeys(sums, 0.0)}

    overall = empty()
    by_provider: dict[str, dict[str, Any]] = {}
    by_region: dict[str, dict[str, Any]] = {}
    for document in documents:
        best = min(document["options"], key=lambda o: o["rank"])
        region = f"{best['provider']}:{best['region']}"
        for bucket in (
            overall,
            by_provider.setdefault(best["provider"], empty()),
            by_region.setdefault(region, empty()),
        ):
            bucket["jobs"] += 1
            for name in sums:
                bucket[name] += float(best[name])
    rounded = lambda b: {k: (round(v, 6) if isinstance(v, float) else v) for k, v in b.items()}  # noqa: E731
    return {
        "best_options": rounded(overall),
        "by_provider": {k: rounded(v) for k, v in sorted(by_provider.items())},
        "by_region": {
            k: rounded(v) for k, v in sorted(by_region.items(), key=lambda kv: -kv[1]["kgco2e"])
        },
    }


def _merge(base: PlanRequest, row: JobRow) -> PlanRequest:
    """The command line's request with the row's cells over it."""
    given = set(base.given_names())
    values = dict(row.values)
    drop: set[str] = set()
    if _WORK_HOURS & values.keys():
        drop |= _WORK_MODEL
    if _WORK_MODEL & values.keys():
        drop |= _WORK_HOURS
    if {"spot", "on_demand"} & values.keys():
        values.setdefault("spot", False)
        values.setdefault("on_demand", False)
    defaults = {f.name: f.default for f in fields(base) if f.name != "given"}
    for name in drop - values.keys():
        values[name] = defaults[name]
        given.discard(name)
    return replace(base, **values, given=frozenset(given | row.values.keys()))


def _located(exc: CarbonplanError, row: JobRow) -> CarbonplanError:
    """``exc`` (from planning ``row``) with the file, line, job and column in its message."""
    column = None
    for name, written in row.columns.items():
        flag = "--" + name.replace("_", "-")
        if flag in exc.message and (column is None or len(flag) > len(column[0])):
            column = (flag, written)
    if column is None:  # a name that does not resolve: the message quotes the row's value
        for name, written in row.columns.items():
            value = row.values.get(name)
            items = value if isinstance(value, list) else [value]
            quoted = [
                repr(text)
                for v in items
                if isinstance(v, str)
                for text in {v.strip(), v.strip().split(":", 1)[-1]}  # PROVIDER:REGION too
            ]
            if any(text in exc.message for text in quoted):
                column = (name, written)
                break
    if row.line is None:
        where = f"job {row.name!r}" + (f", {column[1]}" if column is not None else "")
    else:
        where = f"{row.source}, line {row.line}"
        if column is not None:
            where += f", column {column[1]}"
        where += f" (job {row.name!r})"
    located = type(exc)(f"{where}: {exc.message}", exc.hint)
    located.__cause__ = exc
    return located


def plan_rows(
    rows: list[JobRow],
    base: PlanRequest,
    plan_one: PlanOne,
    *,
    top: int = 3,
    warn: Warn,
    progress: Progress | None = None,
) -> JobsPlan:
    """Plan each row (the command line's request ``base`` with the row's cells over it) with
    ``plan_one``, top ``top`` options each. The first job that cannot be planned stops it all,
    naming its row."""
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise BadInputError(f"--top must be >= 1 with --jobs, got {top}")
    planned: list[JobPlan] = []
    warn_once = _once(warn)
    for i, row in enumerate(rows):
        try:
            request = _merge(base, row)
            plan = plan_one(request, top, warn_once)
        except CarbonplanError as exc:
            raise _located(exc, row) from None
        planned.append(JobPlan(row.name, row.line, plan))
        if progress is not None:
            progress(i + 1, len(rows))
    return JobsPlan(planned, top, rows[0].source if rows else None)


def _once(warn: Warn) -> Warn:
    """Each distinct warning once per run (the same one for every job is noise)."""
    seen: set[str] = set()

    def once(message: str) -> None:
        if message not in seen:
            seen.add(message)
            warn(message)

    return once


def rows_from(jobs: Iterable[Mapping[str, Any]] | str | Path, known: list[str]) -> list[JobRow]:
    """Jobs given in Python: a jobs file's path, or mappings of keyword (= flag) to value
    (with ``name``, and ``market``). Unknown keywords are refused as unknown columns."""
    if isinstance(jobs, str | Path):
        return read_jobs(Path(jobs), known)
    rows: list[JobRow] = []
    for number, job in enumerate(jobs, start=1):
        if not isinstance(job, Mapping):
            raise BadInputError(
                f"job {number} is a {type(job).__name__}, not a mapping of keyword to value",
                "e.g. suggest_many([{'name': 'a', 'gpu_hours': 400}])",
            )
        values: dict[str, Any] = {}
        name = job.get("name", f"job-{number}")
        label = f"job {number} ({name!r})"
        for key, value in job.items():
            column = _column(key, f"{label}, keyword {key!r}", known)
            if value is None or column == "name":
                continue
            if column == "market":
                values["spot"], values["on_demand"] = _market(value, label)
                continue
            if isinstance(value, str) or column in _FLOATS | _INTS | _BOOLS:
                value = _value(column, value, f"{label}, keyword {key!r}")
            values[column] = value
        rows.append(JobRow(str(name), None, values, {k: k for k in values}, source="jobs"))
    if not rows:
        raise BadInputError("no jobs given", "give a list of jobs, or a jobs file")
    return rows


class ProgressBar:
    """A progress bar on stderr once planning has taken more than ``after`` seconds, only on
    a terminal; silent otherwise. Call it with (done, total); :meth:`close` when finished."""

    def __init__(self, after: float = 1.0) -> None:
        import sys

        self.start = time.monotonic()
        self.after = after
        self.enabled = sys.stderr.isatty()
        self.bar: Any = None
        self.task: Any = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            if time.monotonic() - self.start < self.after or done >= total:
                return
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            self.bar = Progress(
                "planning jobs",
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task("jobs", total=total)
        self.bar.update(self.task, completed=done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
