"""The formula's value types (double, doubleVec, string, timestamp, timeinterval, sample variables) and
how the results string spells them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

TIME_INTERVALS = {
    "TimeInterval_Zero": 0.0,
    "TimeInterval_100ns": 1e-7,
    "TimeInterval_Microsecond": 1e-6,
    "TimeInterval_Millisecond": 1e-3,
    "TimeInterval_Second": 1.0,
    "TimeInterval_Minute": 60.0,
    "TimeInterval_Hour": 3600.0,
    "TimeInterval_Day": 86400.0,
    "TimeInterval_Week": 7 * 86400.0,
    "TimeInterval_Year": 365 * 86400.0,
}


@dataclass(frozen=True)
class Vec:
    """doubleVec."""

    items: tuple[float, ...]


@dataclass(frozen=True, order=True)
class Interval:
    """timeinterval, in seconds (TimeInterval_100ns needs finer than timedelta's microseconds)."""

    seconds: float


@dataclass(frozen=True)
class Metric:
    """A read-only sample variable such as $PendingTasks: only its methods give values."""

    name: str


Value = float | Vec | str | datetime | Interval | Metric


def type_name(value: Value) -> str:
    if isinstance(value, float):
        return "double"
    if isinstance(value, Vec):
        return "doubleVec"
    if isinstance(value, str):
        return "string"
    if isinstance(value, datetime):
        return "timestamp"
    if isinstance(value, Interval):
        return "timeinterval"
    return "sample variable"


def format_double(value: float) -> str:
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return format(value, ".15g")


def format_value(value: Value) -> str:
    if isinstance(value, float):
        return format_double(value)
    if isinstance(value, Vec):
        return "[" + ",".join(format_double(item) for item in value.items) + "]"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, Interval):
        return _format_interval(value.seconds)
    if isinstance(value, Metric):
        return value.name
    return value


def _format_interval(seconds: float) -> str:
    """Like a .NET TimeSpan ("00:10:00", "1.02:00:00"), the service's own spelling."""
    sign = "-" if seconds < 0 else ""
    whole, fraction = divmod(abs(seconds), 1)
    days, rest = divmod(int(whole), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    if days:
        text = f"{days}.{text}"
    ticks = round(fraction * 1e7)
    if ticks:
        text += f".{ticks:07d}"
    return sign + text
