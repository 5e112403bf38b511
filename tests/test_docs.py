"""Every command and option has help text and is documented in the README (sqlite-utils style),
and the README's install/run/test commands are the ones CI runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer.main

from recommender.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
GROUP = typer.main.get_command(app)
COMMANDS = sorted(GROUP.commands)  # type: ignore[attr-defined]


def test_there_are_the_commands_the_issue_names():
    assert {"suggest", "estimate", "regions", "gpus"} <= set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_command_has_help_and_a_readme_section(name):
    command = GROUP.commands[name]  # type: ignore[attr-defined]
    assert command.help, name
    assert f"### `carbonplan {name}`" in README


@pytest.mark.parametrize(
    "name,option",
    [
        (name, opt)
        for name in COMMANDS
        for param in GROUP.commands[name].params  # type: ignore[attr-defined]
        for opt in param.opts
        if opt.startswith("--") and opt != "--help"
    ],
)
def test_option_has_help_and_is_in_the_readme(name, option):
    command = GROUP.commands[name]  # type: ignore[attr-defined]
    param = next(p for p in command.params if option in p.opts)
    assert getattr(param, "help", None), f"{name} {option} has no help"
    assert f"`{option}" in README, f"{name} {option} is not in README.md"


@pytest.mark.parametrize(
    "option",
    [
        opt
        for param in GROUP.params
        for opt in param.opts
        if opt.startswith("--") and opt != "--help"
    ],
)
def test_global_option_has_help_and_is_in_the_readme(option):
    """--version, --debug and the completion options, in the README's Global options."""
    param = next(p for p in GROUP.params if option in p.opts)
    assert getattr(param, "help", None), f"{option} has no help"
    section = README.split("### Global options", 1)[1].split("\n## ", 1)[0]
    assert f"`{option}" in section, f"{option} is not in README.md's Global options"


def test_readme_commands_match_ci():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -e '.[dev]'" in README and "pip install -e '.[dev]'" in ci
    assert "carbonplan suggest --gpu-hours 400" in README
    assert "\npytest\n" in README and "\npytest\n" in ci + "\n"


def test_every_subpackage_is_packaged():
    """An editable install finds any folder; a wheel ships only the packages listed."""
    import tomllib

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    on_disk = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "recommender").rglob("__init__.py")
    }
    assert on_disk <= listed, sorted(on_disk - listed)
