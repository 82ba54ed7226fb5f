"""The built-in functions. Most take a doubleVecList: any mix of doubles and doubleVecs, flattened."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from batchforge.localbatch.autoscale.values import Value, Vec, type_name


class FunctionError(Exception):
    """Raised by a function; the evaluator adds the position and makes it a formula error."""


@dataclass(frozen=True)
class CallContext:
    now: datetime
    rng: random.Random


Function = Callable[[Sequence[Value], CallContext], Value]


class StopEvaluation(Exception):
    """stop(): the statements after it are not evaluated."""


def _flatten(name: str, args: Sequence[Value]) -> list[float]:
    items: list[float] = []
    for arg in args:
        if isinstance(arg, float):
            items.append(arg)
        elif isinstance(arg, Vec):
            items.extend(arg.items)
        else:
            raise FunctionError(f"{name}() takes doubles and doubleVecs, not a {type_name(arg)}")
    return items


def _nonempty(name: str, args: Sequence[Value]) -> list[float]:
    items = _flatten(name, args)
    if not items:
        raise FunctionError(f"{name}() needs at least one value")
    return items


def _reducer(name: str, reduce: Callable[[list[float]], float]) -> Function:
    def call(args: Sequence[Value], _: CallContext) -> Value:
        return float(reduce(_nonempty(name, args)))

    return call


def _elementwise(name: str, apply: Callable[[float], float]) -> Function:
    """One double in, one double out; anything else gives a doubleVec, component by component."""

    def call(args: Sequence[Value], _: CallContext) -> Value:
        items = _nonempty(name, args)
        try:
            if len(args) == 1 and isinstance(args[0], float):
                return float(apply(items[0]))
            return Vec(tuple(float(apply(item)) for item in items))
        except (ValueError, OverflowError):
            raise FunctionError(f"{name}() is not defined for {items}") from None

    return call


def _std(items: list[float]) -> float:
    if len(items) < 2:
        return 0.0
    mean = sum(items) / len(items)
    return math.sqrt(sum((item - mean) ** 2 for item in items) / (len(items) - 1))


def _round_half_away(value: float) -> float:
    # Python's round() rounds half to even; the service (.NET Math.Round away from zero) does not.
    return math.copysign(math.floor(abs(value) + 0.5), value)


def _percentile(args: Sequence[Value], _: CallContext) -> Value:
    if len(args) != 2 or not isinstance(args[0], Vec) or not isinstance(args[1], float):
        raise FunctionError("percentile() takes a doubleVec and a double")
    items, p = sorted(args[0].items), args[1]
    if not items:
        raise FunctionError("percentile() needs at least one value")
    if not 0 <= p <= 100:
        raise FunctionError(f"percentile() takes a percentage between 0 and 100, not {p:g}")
    rank = max(1, math.ceil(p / 100 * len(items)))  # nearest-rank
    return items[rank - 1]


def _val(args: Sequence[Value], _: CallContext) -> Value:
    if len(args) != 2 or not isinstance(args[0], Vec) or not isinstance(args[1], float):
        raise FunctionError("val() takes a doubleVec and a double index")
    items, index = args[0].items, int(args[1])
    if not 0 <= index < len(items):
        raise FunctionError(f"val() index {index} is outside the vector (length {len(items)})")
    return items[index]


def _rand(args: Sequence[Value], context: CallContext) -> Value:
    if args:
        raise FunctionError("rand() takes no arguments")
    return context.rng.random()


def _stop(args: Sequence[Value], _: CallContext) -> Value:
    if args:
        raise FunctionError("stop() takes no arguments")
    raise StopEvaluation


def parse_time(text: str) -> datetime:
    """W3C-DTF (ISO 8601) or RFC 1123, the two forms time() accepts."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        try:
            value = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            raise FunctionError(f"time() cannot read '{text}' (use W3C-DTF or RFC 1123)") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _time(args: Sequence[Value], context: CallContext) -> Value:
    if not args or (len(args) == 1 and args[0] == ""):
        return context.now
    if len(args) != 1 or not isinstance(args[0], str):
        raise FunctionError("time() takes at most one string")
    return parse_time(args[0])


FUNCTIONS: dict[str, Function] = {
    "avg": _reducer("avg", lambda items: sum(items) / len(items)),
    "len": lambda args, _: float(len(_flatten("len", args))),
    "max": _reducer("max", max),
    "min": _reducer("min", min),
    "norm": _reducer("norm", lambda items: math.sqrt(sum(item * item for item in items))),
    "range": _reducer("range", lambda items: max(items) - min(items)),
    "std": _reducer("std", _std),
    "sum": lambda args, _: float(sum(_flatten("sum", args))),
    "ceil": _elementwise("ceil", math.ceil),
    "floor": _elementwise("floor", math.floor),
    "round": _elementwise("round", _round_half_away),
    "lg": _elementwise("lg", math.log2),
    "ln": _elementwise("ln", math.log),
    "log": _elementwise("log", math.log10),
    "percentile": _percentile,
    "val": _val,
    "rand": _rand,
    "stop": _stop,
    "time": _time,
}
