"""A Pratt parser for the autoscale language: `;`-separated statements, C-like operator precedence,
the ternary `?:`, function calls, `.member` access and `.Method(...)` calls on sample variables.
"""

from __future__ import annotations

from batchforge.localbatch.autoscale.errors import syntax_error
from batchforge.localbatch.autoscale.functions import FUNCTIONS
from batchforge.localbatch.autoscale.lexer import END, NAME, NUMBER, OP, STRING, Token, tokenize
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
    Statement,
    String,
    Unary,
)

MAX_STATEMENTS = 100
_TERNARY = 1
_BINARY = {"||": 2, "&&": 3, "==": 4, "!=": 4, "<": 5, "<=": 5, ">": 5, ">=": 5, "+": 6, "-": 6, "*": 7, "/": 7}
_PREFIX = 8
_POSTFIX = 9


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.index = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != END:
            self.index += 1
        return token

    def at(self, text: str) -> bool:
        return self.current.kind == OP and self.current.text == text

    def expect(self, text: str) -> Token:
        if not self.at(text):
            raise syntax_error(f"Expected '{text}' but found {_describe(self.current)}", self.current.position)
        return self.advance()

    def statements(self) -> list[Statement]:
        result: list[Statement] = []
        while self.current.kind != END:
            if self.at(";"):
                self.advance()
                continue
            start = self.current.position
            result.append(self.statement())
            if len(result) > MAX_STATEMENTS:
                raise syntax_error(f"A formula can have at most {MAX_STATEMENTS} statements", start)
            if self.current.kind != END:
                self.expect(";")
        return result

    def statement(self) -> Statement:
        token = self.current
        following = self.tokens[self.index + 1]
        if token.kind == NAME and following.kind == OP and following.text == "=":
            self.index += 2
            return Assignment(token.text, self.expression(0), token.position)
        return self.expression(0)

    def expression(self, min_power: int) -> Expression:
        left = self.prefix()
        while True:
            token = self.current
            if token.kind != OP:
                break
            if token.text == "?" and min_power < _TERNARY:
                self.advance()
                if_true = self.expression(0)
                self.expect(":")
                # Right-associative: a ? b : c ? d : e groups as a ? b : (c ? d : e).
                left = Conditional(left, if_true, self.expression(_TERNARY - 1), token.position)
            elif token.text in _BINARY and _BINARY[token.text] > min_power:
                self.advance()
                left = Binary(token.text, left, self.expression(_BINARY[token.text]), token.position)
            elif token.text == "." and min_power < _POSTFIX:
                self.advance()
                name = self.advance()
                if name.kind != NAME or name.text.startswith("$"):
                    raise syntax_error(f"Expected a member name after '.' but found {_describe(name)}", name.position)
                if self.at("("):
                    left = MethodCall(left, name.text, self.arguments(), name.position)
                else:
                    left = Member(left, name.text, name.position)
            else:
                break
        return left

    def prefix(self) -> Expression:
        token = self.advance()
        if token.kind == NUMBER:
            return Number(float(token.text), token.position)
        if token.kind == STRING:
            return String(token.text[1:-1], token.position)
        if token.kind == NAME:
            if self.at("(") and not token.text.startswith("$"):
                if token.text not in FUNCTIONS:
                    raise syntax_error(f"Unknown function '{token.text}'", token.position)
                return Call(token.text, self.arguments(), token.position)
            return Name(token.text, token.position)
        if token.kind == OP and token.text in ("-", "!", "+"):
            operand = self.expression(_PREFIX)
            return operand if token.text == "+" else Unary(token.text, operand, token.position)
        if token.kind == OP and token.text == "(":
            inner = self.expression(0)
            self.expect(")")
            return inner
        raise syntax_error(f"Expected an expression but found {_describe(token)}", token.position)

    def arguments(self) -> tuple[Expression, ...]:
        self.expect("(")
        args: list[Expression] = []
        if not self.at(")"):
            args.append(self.expression(0))
            while self.at(","):
                self.advance()
                args.append(self.expression(0))
        self.expect(")")
        return tuple(args)


def _describe(token: Token) -> str:
    return "the end of the formula" if token.kind == END else f"'{token.text}'"


def parse(formula: str) -> list[Statement]:
    return _Parser(tokenize(formula)).statements()
