"""A pool's metric history (one sample of every metric each 30 s) and the sample methods formulas call
on it: GetSample, GetSamplePercent, GetSamplePeriod, Count, HistoryBeginTime.

The percentage rule: a time-range GetSample fails with InsufficientSampleData when fewer than the required
percentage (70 unless given) of the samples that range should hold exist; GetSamplePercent tells a formula
beforehand, so that it can fall back instead of failing.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from batchforge.localbatch.autoscale.errors import INSUFFICIENT_SAMPLES, FormulaError
from batchforge.localbatch.autoscale.functions import FunctionError
from batchforge.localbatch.autoscale.values import Interval, Value, Vec, type_name

SAMPLE_PERIOD = timedelta(seconds=30)
RETENTION = timedelta(hours=24)
DEFAULT_SAMPLE_PERCENT = 70.0


@dataclass(frozen=True)
class Sample:
    time: datetime
    values: Mapping[str, float]


class SampleHistory:
    """Samples on a 30-second grid from the first one; a missed grid point stays missing (as on Batch,
    where late or lost samples lower the sample percentage)."""

    def __init__(self) -> None:
        self.samples: deque[Sample] = deque(maxlen=int(RETENTION / SAMPLE_PERIOD))

    def record_due(self, now: datetime, take: Callable[[], Mapping[str, float]]) -> bool:
        if not self.samples:
            self.samples.append(Sample(now, dict(take())))
            return True
        last = self.samples[-1].time
        if now - last < SAMPLE_PERIOD:
            return False
        periods = (now - last) // SAMPLE_PERIOD
        self.samples.append(Sample(last + periods * SAMPLE_PERIOD, dict(take())))
        return True

    def series(self, metric: str) -> list[tuple[datetime, float]]:
        return [(sample.time, sample.values.get(metric, 0.0)) for sample in self.samples]


class SampleMethods:
    """The methods of one sample variable, evaluated at `now` on `history`."""

    def __init__(self, metric: str, history: SampleHistory, now: datetime) -> None:
        self.metric = metric
        self.series = history.series(metric)
        self.now = now

    def call(self, method: str, args: Sequence[Value]) -> Value:
        handler = {
            "GetSample": self.get_sample,
            "GetSamplePercent": self.get_sample_percent,
            "GetSamplePeriod": self.get_sample_period,
            "Count": self.count,
            "HistoryBeginTime": self.history_begin_time,
        }.get(method)
        if handler is None:
            raise FunctionError(f"{self.metric} has no method '{method}'")
        return handler(args)

    def get_sample(self, args: Sequence[Value]) -> Value:
        if not args:
            raise FunctionError(f"{self.metric}.GetSample() needs a sample count or a time range")
        if isinstance(args[0], float):
            if len(args) != 1:
                raise FunctionError(f"{self.metric}.GetSample(count) takes one argument")
            return self._last(args[0])
        start, end, rest = self._range(args, "GetSample")
        if len(rest) > 1 or (rest and not isinstance(rest[0], float)):
            raise FunctionError(f"{self.metric}.GetSample(start[, end][, samplePercent]): the percentage is a double")
        required = float(rest[0]) if rest else DEFAULT_SAMPLE_PERCENT
        values, percent = self._window(start, end)
        if percent < required:
            raise FormulaError(
                INSUFFICIENT_SAMPLES,
                f"Insufficient data from data set: {self.metric} wanted {required:g}%, received {math.floor(percent)}%",
            )
        return Vec(tuple(values))

    def get_sample_percent(self, args: Sequence[Value]) -> Value:
        start, end, rest = self._range(args, "GetSamplePercent")
        if rest:
            raise FunctionError(f"{self.metric}.GetSamplePercent(start[, end]) takes at most two time arguments")
        return self._window(start, end)[1]

    def get_sample_period(self, args: Sequence[Value]) -> Value:
        self._no_args("GetSamplePeriod", args)
        return Interval(SAMPLE_PERIOD.total_seconds())

    def count(self, args: Sequence[Value]) -> Value:
        self._no_args("Count", args)
        return float(len(self.series))

    def history_begin_time(self, args: Sequence[Value]) -> Value:
        self._no_args("HistoryBeginTime", args)
        if not self.series:
            raise FormulaError(INSUFFICIENT_SAMPLES, f"Insufficient data from data set: {self.metric} has no samples")
        return self.series[0][0]

    def _no_args(self, method: str, args: Sequence[Value]) -> None:
        if args:
            raise FunctionError(f"{self.metric}.{method}() takes no arguments")

    def _last(self, count: float) -> Vec:
        wanted = int(count)
        if wanted < 1 or wanted != count:
            raise FunctionError(f"{self.metric}.GetSample(count) takes a whole number of samples >= 1")
        if len(self.series) < wanted:
            raise FormulaError(
                INSUFFICIENT_SAMPLES,
                f"Insufficient data from data set: {self.metric} wanted {wanted} samples, received {len(self.series)}",
            )
        return Vec(tuple(value for _, value in self.series[-wanted:]))

    def _range(self, args: Sequence[Value], method: str) -> tuple[datetime, datetime, Sequence[Value]]:
        """(oldest, newest) of a look-back range; look-backs count back from now, timestamps are absolute."""
        if not args or not isinstance(args[0], Interval | datetime):
            got = type_name(args[0]) if args else "nothing"
            raise FunctionError(f"{self.metric}.{method}() takes a timeinterval or timestamp first, not {got}")
        first = self._instant(args[0])
        if len(args) > 1 and isinstance(args[1], Interval | datetime):
            second, rest = self._instant(args[1]), args[2:]
        else:
            second, rest = self.now, args[1:]
        return min(first, second), max(first, second), rest

    def _instant(self, value: Value) -> datetime:
        if isinstance(value, Interval):
            return self.now - timedelta(seconds=value.seconds)
        assert isinstance(value, datetime)
        return value

    def _window(self, start: datetime, end: datetime) -> tuple[list[float], float]:
        values = [value for time, value in self.series if start < time <= end]
        expected = max(1, math.floor((end - start) / SAMPLE_PERIOD))
        return values, min(100.0, 100.0 * len(values) / expected)
