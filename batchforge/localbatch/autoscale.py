"""A small evaluator for autoscale formulas: assignments of numbers and arithmetic to variables.

It understands what a fixed-size or arithmetic formula needs ($TargetDedicatedNodes,
$TargetLowPriorityNodes, $NodeDeallocationOption, user variables, + - * /, min, max, the current
node counts). Anything else (sample functions such as $ActiveTasks.GetSample, comparisons, the
ternary operator) is reported as an autoScaleRun error, never skipped.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from typing import Any

DEALLOCATION_OPTIONS = {"requeue", "terminate", "taskcompletion", "retaineddata"}
_VARIABLE = re.compile(r"\$([A-Za-z_]\w*)")
_ALLOWED_FUNCS = {"min": min, "max": max, "ceil": math.ceil, "floor": math.floor, "round": round, "abs": abs}


@dataclass(frozen=True)
class AutoScaleResult:
    target_dedicated: int | None
    target_low_priority: int | None
    deallocation_option: str | None
    results: str
    error: dict[str, Any] | None


class FormulaError(Exception):
    pass


def _evaluate(node: ast.AST, variables: dict[str, Any]) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.Name):
        if node.id.startswith("v_"):
            name = node.id[2:]
            if name not in variables:
                raise FormulaError(f"${name} is not defined (sample variables are not available locally)")
            return variables[name]
        if node.id in DEALLOCATION_OPTIONS:
            return node.id
        raise FormulaError(f"unknown name '{node.id}'")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _evaluate(node.operand, variables)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub | ast.Mult | ast.Div):
        left, right = _evaluate(node.left, variables), _evaluate(node.right, variables)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if right == 0:
            raise FormulaError("division by zero")
        return left / right
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _ALLOWED_FUNCS:
        args = [_evaluate(arg, variables) for arg in node.args]
        if not args:
            raise FormulaError(f"{node.func.id}() needs arguments")
        return _ALLOWED_FUNCS[node.func.id](*args)
    raise FormulaError(f"unsupported expression '{ast.unparse(node)}'")


def evaluate(formula: str, *, current_dedicated: int, current_low_priority: int) -> AutoScaleResult:
    variables: dict[str, Any] = {
        "CurrentDedicatedNodes": current_dedicated,
        "CurrentLowPriorityNodes": current_low_priority,
        "TargetDedicatedNodes": current_dedicated,
        "TargetLowPriorityNodes": current_low_priority,
    }
    assigned: list[str] = []
    try:
        for statement in formula.replace("\n", ";").split(";"):
            statement = statement.strip()
            if not statement or statement.startswith("//"):
                continue
            target, sep, expression = statement.partition("=")
            target = target.strip()
            if not sep or expression.startswith("=") or not re.fullmatch(r"\$?[A-Za-z_]\w*", target):
                raise FormulaError(f"expected an assignment, got '{statement}'")
            python = _VARIABLE.sub(lambda m: f"v_{m.group(1)}", expression.strip())
            try:
                tree = ast.parse(python, mode="eval")
            except SyntaxError as err:
                raise FormulaError(f"cannot parse '{expression.strip()}': {err.msg}") from None
            name = target.lstrip("$")
            variables[name] = _evaluate(tree.body, variables)
            if name not in assigned:
                assigned.append(name)
        dedicated = _node_count(variables, "TargetDedicatedNodes")
        low = _node_count(variables, "TargetLowPriorityNodes")
        option = variables.get("NodeDeallocationOption", "requeue")
        if option not in DEALLOCATION_OPTIONS:
            raise FormulaError(f"$NodeDeallocationOption must be one of {sorted(DEALLOCATION_OPTIONS)}")
    except FormulaError as err:
        return AutoScaleResult(
            None,
            None,
            None,
            "",
            {
                "code": "AutoScalingFormulaEvaluationError",
                "message": "An error occurred when evaluating the autoscale formula.",
                "values": [{"name": "Message", "value": str(err)}],
            },
        )
    results = [
        f"$TargetDedicatedNodes={dedicated}",
        f"$TargetLowPriorityNodes={low}",
        f"$NodeDeallocationOption={option}",
    ]
    results += [
        f"${name}={variables[name]}"
        for name in assigned
        if name not in ("TargetDedicatedNodes", "TargetLowPriorityNodes", "NodeDeallocationOption")
    ]
    return AutoScaleResult(dedicated, low, option, ";".join(results), None)


def _node_count(variables: dict[str, Any], name: str) -> int:
    value = variables[name]
    if isinstance(value, str):
        raise FormulaError(f"${name} must be a number")
    count = int(value)
    if count < 0:
        raise FormulaError(f"${name} must not be negative")
    return count
