"""Timestamps in the forms the Batch REST API uses (ISO 8601 in bodies, RFC 1123 in headers)."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

_etag_counter = itertools.count()


def now() -> datetime:
    return datetime.now(UTC)


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
