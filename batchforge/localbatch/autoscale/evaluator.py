"""Runs a parsed formula against a pool's state and metric history and gives Batch's AutoScaleRun outcome:
the new targets, the deallocation option and the results string, or the error."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from batchforge.localbatch.autoscale.errors import TOO_LONG, FormulaError, evaluation_error
from batchforge.localbatch.autoscale.functions import FUNCTIONS, CallContext, FunctionError, StopEvaluation
from batchforge.localbatch.autoscale.operators import OperatorError, binary, compare, truthy, unary
from batchforge.localbatch.autoscale.parser import parse
from batchforge.localbatch.autoscale.samples import SampleHistory, SampleMethods
from batchforge.localbatch.autoscale.syntax import (
    Assignment,
    Binary,
    Call,
    Conditional,
    Expression,
    Member,
    MethodCall,
    Name,
    Number,
    String,
    Unary,
)
from batchforge.localbatch.autoscale.values import TIME_INTERVALS, Interval, Metric, Value, format_value, type_name

MAX_FORMULA_LENGTH = 8192
DEALLOCATION_OPTIONS = ("requeue", "terminate", "taskcompletion", "retaineddata")
TARGET_DEDICATED = "$TargetDedicatedNodes"
TARGET_LOW_PRIORITY = "$TargetLowPriorityNodes"
DEALLOCATION = "$NodeDeallocationOption"
_ALIASES = {"$TargetDedicated": TARGET_DEDICATED, "$TargetLowPriority": TARGET_LOW_PRIORITY}
SAMPLE_METRICS = (
    "$CPUPercent",
    "$WallClockSeconds",
    "$MemoryBytes",
    "$DiskBytes",
    "$DiskReadBytes",
    "$DiskWriteBytes",
    "$DiskReadOps",
    "$DiskWriteOps",
    "$NetworkInBytes",
    "$NetworkOutBytes",
    "$SampleNodeCount",
    "$ActiveTasks",
    "$RunningTasks",
    "$PendingTasks",
    "$SucceededTasks",
    "$FailedTasks",
    "$PreemptedNodeCount",
    "$UsableNodeCount",
)
_TIMESTAMP_MEMBERS: dict[str, Callable[[datetime], int]] = {
    "year": lambda t: t.year,
    "month": lambda t: t.month,
    "day": lambda t: t.day,
    "weekday": lambda t: t.isoweekday() % 7,  # 1 is Monday, 0 Sunday (.NET's DayOfWeek)
    "hour": lambda t: t.hour,
    "minute": lambda t: t.minute,
    "second": lambda t: t.second,
}


@dataclass(frozen=True)
class PoolState:
    current_dedicated: int
    current_low_priority: int
    target_dedicated: int
    target_low_priority: int
    task_slots_per_node: int


@dataclass(frozen=True)
class AutoScaleResult:
    target_dedicated: int | None
    target_low_priority: int | None
    deallocation_option: str | None
    results: str
    error: dict[str, Any] | None


@dataclass
class _Run:
    pool: PoolState
    history: SampleHistory
    now: datetime
    rng: random.Random
    variables: dict[str, Value] = field(default_factory=dict)

    def read_only(self) -> dict[str, Value]:
        return {
            "$CurrentDedicatedNodes": float(self.pool.current_dedicated),
            "$CurrentLowPriorityNodes": float(self.pool.current_low_priority),
            "$TaskSlotsPerNode": float(self.pool.task_slots_per_node),
            **{name: Metric(name) for name in SAMPLE_METRICS},
        }

    def settable_defaults(self) -> dict[str, Value]:
        """Before a formula sets them: the pool's current targets, and requeue."""
        return {
            TARGET_DEDICATED: float(self.pool.target_dedicated),
            TARGET_LOW_PRIORITY: float(self.pool.target_low_priority),
            DEALLOCATION: "requeue",
        }

    def lookup(self, node: Name) -> Value:
        if node.name in self.variables:
            return self.variables[node.name]
        fixed = self.read_only()
        if node.name in fixed:
            return fixed[node.name]
        settable = self.settable_defaults()
        system = _ALIASES.get(node.name, node.name)
        if system in settable:
            return self.variables.get(system, settable[system])
        if node.name in TIME_INTERVALS:
            return Interval(TIME_INTERVALS[node.name])
        if node.name in DEALLOCATION_OPTIONS:
            return node.name
        raise evaluation_error(f"Undefined symbol: {node.name}", node.position)

    def assign(self, statement: Assignment) -> None:
        name = statement.target
        if name in self.read_only() or name in TIME_INTERVALS:
            raise evaluation_error(f"{name} is read-only", statement.position)
        value = self.evaluate(statement.value)
        if isinstance(value, Metric):
            raise evaluation_error(f"{value.name} is a sample variable; use one of its methods", statement.position)
        system = _ALIASES.get(name, name)
        if system in (TARGET_DEDICATED, TARGET_LOW_PRIORITY) and not isinstance(value, float):
            raise evaluation_error(f"{name} must be a double, not a {type_name(value)}", statement.position)
        if system == DEALLOCATION and value not in DEALLOCATION_OPTIONS:
            options = ", ".join(DEALLOCATION_OPTIONS)
            raise evaluation_error(f"{name} must be one of {options}", statement.position)
        self.variables[name] = value

    def evaluate(self, node: Expression) -> Value:
        try:
            return self._evaluate(node)
        except (OperatorError, FunctionError) as err:
            raise evaluation_error(str(err), node.position) from None
        except FormulaError as err:
            if err.position is None:
                err.position = node.position
            raise

    def _evaluate(self, node: Expression) -> Value:
        if isinstance(node, Number):
            return node.value
        if isinstance(node, String):
            return node.value
        if isinstance(node, Name):
            return self.lookup(node)
        if isinstance(node, Unary):
            return unary(node.op, self.evaluate(node.operand))
        if isinstance(node, Binary):
            return self._binary(node)
        if isinstance(node, Conditional):
            # Lazy, as formulas rely on: `percent < 70 ? fallback : avg(GetSample(...))` must not fail.
            chosen = node.if_true if truthy(self.evaluate(node.condition), "?:") else node.if_false
            return self.evaluate(chosen)
        if isinstance(node, Call):
            args = [self._argument(arg) for arg in node.args]
            return FUNCTIONS[node.function](args, CallContext(self.now, self.rng))
        if isinstance(node, Member):
            return self._member(node)
        return self._method(node)

    def _argument(self, node: Expression) -> Value:
        value = self.evaluate(node)
        if isinstance(value, Metric):
            raise evaluation_error(f"{value.name} is a sample variable; use one of its methods", node.position)
        return value

    def _binary(self, node: Binary) -> Value:
        left = self._argument(node.left)
        if node.op in ("&&", "||"):
            if truthy(left, node.op) == (node.op == "||"):
                return 1.0 if node.op == "||" else 0.0
            return 1.0 if truthy(self._argument(node.right), node.op) else 0.0
        right = self._argument(node.right)
        if node.op in ("<", "<=", ">", ">=", "==", "!="):
            return compare(node.op, left, right)
        return binary(node.op, left, right)

    def _member(self, node: Member) -> Value:
        target = self._argument(node.target)
        if not isinstance(target, datetime) or node.name not in _TIMESTAMP_MEMBERS:
            raise evaluation_error(f"A {type_name(target)} has no member '{node.name}'", node.position)
        return float(_TIMESTAMP_MEMBERS[node.name](target))

    def _method(self, node: MethodCall) -> Value:
        target = self.evaluate(node.target)
        if not isinstance(target, Metric):
            raise evaluation_error(f"A {type_name(target)} has no method '{node.method}'", node.position)
        args = [self._argument(arg) for arg in node.args]
        return SampleMethods(target.name, self.history, self.now).call(node.method, args)


def evaluate(
    formula: str, pool: PoolState, history: SampleHistory, now: datetime, rng: random.Random | None = None
) -> AutoScaleResult:
    run = _Run(pool, history, now, rng or random.Random())
    try:
        if len(formula) > MAX_FORMULA_LENGTH:
            raise FormulaError(TOO_LONG, f"The formula is {len(formula)} characters; at most {MAX_FORMULA_LENGTH}")
        for statement in parse(formula):
            try:
                if isinstance(statement, Assignment):
                    run.assign(statement)
                else:
                    run.evaluate(statement)
            except StopEvaluation:
                break
        dedicated = _target(run, TARGET_DEDICATED, pool.target_dedicated)
        low = _target(run, TARGET_LOW_PRIORITY, pool.target_low_priority)
    except FormulaError as err:
        return AutoScaleResult(None, None, None, "", err.wire())
    option = str(run.variables.get(DEALLOCATION, "requeue"))
    return AutoScaleResult(dedicated, low, option, _results(run.variables, dedicated, low, option), None)


def _target(run: _Run, name: str, current: int) -> int:
    alias = next(alias for alias, full in _ALIASES.items() if full == name)
    # The full name wins over its alias when a formula sets both.
    value = run.variables.get(name, run.variables.get(alias, float(current)))
    assert isinstance(value, float)
    if not math.isfinite(value) or value < 0:
        raise evaluation_error(f"{name} must be a finite number >= 0, not {format_value(value)}", None)
    return int(value)  # Batch truncates: formulas write (n + 3) / 4 to round up


def _results(variables: dict[str, Value], dedicated: int, low: int, option: str) -> str:
    parts = [f"{TARGET_DEDICATED}={dedicated}", f"{TARGET_LOW_PRIORITY}={low}", f"{DEALLOCATION}={option}"]
    system = {TARGET_DEDICATED, TARGET_LOW_PRIORITY, DEALLOCATION, *_ALIASES}
    user = sorted((name for name in variables if name not in system), key=lambda name: name.lstrip("$").lower())
    return ";".join(parts + [f"{name}={format_value(variables[name])}" for name in user])
