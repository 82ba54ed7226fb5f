"""The formula's syntax tree: statements are assignments or bare expressions."""

from __future__ import annotations

from dataclasses import dataclass

from batchforge.localbatch.autoscale.errors import Position


@dataclass(frozen=True)
class Number:
    value: float
    position: Position


@dataclass(frozen=True)
class String:
    value: str
    position: Position


@dataclass(frozen=True)
class Name:
    name: str  # as written, with its "$" if it has one
    position: Position


@dataclass(frozen=True)
class Unary:
    op: str
    operand: Expression
    position: Position


@dataclass(frozen=True)
class Binary:
    op: str
    left: Expression
    right: Expression
    position: Position


@dataclass(frozen=True)
class Conditional:
    condition: Expression
    if_true: Expression
    if_false: Expression
    position: Position


@dataclass(frozen=True)
class Call:
    function: str
    args: tuple[Expression, ...]
    position: Position


@dataclass(frozen=True)
class Member:
    target: Expression
    name: str
    position: Position


@dataclass(frozen=True)
class MethodCall:
    target: Expression
    method: str
    args: tuple[Expression, ...]
    position: Position


Expression = Number | String | Name | Unary | Binary | Conditional | Call | Member | MethodCall


@dataclass(frozen=True)
class Assignment:
    target: str
    value: Expression
    position: Position


Statement = Assignment | Expression
