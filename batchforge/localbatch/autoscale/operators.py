"""The operators and the type pairs Batch documents for each; any other pairing is a type error."""

from __future__ import annotations

from datetime import datetime, timedelta

from batchforge.localbatch.autoscale.values import Interval, Value, Vec, type_name


class OperatorError(Exception):
    """Raised for a type mismatch; the evaluator adds the position."""


def _arith(op: str, left: float, right: float) -> float:
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if right == 0:
        raise OperatorError("Division by zero")
    return left / right


def binary(op: str, left: Value, right: Value) -> Value:
    if isinstance(left, float) and isinstance(right, float):
        return _arith(op, left, right)
    if isinstance(left, Vec) and isinstance(right, float):
        return Vec(tuple(_arith(op, item, right) for item in left.items))
    if isinstance(left, Vec) and isinstance(right, Vec):
        if len(left.items) != len(right.items):
            raise OperatorError(f"doubleVec {op} doubleVec needs vectors of the same length")
        return Vec(tuple(_arith(op, a, b) for a, b in zip(left.items, right.items, strict=True)))
    if op == "*" and isinstance(left, float) and isinstance(right, Interval):
        return Interval(left * right.seconds)
    if op in ("*", "/") and isinstance(left, Interval) and isinstance(right, float):
        return Interval(_arith(op, left.seconds, right))
    if op in ("+", "-") and isinstance(left, Interval) and isinstance(right, Interval):
        return Interval(_arith(op, left.seconds, right.seconds))
    if op == "+" and isinstance(left, Interval) and isinstance(right, datetime):
        return right + timedelta(seconds=left.seconds)
    if op == "+" and isinstance(left, datetime) and isinstance(right, Interval):
        return left + timedelta(seconds=right.seconds)
    if op == "-" and isinstance(left, datetime) and isinstance(right, datetime):
        return Interval((left - right).total_seconds())
    raise OperatorError(f"Operator '{op}' is not defined for {type_name(left)} and {type_name(right)}")


def unary(op: str, operand: Value) -> Value:
    if isinstance(operand, float):
        return -operand if op == "-" else (0.0 if operand else 1.0)
    if op == "-" and isinstance(operand, Interval):
        return Interval(-operand.seconds)
    raise OperatorError(f"Operator '{op}' is not defined for a {type_name(operand)}")


def compare(op: str, left: Value, right: Value) -> float:
    comparable = (float, str, datetime, Interval)
    if type(left) is not type(right) or not isinstance(left, comparable):
        raise OperatorError(f"Operator '{op}' is not defined for {type_name(left)} and {type_name(right)}")
    a, b = left, right
    outcome = {
        "<": lambda: a < b,  # type: ignore[operator]
        "<=": lambda: a <= b,  # type: ignore[operator]
        ">": lambda: a > b,  # type: ignore[operator]
        ">=": lambda: a >= b,  # type: ignore[operator]
        "==": lambda: a == b,
        "!=": lambda: a != b,
    }[op]()
    return 1.0 if outcome else 0.0


def truthy(value: Value, op: str) -> bool:
    """Nonzero is true; only doubles can be tested."""
    if not isinstance(value, float):
        raise OperatorError(f"Operator '{op}' tests a double, not a {type_name(value)}")
    return value != 0
