"""``suggest --format skypilot``: the ranking as a SkyPilot task, so that ``sky launch`` tries
the cleanest option first and fails over down the list.

The task's ``resources.ordered`` lists the shown options in rank order, each as ``cloud``,
``region``, ``instance_type`` and ``use_spot`` (SkyPilot's ``ordered`` candidates: it tries
them top down). ``--skypilot-task FILE`` merges the ranking into the user's own task and keeps
everything else in it (``name``, ``setup``, ``run``, ``num_nodes``, ``envs``, ``file_mounts``,
other ``resources`` fields such as ``disk_size``). Fields of ``resources`` that would fight
the ranking (SkyPilot copies every top-level resources field into each candidate) are removed,
each with a line on stderr saying why: ``accelerators`` (an instance type fixes its GPUs; a
different GPU would make every candidate impossible), ``cloud``/``region``/``zone``/``infra``
/``instance_type``/``use_spot`` (each candidate names its own), ``cpus``/``memory`` (the
instance type fixes them), and any ``ordered``/``any_of`` list (replaced by the ranking).

Field names follow SkyPilot's task schema (``sky/utils/schemas.py``: ``get_task_schema``,
``get_resources_schema``). PyYAML is imported only here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from recommender.errors import BadInputError

# Top-level resources fields that the ranked candidates decide, and why each goes.
_PLACEMENT = {
    "cloud": "each ranked candidate names its cloud",
    "region": "each ranked candidate names its region",
    "zone": "a zone belongs to one region and the ranking spans several",
    "infra": "each ranked candidate names its cloud and region",
    "instance_type": "each ranked candidate names its instance type",
    "use_spot": "each ranked candidate says whether it is spot (plan one market with --spot "
    "or --on-demand)",
    "cpus": "each ranked instance type fixes its vCPUs",
    "memory": "each ranked instance type fixes its memory",
    "any_of": "replaced by the ranking",
    "ordered": "replaced by the ranking",
}


def candidates(options: pd.DataFrame) -> list[dict[str, Any]]:
    """``resources.ordered``: one entry per shown option, in rank order (duplicates once)."""
    out: list[dict[str, Any]] = []
    seen = set()
    for row in options.itertuples(index=False):
        entry = {
            "cloud": str(row.provider),
            "region": str(row.region),
            "instance_type": str(row.instance_type),
            "use_spot": str(row.market) == "spot",
        }
        key = tuple(entry.values())
        if key not in seen:
            seen.add(key)
            out.append(entry)
    return out


def load_task(path: Path) -> dict[str, Any]:
    """The user's SkyPilot task: one YAML mapping; anything else is one clear error."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInputError(
            f"--skypilot-task {path}: no such file", "give the path of your SkyPilot task YAML"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(
            f"--skypilot-task {path} cannot be read ({type(exc).__name__})",
            "give a readable UTF-8 YAML file",
        ) from None
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise BadInputError(
            f"--skypilot-task {path}{where}: not valid YAML ({problem})",
            "check the file with 'sky launch --dryrun' or a YAML linter",
        ) from None
    if len(documents) > 1:
        raise BadInputError(
            f"--skypilot-task {path} holds {len(documents)} YAML documents (a pipeline)",
            "give a single task; rank each task of a pipeline on its own",
        )
    task = documents[0] if documents else {}
    if not isinstance(task, dict):
        raise BadInputError(
            f"--skypilot-task {path} is not a task (a YAML mapping with run, setup, "
            "resources, ...)",
            "give a SkyPilot task YAML",
        )
    resources = task.get("resources")
    if resources is not None and not isinstance(resources, dict):
        raise BadInputError(
            f"--skypilot-task {path}: resources must be a mapping, got {type(resources).__name__}",
            "write resources as a mapping (SkyPilot's task schema)",
        )
    return task


def _accelerators(value: Any) -> list[tuple[str, float]]:
    """SkyPilot's accelerators field (``A100:8``, ``{A100: 8}``, ``[A100:8, H100:8]``) as
    (name, count) pairs; an unreadable value gives no pairs."""
    items: list[Any]
    if isinstance(value, str):
        text = value.strip().strip("{}")
        items = [part.strip() for part in text.split(",") if part.strip()]
    elif isinstance(value, dict):
        items = [f"{k}:{v if v is not None else 1}" for k, v in value.items()]
    elif isinstance(value, list):
        items = [str(v) for v in value]
    else:
        return []
    pairs = []
    for item in items:
        name, _, count = str(item).partition(":")
        try:
            pairs.append((name.strip(), float(count) if count.strip() else 1.0))
        except ValueError:
            pairs.append((name.strip(), float("nan")))
    return pairs


def _same_gpu(theirs: str, ours: str) -> bool:
    def norm(name: str) -> str:
        return name.lower().replace("-", "").replace("_", "").replace(" ", "")

    return norm(theirs) == norm(ours)


def merge_task(
    task: dict[str, Any],
    options: pd.DataFrame,
    warn: Callable[[str], None],
) -> dict[str, Any]:
    """The user's task with the ranking as ``resources.ordered``; every other field kept,
    every conflict resolved and reported through ``warn``."""
    ordered = candidates(options)
    merged = dict(task)
    resources = dict(task.get("resources") or {})
    wanted = resources.get("accelerators")
    if "accelerators" in resources:
        pairs = _accelerators(wanted)
        shown = [
            (str(r.instance_type), str(r.gpu), float(r.gpu_count))
            for r in options.drop_duplicates(["provider", "instance_type"]).itertuples()
        ]
        clash = [
            (inst, gpu, n)
            for inst, gpu, n in shown
            if not any(_same_gpu(name, gpu) and count == n for name, count in pairs)
        ]
        del resources["accelerators"]
        if clash:
            inst, gpu, n = clash[0]
            warn(
                f"skypilot task: resources.accelerators {wanted!r} disagrees with "
                f"{len(clash)} ranked instance type(s) (e.g. {inst} has {n:g} x {gpu}); "
                "removed, since each candidate's instance type fixes its GPUs (to rank only "
                "that GPU, give suggest --gpu)"
            )
        else:
            warn(
                f"skypilot task: resources.accelerators {wanted!r} matches every ranked "
                "instance type; removed, since each candidate's instance type fixes its GPUs"
            )
    for field, why in _PLACEMENT.items():
        if field in resources:
            value = resources.pop(field)
            shown_value = f"{value!r}" if not isinstance(value, list) else f"({len(value)} entries)"
            warn(f"skypilot task: resources.{field} {shown_value} removed: {why}")
    resources["ordered"] = ordered
    merged["resources"] = resources
    _num_nodes(merged, options, warn)
    return merged


def _num_nodes(task: dict[str, Any], options: pd.DataFrame, warn: Callable[[str], None]) -> None:
    """``num_nodes``: the user's wins; without one, the ranking's instance count when every
    option needs the same number."""
    counts = sorted({int(n) for n in options["instances"]}) if "instances" in options else []
    given = task.get("num_nodes")
    if given is not None:
        other = [n for n in counts if n != given]
        if other:
            warn(
                f"skypilot task: num_nodes {given} kept, but the ranking planned "
                f"{', '.join(map(str, counts))} instance(s) per option: its hours, kg and $ "
                "assume those counts (plan for one count with --max-instances)"
            )
        return
    if len(counts) == 1 and counts[0] > 1:
        task["num_nodes"] = counts[0]
        warn(f"skypilot task: num_nodes set to {counts[0]}, the instances every option needs")
    elif len(counts) > 1:
        warn(
            f"skypilot task: the ranked options need {', '.join(map(str, counts))} instances; "
            "num_nodes is left unset (one node): set it in your task or narrow "
            "--max-instances"
        )


def header(options: pd.DataFrame, objective: str) -> list[str]:
    lines = [
        f"SkyPilot task from 'carbonplan suggest' (objective: {objective}): "
        "sky launch tries resources.ordered top down.",
    ]
    for i, row in enumerate(options.itertuples(index=False), start=1):
        lines.append(
            f"{i:>2}. {row.provider}:{row.region} {row.instance_type} {row.market}: "
            f"{row.kgco2e:,.1f} kg CO2e, ${row.cost_usd:,.0f}, {row.wall_hours:,.1f} h"
        )
    return lines


def to_yaml(task: dict[str, Any], comments: list[str] | None = None) -> str:
    """YAML that SkyPilot reads back as ``task``: key order kept, multi-line scripts (``run``,
    ``setup``) as literal blocks."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value and not value.endswith((" ", "\t")) else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    body = yaml.dump(
        task, Dumper=Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True
    )
    prefix = "".join(f"# {line}\n" for line in comments or [])
    return prefix + body


def skypilot_document(
    options: pd.DataFrame,
    objective: str,
    task: dict[str, Any],
    warn: Callable[[str], None],
) -> str:
    """The YAML ``suggest --format skypilot`` prints (``task``: the user's, or empty)."""
    merged = merge_task(task, options, warn)
    return to_yaml(merged, header(options, objective))
