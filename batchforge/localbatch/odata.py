"""The OData subset the Batch API accepts on list operations: `$filter`, `$select` and paging."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any

from batchforge.localbatch.errors import BatchApiError

Predicate = Callable[[dict[str, Any]], bool]

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<dt>datetime'[^']*')|(?P<num>-?\d+(?:\.\d+)?)"
    r"|(?P<punct>[(),])|(?P<word>[A-Za-z_$][\w/.$-]*))"
)
_COMPARE = {"eq", "ne", "gt", "ge", "lt", "le"}


def _bad_filter(text: str, reason: str) -> BatchApiError:
    return BatchApiError(
        400,
        "InvalidQueryParameterValue",
        "Value for one of the query parameters specified in the request URI is invalid.",
        {"QueryParameterName": "$filter", "QueryParameterValue": text, "Reason": reason},
    )


def _tokens(text: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match:
            raise _bad_filter(text, f"unexpected text at position {pos}")
        pos = match.end()
        if match.group("str") is not None:
            out.append(("lit", match.group("str")[1:-1].replace("''", "'")))
        elif match.group("dt") is not None:
            out.append(("lit", match.group("dt")[9:-1]))
        elif match.group("num") is not None:
            num = match.group("num")
            out.append(("lit", float(num) if "." in num else int(num)))
        elif match.group("punct") is not None:
            out.append((match.group("punct"), None))
        else:
            word = match.group("word")
            if word in ("true", "false"):
                out.append(("lit", word == "true"))
            elif word in ("null",):
                out.append(("lit", None))
            else:
                out.append(("word", word))
    return out


def _lookup(entity: dict[str, Any], path: str) -> Any:
    value: Any = entity
    for part in path.split("/"):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _compare(op: str, left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        left, right = left.lower(), right.lower()
    if op == "eq":
        return bool(left == right)
    if op == "ne":
        return bool(left != right)
    if left is None or right is None:
        return False
    try:
        return {"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[op]
    except TypeError:
        return False


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, Any] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, Any]:
        tok = self.peek()
        if tok is None:
            raise _bad_filter(self.text, "unexpected end of expression")
        self.i += 1
        return tok

    def expect(self, kind: str) -> None:
        if self.take()[0] != kind:
            raise _bad_filter(self.text, f"expected '{kind}'")

    def parse(self) -> Predicate:
        pred = self.expr()
        if self.peek() is not None:
            raise _bad_filter(self.text, "unexpected trailing text")
        return pred

    def expr(self) -> Predicate:
        left = self.term()
        while self.peek() == ("word", "or"):
            self.take()
            right = self.term()
            left = (lambda a, b: lambda e: a(e) or b(e))(left, right)
        return left

    def term(self) -> Predicate:
        left = self.factor()
        while self.peek() == ("word", "and"):
            self.take()
            right = self.factor()
            left = (lambda a, b: lambda e: a(e) and b(e))(left, right)
        return left

    def factor(self) -> Predicate:
        tok = self.take()
        if tok[0] == "(":
            inner = self.expr()
            self.expect(")")
            return inner
        if tok == ("word", "not"):
            inner = self.factor()
            return lambda e: not inner(e)
        if tok[0] != "word":
            raise _bad_filter(self.text, "expected a property name or function")
        name = tok[1]
        if name in ("startswith", "endswith", "substringof") and self.peek() == ("(", None):
            self.take()
            first = self.take()
            self.expect(",")
            second = self.take()
            self.expect(")")
            if name == "substringof":
                needle, prop = first[1], second[1]
                return lambda e: isinstance(_lookup(e, prop), str) and needle.lower() in _lookup(e, prop).lower()
            prop, needle = first[1], str(second[1]).lower()
            if name == "startswith":
                return lambda e: isinstance(_lookup(e, prop), str) and _lookup(e, prop).lower().startswith(needle)
            return lambda e: isinstance(_lookup(e, prop), str) and _lookup(e, prop).lower().endswith(needle)
        op = self.take()
        if op[0] != "word" or op[1] not in _COMPARE:
            raise _bad_filter(self.text, f"expected a comparison after '{name}'")
        value = self.take()
        if value[0] != "lit":
            raise _bad_filter(self.text, "expected a literal value")
        literal = value[1]
        return lambda e: _compare(op[1], _lookup(e, name), literal)


def parse_filter(text: str | None) -> Predicate | None:
    if not text or not text.strip():
        return None
    return _Parser(text).parse()


def parse_select(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [part.strip() for part in text.split(",") if part.strip()]


def apply_select(body: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
    if not select:
        return body
    out: dict[str, Any] = {}
    for path in select:
        head, _, rest = path.partition("/")
        if head not in body:
            continue
        if rest and isinstance(body[head], dict):
            out.setdefault(head, {}).update(apply_select(body[head], [rest]))
        else:
            out[head] = body[head]
    return out


def encode_skiptoken(after_seq: int, filter_text: str | None, select_text: str | None) -> str:
    """Next-page tokens carry the query, since clients follow odata.nextLink without their own parameters."""
    raw = json.dumps({"after": after_seq, "filter": filter_text, "select": select_text}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_skiptoken(token: str) -> tuple[int, str | None, str | None]:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded))
        return int(data["after"]), data.get("filter"), data.get("select")
    except (ValueError, KeyError, TypeError):
        raise BatchApiError(
            400,
            "InvalidQueryParameterValue",
            "Value for one of the query parameters specified in the request URI is invalid.",
            {"QueryParameterName": "$skiptoken", "QueryParameterValue": token},
        ) from None
