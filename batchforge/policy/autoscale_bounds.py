"""Upper bounds on the node counts an Azure Batch autoscale formula can ask for.

The policies need "at most how many nodes can this pool get" without running the formula. A formula
caps a target when it assigns it a number, a variable with a known cap, ``min(...)`` with at least
one capped argument (``$TargetDedicatedNodes = min(10, $pending);``) or ``max(...)`` of capped
arguments. Anything else is uncapped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEDICATED = "$TargetDedicatedNodes"
LOW_PRIORITY = "$TargetLowPriorityNodes"

_ASSIGNMENT = re.compile(r"^\s*(\$?[A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)\s*(.+?)\s*$", re.DOTALL)
_NUMBER = re.compile(r"^[0-9]+(?:\.[0-9]+)?$")


@dataclass(frozen=True)
class TargetBound:
    """What a formula does with one target variable."""

    assigned: bool
    upper_bound: float | None  # None when assigned without a cap

    @property
    def capped(self) -> bool:
        return not self.assigned or self.upper_bound is not None

    @property
    def max_nodes(self) -> float:
        """0 when never assigned (Batch then keeps the target at 0 for a new pool)."""
        if not self.assigned:
            return 0
        return self.upper_bound if self.upper_bound is not None else float("inf")


def _strip_comments(formula: str) -> str:
    return re.sub(r"//[^\n]*", "", re.sub(r"/\*.*?\*/", "", formula, flags=re.DOTALL))


def _split_top_level(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current = ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == separator and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def _strip_parentheses(expression: str) -> str:
    expression = expression.strip()
    while expression.startswith("(") and expression.endswith(")"):
        inner = expression[1:-1]
        depth = 0
        balanced = True
        for char in inner:
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth < 0:
                balanced = False
                break
        if not balanced or depth != 0:
            break
        expression = inner.strip()
    return expression


def _bound(expression: str, constants: dict[str, float]) -> float | None:
    expression = _strip_parentheses(expression)
    if _NUMBER.match(expression):
        return float(expression)
    if expression in constants:
        return constants[expression]
    match = re.match(r"^min\s*\((.*)\)$", expression, re.DOTALL | re.IGNORECASE)
    if match and _strip_parentheses(f"({match.group(1)})") == match.group(1).strip():
        bounds = [_bound(argument, constants) for argument in _split_top_level(match.group(1), ",")]
        known = [value for value in bounds if value is not None]
        return min(known) if known else None
    match = re.match(r"^max\s*\((.*)\)$", expression, re.DOTALL | re.IGNORECASE)
    if match and _strip_parentheses(f"({match.group(1)})") == match.group(1).strip():
        bounds = [_bound(argument, constants) for argument in _split_top_level(match.group(1), ",")]
        return max(bounds) if bounds and all(value is not None for value in bounds) else None  # type: ignore[type-var]
    return None


def target_bounds(formula: str) -> dict[str, TargetBound]:
    """Bounds for ``$TargetDedicatedNodes`` and ``$TargetLowPriorityNodes``; the last assignment wins."""
    constants: dict[str, float] = {}
    found: dict[str, TargetBound] = {
        DEDICATED: TargetBound(assigned=False, upper_bound=None),
        LOW_PRIORITY: TargetBound(assigned=False, upper_bound=None),
    }
    for statement in _split_top_level(_strip_comments(formula), ";"):
        match = _ASSIGNMENT.match(statement)
        if not match:
            continue
        name, expression = match.group(1), match.group(2)
        bound = _bound(expression, constants)
        if name in found:
            found[name] = TargetBound(assigned=True, upper_bound=bound)
        elif bound is not None:
            constants[name] = bound
        else:
            constants.pop(name, None)
    return found
