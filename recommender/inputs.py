"""Parsing and checking of user input shared by the command line and the Python API: numbers
(finite, in a sane range, named by their flag), name lists (repeated or comma-separated) and
times (``--start-after``, ``--deadline``: ISO 8601, hours, or ``datetime``/``timedelta`` from
Python). Every failure is a :class:`~recommender.errors.BadInputError` naming the flag, with a
hint: the same one line on the command line and from :mod:`recommender.api`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from recommender.errors import BadInputError
from recommender.units import utc

if TYPE_CHECKING:
    from recommender.planner.timing import TimeWindow


def env_number(
    name: str, default: float, *, low: float, high: float, hint: str | None = None
) -> float:
    """The number in the environment variable ``name`` (``default`` when unset or blank),
    refused with one error naming the variable and its value when it is not a number in
    ``[low, high]`` (NaN and infinities included); the hint defaults to unsetting it."""
    import os

    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:  # NaN fails too
        limits = f"between {low:g} and {high:g}" if math.isfinite(high) else f">= {low:g}"
        raise BadInputError(
            f"{name}={raw!r} is not a number {limits}",
            hint or f"unset it for the default ({default:g})",
        )
    return value


def check_number(
    flag: str,
    value: float | None,
    *,
    low: float = 0.0,
    high: float = 1e12,
    inclusive_low: bool = False,
) -> None:
    """Reject NaN, infinities and values outside a sane range, naming the flag."""
    if value is None:
        return
    if math.isnan(value) or math.isinf(value):
        raise BadInputError(f"{flag} must be a finite number, not {value}")
    too_low = value < low if inclusive_low else value <= low
    if too_low:
        bound = f">= {low:g}" if inclusive_low else f"> {low:g}"
        raise BadInputError(f"{flag} must be {bound}, got {value:g}")
    if value > high:
        raise BadInputError(
            f"{flag}={value:g} is implausibly large (limit {high:g})",
            "check the unit: the flag's --help says what it expects",
        )


def split_values(values: list[str] | None) -> list[str]:
    """Accept both repeated flags and comma-separated lists."""
    out: list[str] = []
    for value in values or []:
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return out


@dataclass(frozen=True)
class TimingFlags:
    """``--start-after``/``--deadline``/``--interruptible`` resolved: the window (None when
    none of them was given), the wall-clock limit for the planner, and whether the user asked
    about timing explicitly (``--deadline HOURS`` alone is also the old wall limit)."""

    window: TimeWindow | None
    deadline_hours: float | None
    explicit: bool


def parse_when(flag: str, text: str, now: datetime) -> datetime:
    """``now`` or an ISO 8601 time (UTC unless an offset is given), to the second."""
    value = text.strip()
    if value.lower() == "now":
        return now.replace(microsecond=0)
    try:
        when = datetime.fromisoformat(value.replace(" ", "T", 1) if "T" not in value else value)
    except ValueError:
        raise BadInputError(
            f"{flag} {text!r} is not a time",
            "give ISO 8601, e.g. 2026-11-28T01:00 (UTC) or 2026-11-28T02:00+01:00"
            + (", or hours from --start-after, e.g. 48" if flag == "--deadline" else ""),
        ) from None
    return utc(when).replace(microsecond=0)


#: What ``start_after`` may be: ISO 8601 text or ``"now"``, or a ``datetime`` (naive: UTC).
When = str | datetime
#: What ``deadline`` may be: hours after ``start_after`` (a number, ``"48"``, ``"48h"``, a
#: ``timedelta``) or the latest finish (ISO 8601 text or a ``datetime``).
Deadline = str | float | int | timedelta | datetime


def time_text(value: When | Deadline | None) -> str | None:
    """A Python time value as the text its flag would take (``timedelta`` as hours), so that
    one parser and one set of errors serve the command line and the API alike."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return repr(value.total_seconds() / 3600.0)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadInputError(
            f"a time must be text, a number of hours, a datetime or a timedelta, not "
            f"{type(value).__name__}",
            "e.g. deadline=timedelta(hours=48) or start_after=datetime(2026, 11, 28, 1)",
        )
    return repr(float(value))


def timing_flags(
    start_after: When | None,
    deadline: Deadline | None,
    interruptible: bool,
    checkpoint_minutes: float | None,
    now: datetime,
) -> TimingFlags:
    """Check and resolve the timing flags; raise ``BadInputError`` with a hint."""
    from recommender.planner.timing import CHECKPOINT_MINUTES, TimeWindow  # numpy: only now

    start_after, deadline = time_text(start_after), time_text(deadline)
    begin = parse_when("--start-after", start_after, now) if start_after else now
    begin = begin.replace(microsecond=0)
    hours: float | None = None
    finish: datetime | None = None
    deadline_is_time = False
    if deadline is not None:
        text = deadline.strip().lower().removesuffix("h").strip()
        try:
            hours = float(text)
        except ValueError:
            finish = parse_when("--deadline", deadline, now)
            deadline_is_time = True
            hours = (finish - begin).total_seconds() / 3600.0
            if hours <= 0:
                raise BadInputError(
                    f"--deadline {deadline} is not after --start-after "
                    f"({begin.strftime('%Y-%m-%dT%H:%M:%SZ')})",
                    "give a later --deadline, or hours from --start-after (e.g. --deadline 48)",
                ) from None
        else:
            if math.isnan(hours) or math.isinf(hours):
                raise BadInputError(f"--deadline must be a finite number, not {deadline}")
            if hours <= 0:
                raise BadInputError(f"--deadline must be > 0, got {hours:g}")
            if hours > 1e6:
                raise BadInputError(
                    f"--deadline={hours:g} is implausibly large (limit 1e+06)",
                    "--deadline is hours after --start-after, or an ISO 8601 time",
                )
            finish = begin + timedelta(hours=hours)
    if checkpoint_minutes is not None:
        if not interruptible:
            raise BadInputError(
                "--checkpoint-minutes is the restart overhead of an --interruptible job",
                "add --interruptible, or drop --checkpoint-minutes",
            )
        if not math.isfinite(checkpoint_minutes) or not 0 <= checkpoint_minutes <= 1440:
            raise BadInputError(
                f"--checkpoint-minutes must be between 0 and 1440, got {checkpoint_minutes:g}"
            )
    if interruptible and deadline is None:
        raise BadInputError(
            "--interruptible needs --deadline: until when may the job pause and resume?",
            "add --deadline HOURS or --deadline TIME (latest finish)",
        )
    explicit = bool(start_after) or deadline_is_time or interruptible
    if deadline is None and not explicit:
        return TimingFlags(None, None, False)
    window = TimeWindow(
        start_after=begin,
        deadline=finish,
        interruptible=interruptible,
        checkpoint_minutes=CHECKPOINT_MINUTES if checkpoint_minutes is None else checkpoint_minutes,
    )
    return TimingFlags(window, hours, explicit)
