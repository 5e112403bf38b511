"""Run a command under a :class:`~recommender.track.tracker.Tracker`: its stdin, stdout and
stderr are the terminal's, its exit status becomes ours, and SIGINT/SIGTERM reach it.

Signals: carbonplan blocks SIGINT and SIGTERM in its own threads once the child runs and
waits for them with ``sigtimedwait``, which says who sent each one. A Ctrl-C typed at the
terminal is sent by the kernel to the whole foreground process group, the child included, so
it is not sent again (a Python child would get two KeyboardInterrupts); one sent to
carbonplan alone (``kill -INT``, a scheduler's SIGTERM) is forwarded. Either way carbonplan
waits for the child, writes the row marked interrupted, and exits 130 or 143.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from typing import IO

from recommender.errors import BadInputError, Interrupted
from recommender.track.tracker import Tracker

SIGNALS = {signal.SIGINT, signal.SIGTERM}
_SI_KERNEL = 0x80  # si_code of a signal the kernel sent (the terminal's Ctrl-C)


def _status(returncode: int) -> int:
    """A shell's view of the child's status: 128 + N when signal N killed it."""
    return 128 - returncode if returncode < 0 else returncode


def _pump(source: IO[bytes], tracker: Tracker, pattern: re.Pattern[bytes]) -> None:
    """Copy the child's stdout to ours line by line, counting progress lines: each match is a
    step, or the number its first group captures is the steps done so far."""
    out = sys.stdout.buffer
    for line in iter(source.readline, b""):
        out.write(line)
        out.flush()
        match = pattern.search(line)
        if match is None:
            continue
        if match.groups() and match.group(1) is not None:
            try:
                tracker.set_steps(float(match.group(1)))
            except ValueError:
                tracker.step()
        else:
            tracker.step()


def run(argv: list[str], tracker: Tracker, progress: re.Pattern[bytes] | None = None) -> int:
    """Run ``argv``, append its row, and return its exit status; raise
    :class:`~recommender.errors.Interrupted` (after the row is written) when SIGINT/SIGTERM
    ended it."""
    tracker.start(sampling=False)
    received: int | None = None
    child: subprocess.Popen[bytes] | None = None
    blocked = False
    try:
        try:
            child = subprocess.Popen(argv, stdout=subprocess.PIPE if progress else None)
        except FileNotFoundError:
            raise BadInputError(
                f"command not found: {argv[0]}", "check the command after '--' and your PATH"
            ) from None
        except PermissionError:
            raise BadInputError(f"cannot run {argv[0]}: permission denied") from None
        if (
            hasattr(signal, "sigtimedwait")
            and threading.current_thread() is threading.main_thread()
        ):
            signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
            blocked = True
        tracker.start_sampling()  # after blocking: the sampling thread inherits the mask
        pump = None
        if progress is not None and child.stdout is not None:
            pump = threading.Thread(
                target=_pump, args=(child.stdout, tracker, progress), daemon=True
            )
            pump.start()
        while child.poll() is None:
            try:
                if blocked:
                    info = signal.sigtimedwait(SIGNALS, 0.1)
                    if info is not None:
                        received = info.si_signo
                        if info.si_code != _SI_KERNEL:  # not the terminal's: pass it on
                            child.send_signal(info.si_signo)
                else:
                    child.wait(0.1)
            except subprocess.TimeoutExpired:
                continue
            except Interrupted as exc:  # arrived before the mask (or where there is none)
                received = exc.signum
                child.send_signal(exc.signum)
        if pump is not None:
            pump.join(timeout=5)
    except Interrupted as exc:  # between the first readings and the child's start
        received = exc.signum
        if child is not None:
            child.send_signal(exc.signum)
            child.wait()
    finally:
        if blocked:
            # signals that came after the child ended count too (they are pending now)
            pending = signal.sigpending() & SIGNALS
            for signum in pending:
                signal.sigtimedwait({signum}, 0)
                received = received or int(signum)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
    status = (
        _status(child.returncode) if child is not None and child.returncode is not None else None
    )
    tracker.stop(exit_status=status, interrupted=received is not None)
    if received is not None:
        raise Interrupted(received)
    return status if status is not None else 1


def check_command(argv: list[str]) -> None:
    if not argv:
        raise BadInputError(
            "no command to track",
            "give it after '--': carbonplan track --region aws:eu-north-1 -- python train.py",
        )
    if os.sep not in argv[0]:
        import shutil

        if shutil.which(argv[0]) is None:
            raise BadInputError(
                f"command not found: {argv[0]}", "check the command after '--' and your PATH"
            )
