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
    INTERRUPTED = 130


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
