"""The ``carbonplan`` command's entry point: what only a short-lived command-line process
wants, kept out of :mod:`recommender.cli` (which tests and other programs import).

- ``carbonplan --version`` answers before typer, click and rich are imported.
- Ctrl-C or SIGTERM during start-up (imports take a few hundred ms) exits 130 / 143 with the
  one-line message of the rest of the CLI, not a traceback; once the command runs,
  :func:`recommender.cli.main` installs its own handlers (cleanup, then the same exit codes).
- The garbage collector runs less often: start-up creates hundreds of thousands of objects
  (pandas alone) and almost none of them are garbage, so most collections are wasted work
  (mypy's command line does the same). Collections still happen, so a long command (replay
  of a year of data, a report) does not grow without bound.
- On the way out, once the output is flushed and ``atexit`` handlers have run, a process
  with no other thread leaves with ``os._exit``: tearing down every module object of pandas,
  numpy and rich one by one takes tens of milliseconds and nothing is written by it (mypy's
  ``hard_exit`` does the same). Any other thread still running gets the ordinary shutdown.

The figures: ``python scripts/bench.py`` prints cold start against ``import pandas``.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys

# gen-0 threshold: 700 by default; mypy's command line uses these. 200k objects between young
# collections still bounds the garbage a cycle-heavy command can hold, and start-up (which
# makes few cycles) is as fast as with the collector off: 1.16x `import pandas` against
# 1.25x with (50k, 20, 20), in one run of alternating cold starts.
_GC_THRESHOLD = (200_000, 30, 30)


def _early_signal(signum: int, frame: object) -> None:
    """Until the CLI installs its own handlers: nothing has been started, so leave at once."""
    name = signal.Signals(signum).name
    code = 130 if signum == signal.SIGINT else 143
    try:
        os.write(2, f"error: interrupted ({name})\n".encode())
    finally:
        os._exit(code)


def _install_early_handlers() -> None:
    """SIGINT and SIGTERM exit 130 / 143 during start-up; a signal the parent ignores
    (``nohup``, a script's background job) stays ignored."""
    for signum, default in (
        (signal.SIGINT, signal.default_int_handler),
        (signal.SIGTERM, signal.SIG_DFL),
    ):
        if signal.getsignal(signum) is default:
            signal.signal(signum, _early_signal)


def _finish(code: int) -> None:
    """Flush, run ``atexit`` handlers and leave without module teardown when no other thread
    runs; otherwise the ordinary exit (which joins the other threads). After an interrupt,
    threads still waiting on a slow server are abandoned rather than joined (up to the HTTP
    timeout): nothing they would do is wanted any more."""
    import threading

    from recommender.errors import ExitCode

    interrupted = code in (ExitCode.INTERRUPTED, ExitCode.TERMINATED)
    if threading.active_count() > 1 and not interrupted:
        sys.exit(code)
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # the reader left (`| head`): what it wanted was written
        pass
    except (OSError, ValueError):
        code = code or 1
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    if interrupted and threading.active_count() > 1:
        os._exit(code)
    import atexit

    atexit._run_exitfuncs()
    if threading.active_count() > 1:  # an atexit handler started one: let Python join it
        sys.exit(code)
    os._exit(code)


def run() -> None:
    """``carbonplan``: see the module docstring."""
    _install_early_handlers()
    if sys.argv[1:] == ["--version"]:
        from recommender import __version__

        sys.stdout.write(f"carbonplan {__version__}\n")
        _finish(0)
    gc.set_threshold(*_GC_THRESHOLD)
    from recommender.cli import main

    _finish(main())
