"""Splits a formula into tokens, each with its line and column (for Batch-style error positions)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from batchforge.localbatch.autoscale.errors import Position, syntax_error

NUMBER, STRING, NAME, OP, END = "number", "string", "name", "op", "end"

# Longest operators first so that "<=" is not read as "<" then "=".
_OPERATORS = ("&&", "||", "==", "!=", "<=", ">=", *"<>+-*/!?:=(),.;")
_PATTERNS = re.compile(
    r"""
    (?P<space>[ \t\r\n]+)
  | (?P<line_comment>//[^\n]*)
  | (?P<block_comment>/\*.*?\*/)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<string>"[^"\n]*")
  | (?P<name>\$?[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>"""
    + "|".join(re.escape(op) for op in _OPERATORS)
    + r""")
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    position: Position


def tokenize(formula: str) -> list[Token]:
    tokens: list[Token] = []
    index, line, line_start = 0, 1, 0
    while index < len(formula):
        match = _PATTERNS.match(formula, index)
        position = (line, index - line_start + 1)
        if match is None:
            raise syntax_error(f"Unexpected character '{formula[index]}'", position)
        kind = match.lastgroup or ""
        text = match.group()
        if kind in (NUMBER, STRING, NAME, OP):
            tokens.append(Token(kind, text, position))
        newlines = text.count("\n")
        if newlines:
            line += newlines
            line_start = match.start() + text.rindex("\n") + 1
        index = match.end()
    tokens.append(Token(END, "", (line, index - line_start + 1)))
    return tokens
