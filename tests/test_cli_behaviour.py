"""What a new user meets around the commands (issue 12): optional extras that say how to
install them, shell completion, contradictory flags refused, --debug anywhere, and
instances/down that say when no cloud could be asked instead of listing nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from recommender.cli import main
from recommender.errors import BadInputError, ExitCode
from recommender.extras import DISTRIBUTION, EXTRAS, extra_of, install_line

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
LAUNCH_MODULES = ("boto3", "botocore", "google.cloud.compute_v1")


def run(
    *args: str, hide: tuple[str, ...] = (), env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    """The real entry point in a fresh interpreter; each module in ``hide`` cannot be imported
    there (``sys.modules[name] = None``: what Python does for a package that is not installed
    as far as find_spec and import are concerned)."""
    code = textwrap.dedent(
        f"""
        import sys
        for name in {list(hide)!r}:
            sys.modules[name] = None
        from recommender.cli import main
        sys.exit(main({list(args)!r}))
        """
    )
    environ = {k: v for k, v in os.environ.items() if k != "CARBONPLAN_DEBUG"}
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=environ,
        cwd=cwd,
        timeout=300,
    )


def assert_missing_extra(result: subprocess.CompletedProcess[str], extra: str, module: str):
    """Exit 2, one `error:` line naming the package and the extra, one `hint:` line that is
    the pip command, no traceback, nothing on stdout."""
    assert result.returncode == ExitCode.BAD_INPUT, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("error: ") and f"'{module}'" in lines[0], lines
    assert f"the '{extra}' extra" in lines[0]
    assert lines[1] == f"hint: pip install '{DISTRIBUTION}[{extra}]'"
    assert "Traceback" not in result.stderr and result.stdout == ""


# --- optional extras -------------------------------------------------------------------------


def test_the_planning_commands_need_no_extra():
    hidden = (*LAUNCH_MODULES, "matplotlib")
    result = run("suggest", "--gpu-hours", "400", "--top", "2", "--format", "json", hide=hidden)
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["options"]) == 2
    for args in (
        ["estimate", "--gpu", "A100", "--hours", "10", "--region", "aws:us-east-1"],
        ["regions", "--format", "json"],
        ["gpus", "--format", "json"],
        ["size", "--params", "350M", "--tokens", "20B", "--format", "json"],
    ):
        result = run(*args, hide=hidden)
        assert result.returncode == 0, (args, result.stderr)


def test_report_without_matplotlib_names_the_report_extra(tmp_path):
    out = tmp_path / "r"
    result = run("report", "--gpu-hours", "400", "--out", str(out), hide=("matplotlib",))
    assert_missing_extra(result, "report", "matplotlib")
    assert not out.exists()  # refused before any work


def test_a_broken_optional_package_reads_the_same(tmp_path):
    """Installed but failing to import (a shadowing or half-installed package): the import
    itself fails deep in the report, and the entry point still names the extra."""
    shim = tmp_path / "shim" / "matplotlib"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'matplotlib.ft2font'\", "
        "name='matplotlib.ft2font')\n"
    )
    pythonpath = os.pathsep.join([str(tmp_path / "shim"), os.environ.get("PYTHONPATH", "")])
    result = run(
        "report",
        "--gpu-hours",
        "400",
        "--out",
        str(tmp_path / "r"),
        env={"PYTHONPATH": pythonpath},
    )
    assert_missing_extra(result, "report", "matplotlib.ft2font")


@pytest.mark.parametrize(
    "args,hidden,module",
    [
        (["launch", "--gpu-hours", "400", "--provider", "aws"], ("boto3",), "boto3"),
        (["instances", "--provider", "aws"], ("boto3",), "boto3"),
        (
            ["instances", "--provider", "gcp", "--project", "p"],
            ("google.cloud.compute_v1",),
            "google.cloud.compute_v1",
        ),
        # not taken for a missing credential and skipped with a note: the whole extra is missing
        (["instances"], LAUNCH_MODULES, "boto3"),
        (["down", "aws:us-east-1a/i-0123456789abcdef0", "--yes"], ("boto3",), "boto3"),
    ],
)
def test_launch_commands_without_the_sdks_name_the_launch_extra(args, hidden, module):
    assert_missing_extra(run(*args, hide=hidden), "launch", module)


def test_extras_in_pyproject_match_the_hints():
    project = PYPROJECT["project"]
    assert project["name"] == DISTRIBUTION
    assert project["scripts"] == {"carbonplan": "recommender.entry:run"}
    extras = project["optional-dependencies"]

    def names(requirements: list[str]) -> set[str]:
        return {r.split(";")[0].split(">")[0].split("[")[0].strip() for r in requirements}

    assert names(extras["launch"]) == {"boto3", "google-cloud-compute"}
    assert names(extras["report"]) == {"matplotlib"}
    assert names(extras["track"]) == {"nvidia-ml-py"}
    assert set(EXTRAS) == {"launch", "report", "track"}
    assert extras["all"] == [f"{DISTRIBUTION}[launch,report,track]"]
    assert f"{DISTRIBUTION}[all]" in extras["dev"]
    heavy = {"boto3", "google-cloud-compute", "matplotlib", "grpcio"}
    assert not names(project["dependencies"]) & heavy
    assert install_line("report") == f"pip install '{DISTRIBUTION}[report]'"


def test_extra_of_knows_each_extras_modules_and_nothing_else():
    assert extra_of("matplotlib") == "report"
    assert extra_of("matplotlib.figure") == "report"
    assert extra_of("boto3") == extra_of("botocore.exceptions") == "launch"
    assert extra_of("google") == extra_of("google.cloud") == "launch"
    assert extra_of("google.cloud.compute_v1.types") == "launch"
    assert extra_of("requests") is None and extra_of("pandas") is None
    assert extra_of("matplotlibx") is None and extra_of(None) is None


def test_an_extra_is_looked_up_without_importing_it():
    code = textwrap.dedent(
        """
        import sys
        from recommender.extras import _installed
        found = [_installed(m) for m in ("boto3", "google.cloud.compute_v1", "matplotlib")]
        absent = [_installed(m) for m in ("nope", "google.cloud.nope", "json.nope")]
        sys.modules["matplotlib"] = None
        hidden = _installed("matplotlib")
        loaded = [m for m in sys.modules if m.split(".")[0] in ("boto3", "google", "matplotlib")]
        print(found, absent, hidden, loaded)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert (
        out.stdout.split("\n")[0] == "[True, True, True] [False, False, False] False ['matplotlib']"
    )


def test_readme_installs_by_the_distribution_name():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "pip install '.[all]'" in readme and f"pip install '{DISTRIBUTION}[report]'" in readme
    assert "pip install -e '.[dev]'" in readme
    assert "pip install carbonplan" not in readme and "pipx install carbonplan" not in readme


# --- shell completion ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shell,marker",
    [
        ("bash", "complete -o default -F _carbonplan_completion carbonplan"),
        ("zsh", "compdef _carbonplan_completion carbonplan"),
        ("fish", "complete --command carbonplan"),
    ],
)
def test_show_completion_prints_the_script(shell, marker):
    result = run("--show-completion", shell)
    assert result.returncode == 0, result.stderr
    assert marker in result.stdout and f"_CARBONPLAN_COMPLETE=complete_{shell}" in result.stdout
    assert result.stderr == ""


def test_show_completion_of_an_unknown_shell_is_one_error(cli):
    cli("--show-completion", "tcsh").assert_one_clear_error("no completion for shell 'tcsh'")


def test_help_lists_the_completion_options(cli):
    result = cli("--help")
    assert result.code == 0
    assert "--install-completion" in result.out and "--show-completion" in result.out


def complete(env: dict[str, str]) -> list[str]:
    """Ask carbonplan for completions the way the shell scripts do."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("_CARBONPLAN")}
    result = subprocess.run(
        [sys.executable, "-m", "recommender"],
        capture_output=True,
        text=True,
        env=environ | env,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def bash(words: str, cword: int) -> list[str]:
    return complete(
        {"_CARBONPLAN_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    )


def test_completion_of_commands_options_and_values():
    assert bash("carbonplan sug", 1) == ["suggest"]
    assert set(bash("carbonplan ", 1)) >= {"suggest", "estimate", "report", "launch", "replay"}
    assert bash("carbonplan suggest --gpu-h", 2) == ["--gpu-hours"]
    assert bash("carbonplan report --form", 2) == ["--format"]
    assert bash("carbonplan suggest --objective ", 3) == ["carbon", "cost", "time", "balanced"]
    assert bash("carbonplan --deb", 1) == ["--debug"]
    zsh = complete(
        {"_CARBONPLAN_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "carbonplan gp"}
    )
    assert any('"gpus"' in word for word in zsh), zsh


def test_bash_completes_through_the_printed_script(tmp_path):
    """The script carbonplan prints, sourced by a real bash, completes a sub-command."""
    shim = tmp_path / "bin" / "carbonplan"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m recommender "$@"\n')
    shim.chmod(0o755)
    script = run("--show-completion", "bash").stdout
    (tmp_path / "completion.sh").write_text(script)
    probe = (
        f"source {tmp_path / 'completion.sh'}; COMP_WORDS=(carbonplan instan); COMP_CWORD=1; "
        "_carbonplan_completion carbonplan; printf '%s\\n' \"${COMPREPLY[@]}\""
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("_CARBONPLAN")}
    env["PATH"] = f"{shim.parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", probe],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["instances"]


def test_install_completion_writes_the_script_and_sources_it(tmp_path):
    result = run("--install-completion", "bash", env={"HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    installed = tmp_path / ".bash_completions" / "carbonplan.sh"
    assert "_CARBONPLAN_COMPLETE=complete_bash" in installed.read_text()
    assert str(installed.relative_to(tmp_path)) in (tmp_path / ".bashrc").read_text()
    assert "bash completion installed in" in result.stdout


# --- contradictory flags ---------------------------------------------------------------------


@pytest.mark.parametrize("command", ["suggest", "launch", "report"])
def test_spot_and_on_demand_together_are_refused(cli, command, tmp_path):
    extra = ["--out", str(tmp_path / "r")] if command == "report" else []
    result = cli(command, "--gpu-hours", "400", "--spot", "--on-demand", *extra)
    result.assert_one_clear_error("--spot and --on-demand contradict each other")
    assert len(result.err.strip().splitlines()) == 2


def test_one_market_flag_still_chooses_that_market(cli):
    for flag, market in (("--spot", "spot"), ("--on-demand", "on-demand")):
        result = cli("suggest", "--gpu-hours", "400", flag, "--top", "5", "--format", "json")
        assert result.code == 0, result.err
        assert {o["market"] for o in json.loads(result.out)["options"]} == {market}


def test_intensity_static_with_a_file_is_refused(cli, tmp_path):
    trace = tmp_path / "trace.csv"
    trace.write_text("datetime,gco2_per_kwh\n2024-01-01T00:00:00Z,100\n")
    result = cli(
        "suggest", "--gpu-hours", "400", "--intensity", "static", "--intensity-file", str(trace)
    )
    result.assert_one_clear_error("--intensity static and --intensity-file contradict")


# --- empty name flags (issue 13) --------------------------------------------------------------

EMPTY_FLAGS = [
    ("suggest", "--region", "''"),
    ("suggest", "--gpu", "''"),
    ("suggest", "--provider", "''"),
    ("suggest", "--exclude-region", "''"),
    ("suggest", "--baseline", "''"),
    ("suggest", "--region", "' , '"),
    ("report", "--gpu", "''"),
    ("launch", "--provider", "''"),
    ("regions", "--provider", "''"),
    ("regions", "--gpu", "''"),
    ("gpus", "--provider", "''"),
    ("size", "--gpu", "''"),
]


@pytest.mark.parametrize("command,flag,shown", EMPTY_FLAGS)
def test_an_empty_name_flag_is_one_error_with_a_hint(cli, tmp_path, command, flag, shown):
    value = shown.strip("'")
    job = {
        "suggest": ["--gpu-hours", "400"],
        "report": ["--gpu-hours", "400", "--out", str(tmp_path / "r")],
        "launch": ["--gpu-hours", "400"],
        "size": ["--params", "350M", "--tokens", "20B"],
    }.get(command, [])
    result = cli(command, *job, flag, value)
    result.assert_one_clear_error(f"{flag} {shown} names nothing")
    lines = result.err.strip().splitlines()
    assert len(lines) == 2 and f"leave {flag} out" in lines[1], result.err
    assert not (tmp_path / "r").exists()


def test_estimate_refuses_an_empty_gpu_or_region(cli):
    gpu = cli("estimate", "--hours", "10", "--gpu", "", "--region", "aws:us-east-1")
    gpu.assert_one_clear_error("unknown GPU ''")
    region = cli("estimate", "--hours", "10", "--gpu", "H100", "--region", "")
    region.assert_one_clear_error("unknown region ''")


def test_a_name_flag_with_a_name_still_filters(cli):
    result = cli("suggest", "--gpu-hours", "400", "--provider", "gcp,", "--format", "json")
    assert result.code == 0, result.err
    assert {o["provider"] for o in json.loads(result.out)["options"]} == {"gcp"}


# --- --debug anywhere ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["--debug", "suggest", "--gpu-hours", "400", "--top", "1"],
        ["suggest", "--debug", "--gpu-hours", "400", "--top", "1"],
        ["suggest", "--gpu-hours", "400", "--top", "1", "--debug"],
    ],
)
def test_debug_is_accepted_before_or_after_the_command(cli, args, monkeypatch):
    monkeypatch.delenv("CARBONPLAN_DEBUG", raising=False)
    result = cli(*args)
    assert result.code == 0, result.err
    assert "No such option" not in result.err


def test_debug_after_the_command_shows_the_traceback(cli, monkeypatch):
    """Not only accepted: it turns the one-line error into the exception itself."""
    monkeypatch.delenv("CARBONPLAN_DEBUG", raising=False)
    cli("suggest", "--gpu-hours", "-5").assert_one_clear_error("--gpu-hours")
    with pytest.raises(BadInputError, match="--gpu-hours"):
        main(["suggest", "--gpu-hours", "-5", "--debug"])
    monkeypatch.delenv("CARBONPLAN_DEBUG", raising=False)


# --- instances and down without credentials --------------------------------------------------


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    """No AWS or GCP credentials anywhere, and nothing that could reach a real endpoint."""
    for key in list(os.environ):
        if key.startswith(("AWS_", "GOOGLE_", "CLOUDSDK_", "CARBONPLAN_GCP_")):
            monkeypatch.delenv(key)
    for key, value in {
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL_EC2": "http://127.0.0.1:9",  # discard port: never the internet
        "AWS_MAX_ATTEMPTS": "1",
        "NO_GCE_CHECK": "True",
        "CLOUDSDK_CONFIG": str(tmp_path / "no-gcloud"),
        "CARBONPLAN_GCP_API_ENDPOINT": "http://127.0.0.1:9",
    }.items():
        monkeypatch.setenv(key, value)


def assert_no_cloud_answered(result) -> None:
    assert result.code == ExitCode.LAUNCH_FAILED, (result.code, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("error: cannot list instances: no cloud could be asked")
    assert "aws: " in lines[0] and "gcp: " in lines[0] and "credentials" in lines[0]
    assert lines[1].startswith("hint: ") and "AWS credentials" in lines[1]
    assert "Traceback" not in result.err


def test_instances_without_credentials_says_so(cli, no_credentials):
    table = cli("instances")
    assert_no_cloud_answered(table)
    assert "0 carbonplan instance" not in table.out
    as_json = cli("instances", "--format", "json")
    assert_no_cloud_answered(as_json)
    assert as_json.out == ""  # no {"instances": []} that a script would read as "none"


def test_down_without_credentials_says_so(cli, no_credentials):
    result = cli("down", "i-0123456789abcdef0", "--yes")
    assert_no_cloud_answered(result)  # not "not a running carbonplan instance"


def test_one_cloud_with_credentials_is_listed_and_the_other_noted(cli, no_credentials, monkeypatch):
    """GCP answers (the local fake, anonymous credentials), AWS has none: a note, exit 0."""
    from fakes.gcp_compute import FakeCompute

    fake = FakeCompute().start()
    try:
        monkeypatch.setenv("CARBONPLAN_GCP_API_ENDPOINT", fake.url)
        monkeypatch.setenv("CARBONPLAN_GCP_ANONYMOUS", "1")
        result = cli("instances", "--project", "carbon-test", "--format", "json")
    finally:
        fake.stop()
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["instances"] == []
    assert [n for n in document["notes"] if n.startswith("aws: skipped")], document["notes"]
    assert not [n for n in document["notes"] if n.startswith("gcp")]


@pytest.mark.parametrize("flag", ["--region", "--provider"])
def test_instances_refuses_an_empty_name(cli, flag):
    cli("instances", flag, "").assert_one_clear_error(f"{flag} '' names nothing")
