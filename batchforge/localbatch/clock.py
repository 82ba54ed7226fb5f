"""The service's clock, and timestamps in the forms the Batch REST API uses (ISO 8601 in bodies, RFC 1123
in headers).

`now()` is the service's time: the real time unless a test clock was set (`localbatch serve --clock-speed N`,
`--test-clock`), which runs it N times faster and/or lets it be moved forward (`advance`). Job schedules,
task and job timestamps, retention and autoscale all follow it. `wall_now()` stays the real time, for what
must agree with the client's clock (the Shared Key request date).
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, TypeVar

_etag_counter = itertools.count()
# The store counter that keeps a test clock's lead (milliseconds) across restarts.
LEAD_COUNTER = "clockLeadMs"
_Stamped = TypeVar("_Stamped", bound=Any)


class _ServiceClock:
    """Service time = real time + offset + (real seconds since `anchor`) x (speed - 1)."""

    def __init__(self) -> None:
        self.speed = 1.0
        self.offset = timedelta(0)
        self.anchor = time.monotonic()

    @property
    def real(self) -> bool:
        return self.speed == 1.0 and not self.offset

    def lead(self) -> timedelta:
        """How far the service's time is ahead of the real time."""
        return self.offset + timedelta(seconds=(time.monotonic() - self.anchor) * (self.speed - 1.0))


_clock = _ServiceClock()


def now() -> datetime:
    if _clock.real:
        return datetime.now(UTC)
    return datetime.now(UTC) + _clock.lead()


def wall_now() -> datetime:
    return datetime.now(UTC)


def configure(*, speed: float = 1.0, lead: timedelta = timedelta(0)) -> None:
    """Run the service's time `speed` times as fast as real time, starting `lead` ahead of it."""
    if speed <= 0:
        raise ValueError("the clock speed must be positive")
    _clock.speed = float(speed)
    _clock.offset = lead
    _clock.anchor = time.monotonic()


def advance(by: timedelta) -> datetime:
    """Move the service's time forward (a test clock); returns the new time."""
    if by < timedelta(0):
        raise ValueError("the service's clock only moves forward")
    _clock.offset += by
    return now()


def is_real() -> bool:
    return _clock.real


def on_service_clock(outcome: _Stamped) -> _Stamped:
    """A run's outcome (`start_time`, `end_time` read from the real clock) in the service's time: moved by
    the lead at its end, so its duration stays the real one."""
    shift = _clock.lead()
    return dataclasses.replace(outcome, start_time=outcome.start_time + shift, end_time=outcome.end_time + shift)


def speed() -> float:
    return _clock.speed


def lead() -> timedelta:
    return _clock.lead()


def real_seconds(service_time: timedelta) -> float:
    """How many real seconds a stretch of the service's time takes."""
    return service_time.total_seconds() / _clock.speed


def iso(value: datetime) -> str:
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # What isoformat(timespec="microseconds") + "Z" gives, at a third of the cost: several calls per task.
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (  # noqa: UP031 - %-formatting is the quick one here
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
    )


def iso_now() -> str:
    return iso(now())


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def rfc1123(value: datetime) -> str:
    return format_datetime(value.astimezone(UTC), usegmt=True)


def parse_rfc1123(value: str) -> datetime:
    """An HTTP date; ValueError if it is not one. A date without a zone (`-0000`) is taken as UTC."""
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, IndexError, OverflowError) as err:
        raise ValueError(f"not an RFC 1123 date: {value!r}") from err
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def new_etag() -> str:
    """Strictly increasing, formatted like the service's (0x + hex ticks)."""
    return f"0x{time.time_ns() // 100:X}{next(_etag_counter) % 4096:03X}"


_DURATION_UNITS = {"D": 86400.0, "H": 3600.0, "M": 60.0, "S": 1.0}


def parse_duration(value: str) -> timedelta:
    """ISO 8601 durations as Batch accepts them (PnDTnHnMnS; weeks and years are not used by the API)."""
    text = value.strip().upper()
    if not text.startswith("P"):
        raise ValueError(f"not an ISO 8601 duration: {value!r}")
    seconds = 0.0
    in_time = False
    number = ""
    for char in text[1:]:
        if char == "T":
            in_time = True
        elif char.isdigit() or char == ".":
            number += char
        elif char in _DURATION_UNITS and number:
            unit = 60.0 if (char == "M" and in_time) else _DURATION_UNITS[char]
            if char == "M" and not in_time:
                unit = 30 * 86400.0  # months are not meaningful for Batch; approximate
            seconds += float(number) * unit
            number = ""
        else:
            raise ValueError(f"not an ISO 8601 duration: {value!r}")
    if number:
        raise ValueError(f"not an ISO 8601 duration: {value!r}")
    return timedelta(seconds=seconds)


def check_duration_value(name: str, value: object) -> None:
    """Reject a malformed duration with the service's InvalidPropertyValue error."""
    if value is None:
        return
    try:
        parse_duration(str(value))
    except ValueError:
        from batchforge.localbatch.errors import invalid_property

        raise invalid_property(name, value, "Not a valid ISO 8601 duration.") from None
