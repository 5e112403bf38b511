"""``carbonplan config show|path``: the effective settings and where each came from (the
built-in default, the config file or a ``CARBONPLAN_*`` variable), or where the file is."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from recommender.cliopts import Format, FormatOpt, console, emit


class ConfigAction(StrEnum):
    show = "show"
    path = "path"


def config(
    action: Annotated[
        ConfigAction,
        typer.Argument(
            help="show: every setting, its value and where it came from; path: the config file."
        ),
    ] = ConfigAction.show,
    fmt: FormatOpt = Format.table,
) -> None:
    """Show the settings (defaults < config file < CARBONPLAN_* < flags) or the config file."""
    from recommender.config import CONFIG_ENV, config_path

    path = config_path()
    if action is ConfigAction.path:
        if fmt is Format.table:
            typer.echo(str(path))
            return
        record = {"path": str(path), "exists": path.is_file()}
        emit(fmt, record, [record])
        return
    rows = setting_rows()
    if fmt is Format.table:
        _render(rows, str(path), path.is_file(), CONFIG_ENV)
        return
    document = {
        "path": str(path),
        "exists": path.is_file(),
        **{
            table: {r["key"]: {"value": r["value"], "origin": r["origin"]} for r in group}
            for table in ("plan", "intensity")
            if (group := [r for r in rows if r["table"] == table])
        },
    }
    emit(fmt, document, [{**r, "value": _text(r["value"])} for r in rows])


def setting_rows() -> list[dict[str, Any]]:
    """One row per setting: table, key, value (credentials masked), origin, and the flag or
    variable that sets it. Reading them checks the whole file, as a planning command would."""
    from recommender.api import check_config_names
    from recommender.config import PLAN_KEYS, plan_settings
    from recommender.intensity.settings import ENV_VARS, setting_origins

    plan = plan_settings()
    check_config_names(plan)
    rows = [
        {
            "table": "plan",
            "key": key,
            "value": plan[key].value,
            "origin": plan[key].origin,
            "flag": spec.flag,
            "variable": spec.env(key),
        }
        for key, spec in PLAN_KEYS.items()
    ]
    for key, (value, origin) in setting_origins().items():
        rows.append(
            {
                "table": "intensity",
                "key": key,
                "value": list(value) if isinstance(value, tuple) else value,
                "origin": origin,
                "flag": None,
                "variable": ENV_VARS[key],
            }
        )
    return rows


def _text(value: Any) -> str:
    if value is None or value == []:
        return "-"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _short(origin: str) -> str:
    """The table's ``from`` cell: the file's path is printed once, above the tables."""
    if origin.startswith("config file "):
        return "config file"
    return origin.removeprefix("environment ")


def _render(rows: list[dict[str, Any]], path: str, exists: bool, env: str) -> None:
    from rich.table import Table

    state = "" if exists else " (not found: built-in defaults and the environment only)"
    out = console()
    out.print(f"config file: {path}{state}")
    for table, last in (("plan", "flag"), ("intensity", "variable")):
        view = Table(title=f"[{table}]", title_justify="left", header_style="bold")
        view.add_column("setting", no_wrap=True)
        view.add_column("value", overflow="fold")
        view.add_column("from", overflow="fold")
        view.add_column(last, overflow="fold")
        for row in rows:
            if row["table"] == table:
                view.add_row(row["key"], _text(row["value"]), _short(row["origin"]), row[last])
        out.print(view)
    out.print(
        "[plan] sets the defaults of suggest, report and launch; CARBONPLAN_<SETTING> (e.g. "
        f"CARBONPLAN_OBJECTIVE) overrides the file, a flag overrides both. {env} names "
        "another file. Credentials are never shown."
    )
