"""The `carbonplan` entry point (recommender.entry): --version without the CLI frameworks, a
signal during start-up, the exit status and output of a normal run through the fast exit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from recommender import __version__


def child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "recommender", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_version_answers_without_the_cli_frameworks() -> None:
    code = (
        "import sys; sys.argv = ['carbonplan', '--version'];"
        "import atexit;"
        "atexit.register(lambda: print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('typer', 'click', 'rich', 'pandas', 'numpy')), flush=True));"
        "from recommender.entry import run; run()"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    version, loaded = done.stdout.splitlines()
    assert version == f"carbonplan {__version__}"
    assert loaded == "[]"


def test_version_equals_the_full_cli_answer() -> None:
    """The fast path and typer's --version (reached with --debug in front) print one line."""
    fast = subprocess.run(
        [sys.executable, "-m", "recommender", "--version"], capture_output=True, text=True
    )
    full = subprocess.run(
        [sys.executable, "-m", "recommender", "--debug", "--version"],
        capture_output=True,
        text=True,
    )
    assert (fast.returncode, fast.stdout) == (full.returncode, full.stdout) == (0, full.stdout)
    assert full.stdout == f"carbonplan {__version__}\n"


def test_a_run_through_the_fast_exit_keeps_its_output_and_status() -> None:
    """os._exit skips Python's own flush: everything printed must still arrive, and an error's
    exit status must survive."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "recommender",
            "suggest",
            "--gpu-hours",
            "400",
            "--top",
            "50",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["options"]) == 50
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "recommender",
            "suggest",
            "--gpu-hours",
            "400",
            "--spot",
            "--on-demand",
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: ")


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
@pytest.mark.parametrize("delay", [0.1, 0.15, 0.2])
def test_a_signal_during_start_up_exits_cleanly(signum: int, code: int, delay: float) -> None:
    """Start-up (imports: pandas alone takes a few hundred ms) is interrupted at several
    points: always the exit status of an interrupt, one line, never a traceback. (A signal
    that lands in a weakref callback of the import system has its exception swallowed there:
    the command then ran to its end, and still exits as interrupted.)"""
    proc = child("suggest", "--gpu-hours", "400", "--intensity-basis", "marginal")
    time.sleep(delay)
    if proc.poll() is not None:
        pytest.skip("the command finished before the signal")
    os.kill(proc.pid, signum)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[0].startswith("error: interrupted (SIG")


def test_an_interrupt_raised_where_python_cannot_pass_it_on_is_not_lost() -> None:
    """A signal whose handler runs inside a weakref callback (as happens during imports): the
    exception cannot leave the callback, Python calls it unraisable. Nothing is printed, and
    the signal is kept for main() to report the run as interrupted."""
    code = """if True:
        import gc, os, signal, sys, weakref
        from recommender import cli
        restore = cli._install_signal_handlers()

        class Thing:
            pass

        def callback(_ref):
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(10_000):  # the handler runs here, inside the callback
                pass

        thing = Thing()
        ref = weakref.ref(thing, callback)
        del thing
        gc.collect()
        restore()
        print(cli._RECEIVED)
    """
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"[{int(signal.SIGINT)}]"
    assert done.stderr == ""
