"""Malformed variants of a committed input file: a table of text mutations and generated structural ones.

Every variant is invalid by construction (wrong types, unknown keys, limits, nesting, aliases, unicode,
syntax), so the only right answer is exit 2 with problems naming the file.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import yaml

# Mappings whose keys are free-form: an extra key there is valid.
_FREE_FORM = {"environment", "metadata", "tags", "batchforge:tags", "nodeAgentSkuIds"}


@dataclass(frozen=True)
class Variant:
    name: str
    text: str | bytes


def _append(extra: str) -> Callable[[str], str]:
    return lambda text: text.rstrip("\n") + "\n" + extra


def _replace_first_value(replacement: str) -> Callable[[str], str]:
    """Replaces the value of the first 'key: value' line that has an inline scalar value."""

    def mutate(text: str) -> str:
        lines = text.splitlines()
        for index, line in enumerate(lines):
            stripped = line.strip()
            if stripped.startswith("#") or ": " not in stripped or stripped.endswith(":"):
                continue
            key = line.split(": ", 1)[0]
            lines[index] = f"{key}: {replacement}"
            return "\n".join(lines) + "\n"
        return text + f"\nbroken: {replacement}\n"

    return mutate


def _first_top_level_line(text: str) -> str:
    return next(line for line in text.splitlines() if line[:1].isalpha() and ":" in line)


def _merge_bomb(levels: int = 9, width: int = 9) -> str:
    lines = ["x-bomb0: &b0 {k: v}"]
    for level in range(1, levels + 1):
        aliases = ", ".join([f"*b{level - 1}"] * width)
        lines.append(f"x-bomb{level}: &b{level}\n  <<: [{aliases}]\n  k{level}: 1")
    return "\n".join(lines) + "\n"


def _deep_mapping(levels: int) -> str:
    return "x-deep:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(levels)) + "  " * (levels + 1) + "v: 1\n"


TEXT_MUTATIONS: dict[str, Callable[[str], str | bytes]] = {
    "duplicate-key": lambda text: text.rstrip("\n") + "\n" + _first_top_level_line(text) + "\n",
    "nul-in-text": _replace_first_value("a\x00b"),
    "bell-in-text": _replace_first_value("a\x07b"),
    "c1-control": _replace_first_value("a\x9bb"),
    "escaped-nul": _replace_first_value('"a\\0b"'),
    "escaped-escape": _replace_first_value('"a\\eb"'),
    "brackets-5000": _replace_first_value("[" * 5000),
    "braces-3000": _replace_first_value("{a: " * 3000),
    "deep-mapping-200": _append(_deep_mapping(200)),
    "merge-bomb": _append(_merge_bomb()),
    "recursive-alias": _append("x-loop: &loop [1, *loop]\n"),
    "undefined-alias": _append("x-missing: *nowhere\n"),
    "oversized-file": lambda text: text + "# " + "x" * (600 * 1024) + "\n",
    "many-values": _append("x-many:\n" + "".join(f"  - {i}\n" for i in range(60_000))),
    "unclosed-flow": _append("x-open: [1, 2\n"),
    "python-tag": _replace_first_value("!!python/object/apply:os.system ['true']"),
    "huge-integer": _replace_first_value("9" * 5000),
    "invalid-utf8": lambda text: text.encode() + b"\nx-bad: \xff\xfe\n",
    "tab-indent": lambda text: text.replace("\n  ", "\n\t", 1),
    "two-documents": lambda text: text + "\n---\nsecond: document\n",
    "not-a-mapping": lambda _text: "- just\n- a list\n",
    "scalar-document": lambda _text: "just a string\n",
    "empty-file": lambda _text: "",
}


def _walk(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    yield path, data
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _walk(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _walk(value, (*path, index))


def _set(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copied = copy.deepcopy(data)
    target = copied
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return copied


def _relevant(path: tuple[Any, ...], is_stack: bool) -> bool:
    """Paths where the file's own rules apply (not other providers' config, not x- anchors, not free text)."""
    if any(isinstance(part, str) and (part in _FREE_FORM or part.startswith("x-")) for part in path):
        return False
    if is_stack:
        return len(path) >= 2 and path[0] == "config" and str(path[1]).startswith("batchforge:")
    # Sweep values may be of any scalar type; their items are not typed.
    return "values" not in path


def _structural(data: Any, is_stack: bool) -> Iterator[tuple[str, Any]]:
    for path, value in _walk(data):
        if not path or not _relevant(path, is_stack):
            continue
        where = ".".join(str(part) for part in path)
        if isinstance(value, dict):
            yield f"list-for-mapping:{where}", _set(data, path, [1, 2])
            yield f"unknown-key:{where}", _set(data, path, {**value, "zzUnknownKey": 1})
        elif isinstance(value, list):
            yield f"mapping-for-list:{where}", _set(data, path, {"a": 1})
        elif isinstance(value, bool):
            yield f"word-for-bool:{where}", _set(data, path, "maybe")
        elif isinstance(value, int):
            yield f"text-for-int:{where}", _set(data, path, "abc")
            yield f"1e30-for-int:{where}", _set(data, path, 1e30)
        elif isinstance(value, str):
            yield f"mapping-for-string:{where}", _set(data, path, {"nested": "value"})


def variants(text: str, is_stack: bool, structural_count: int, seed: int) -> list[Variant]:
    """The text mutations plus ``structural_count`` structural ones drawn with ``seed``."""
    found = [Variant(name, mutate(text)) for name, mutate in TEXT_MUTATIONS.items()]
    data = yaml.safe_load(text)
    structural = list(_structural(data, is_stack))
    random.Random(seed).shuffle(structural)
    for name, mutated in structural[:structural_count]:
        found.append(Variant(name, yaml.safe_dump(mutated, sort_keys=False, allow_unicode=True)))
    return found
