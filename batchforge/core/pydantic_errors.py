"""Translates pydantic's ValidationError into :class:`Problem` lines a user can act on.

Pydantic's own messages name Python types; ours name what the file should contain, use the
file's key spelling (aliases), and suggest the closest known key for a misspelt one.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from batchforge.core.problems import Problem, format_path

_TYPE_WORDS = {
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "missing": "is required",
    "url_parsing": "must be a URL",
    "url_scheme": "must be an http or https URL",
    "time_delta_type": "must be a duration such as PT1H or 01:00:00",
    "time_delta_parsing": "must be a duration such as PT1H or 01:00:00",
    "none_required": "must be empty",
    "enum": "must be one of {expected}",
}


def _friendly_message(error: ErrorDetails) -> str:
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if kind == "greater_than_equal":
        return f"must be >= {ctx['ge']}"
    if kind == "greater_than":
        return f"must be > {ctx['gt']}"
    if kind == "less_than_equal":
        return f"must be <= {ctx['le']}"
    if kind == "less_than":
        return f"must be < {ctx['lt']}"
    if kind == "string_too_short":
        return f"must be at least {ctx['min_length']} characters long"
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters long"
    if kind == "too_short":
        return f"must have at least {ctx['min_length']} item(s)"
    if kind == "too_long":
        return f"must have at most {ctx['max_length']} item(s)"
    if kind == "string_pattern_mismatch":
        return f"must match the pattern {ctx['pattern']}"
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}"
    if kind in ("value_error", "assertion_error"):
        message = str(error["msg"])
        for prefix in ("Value error, ", "Assertion failed, "):
            if message.startswith(prefix):
                return message[len(prefix) :]
        return message
    if kind in _TYPE_WORDS:
        return _TYPE_WORDS[kind].format(**ctx)
    message = str(error["msg"])
    if message.startswith("Input should be"):
        return "must be" + message[len("Input should be") :]
    return message[:1].lower() + message[1:]


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete types an annotation may hold (Optional/Union/Annotated unwrapped)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        found: list[Any] = []
        for arg in typing.get_args(annotation):
            found.extend(_unwrap(arg))
        return found
    return [annotation]


def _field_keys(model: type[BaseModel]) -> dict[str, Any]:
    """The keys a model accepts in input (aliases when set), mapped to their annotations."""
    keys: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        keys[field.validation_alias if isinstance(field.validation_alias, str) else field.alias or name] = (
            field.annotation
        )
    return keys


def _models_at(root: type[BaseModel], loc: Sequence[str | int]) -> tuple[list[type[BaseModel]], list[str | int]]:
    """Walks ``loc`` through the model tree.

    Returns the model types that may sit at the end of the walk and the location with the
    entries pydantic adds for union members (class names, tags) removed.
    """
    current: list[Any] = [root]
    clean: list[str | int] = []
    for part in loc:
        next_types: list[Any] = []
        consumed = False
        for candidate in current:
            for concrete in _unwrap(candidate):
                origin = typing.get_origin(concrete)
                if isinstance(part, int) and origin in (list, tuple, Sequence, set, frozenset):
                    args = typing.get_args(concrete)
                    if args:
                        next_types.extend(_unwrap(args[0]))
                    consumed = True
                elif origin is dict and isinstance(part, str):
                    args = typing.get_args(concrete)
                    if len(args) == 2:
                        next_types.extend(_unwrap(args[1]))
                    consumed = True
                elif isinstance(concrete, type) and issubclass(concrete, BaseModel) and isinstance(part, str):
                    keys = _field_keys(concrete)
                    if part in keys:
                        next_types.extend(_unwrap(keys[part]))
                        consumed = True
        if consumed:
            clean.append(part)
            current = next_types
            continue
        # A union member's name or tag: keep the walk on the member it names, drop it from the path.
        named = [
            c
            for candidate in current
            for c in _unwrap(candidate)
            if isinstance(c, type) and getattr(c, "__name__", None) == part
        ]
        if named:
            current = named
            continue
        if isinstance(part, str) and any(
            isinstance(c, type) and issubclass(c, BaseModel) for cand in current for c in _unwrap(cand)
        ):
            # An unknown key (extra_forbidden) or a tag value: keep it, nothing deeper to walk.
            clean.append(part)
            current = []
            continue
        clean.append(part)
        current = []
    models = [c for cand in current for c in _unwrap(cand) if isinstance(c, type) and issubclass(c, BaseModel)]
    return models, clean


def _did_you_mean(root: type[BaseModel], loc: Sequence[str | int]) -> tuple[str, list[str | int]]:
    parents, clean_parent = _models_at(root, loc[:-1])
    unknown = str(loc[-1])
    known: list[str] = []
    for model in parents:
        known.extend(k for k in _field_keys(model) if k not in known)
    message = "unknown key"
    close = difflib.get_close_matches(unknown, known, n=1, cutoff=0.6)
    if close:
        message += f"; did you mean '{close[0]}'?"
    elif known:
        message += f"; expected one of: {', '.join(sorted(known))}"
    return message, [*clean_parent, unknown]


def problems_from_validation_error(
    error: ValidationError, root: type[BaseModel], source: str, prefix: Sequence[str | int] = ()
) -> list[Problem]:
    """One :class:`Problem` per pydantic error, with key paths as written in the file."""
    problems: list[Problem] = []
    for detail in error.errors(include_url=False):
        loc = list(detail["loc"])
        if detail["type"] == "extra_forbidden" and loc:
            message, clean = _did_you_mean(root, loc)
        else:
            _, clean = _models_at(root, loc)
            message = _friendly_message(detail)
        problems.append(Problem(source, format_path([*prefix, *clean]), message))
    return problems
