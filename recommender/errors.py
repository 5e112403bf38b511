"""One exception tree for the whole package.

Library code raises these; only the CLI entry point prints them (``error: ...`` then
``hint: ...``) and turns them into exit codes.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit status, stable for scripts."""

    OK = 0
    BAD_INPUT = 2
    SOURCE_UNREACHABLE = 3
    NO_OPTION = 4
    LAUNCH_FAILED = 5
    INTERRUPTED = 130  # SIGINT (Ctrl-C)
    TERMINATED = 143  # SIGTERM


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived (raised in the main thread by the CLI's signal handler).

    Like KeyboardInterrupt it is not an ``Exception``, so ``except Exception`` lets it pass;
    code that started something costly catches it, cleans up and raises it again.
    """

    def __init__(self, signum: int) -> None:
        import signal

        self.signum = signum
        self.signal_name = signal.Signals(signum).name
        super().__init__(self.signal_name)

    @property
    def exit_code(self) -> ExitCode:
        import signal

        return ExitCode.TERMINATED if self.signum == signal.SIGTERM else ExitCode.INTERRUPTED


#: What an interrupt looks like wherever one may arrive (KeyboardInterrupt: no handler of ours).
INTERRUPTS: tuple[type[BaseException], ...] = (KeyboardInterrupt, Interrupted)


class CarbonplanError(Exception):
    """Base class: a message for the user, a hint, and the exit code it maps to."""

    exit_code: ExitCode = ExitCode.BAD_INPUT
    default_hint: str = "run the command with --help to see the accepted values"

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint or self.default_hint


class BadInputError(CarbonplanError):
    """A flag, value or name the user gave cannot be used."""


class DataError(CarbonplanError):
    """A data file (shipped or user-supplied) is missing, unreadable or fails validation."""

    default_hint = "reinstall carbonplan or unset CARBONPLAN_DATA_DIR to use the shipped data"


class NoOptionError(CarbonplanError):
    """Nothing satisfies the constraints."""

    exit_code = ExitCode.NO_OPTION
    default_hint = "relax a constraint (see the counts above) or widen --provider/--region"


class SourceUnreachableError(CarbonplanError):
    """A data source could not be reached and no fallback exists."""

    exit_code = ExitCode.SOURCE_UNREACHABLE
    default_hint = "check the network, or run without --live to use the shipped data"
