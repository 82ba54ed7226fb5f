"""The one YAML reader for every input file (stack config, workloads): bounded, strict, never a traceback.

Limits, checked before anything is built from the document:

- size: at most :data:`MAX_FILE_BYTES` bytes (checked before the file is read in full) and
  :data:`MAX_NODES` values as written (so parsing stays well under a second or two);
- characters: no NUL or other control characters (tab, line feed and carriage return excepted), neither
  in the text nor produced by escapes in quoted strings (``"\\0"``);
- nesting: at most :data:`MAX_DEPTH` levels, counted through aliases (a parser would otherwise recurse);
- aliases and merge keys: the document with every alias and ``<<:`` expanded may hold at most
  :data:`MAX_EXPANDED_NODES` nodes (a few hundred bytes of nested ``<<: [*a, *a]`` otherwise expand to
  gigabytes); an alias inside its own anchor is refused;
- duplicate keys in one mapping are refused (YAML would silently keep the last one).

Every failure is one :class:`Problem`: ``<file>: line L, column C: <what is wrong and what to do>``.
"""

from __future__ import annotations

import contextlib
import copy
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from batchforge.core.problems import InvalidInput, Problem, format_path

MAX_FILE_BYTES = 512 * 1024
MAX_DEPTH = 64
# Values as written (PyYAML composes about 30,000 a second) and with aliases and merges expanded.
MAX_NODES = 50_000
MAX_EXPANDED_NODES = 200_000

# YAML's own printable set minus what we refuse anyway: C0 controls (tab, LF, CR allowed), DEL, C1 controls
# (NEL U+0085 is a YAML line break), and the non-characters PyYAML chokes on.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ufffe\uffff]")
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _LimitError(yaml.MarkedYAMLError):
    """A document over one of the limits (reported like a syntax error, with its position)."""


class _BoundedLoader(yaml.SafeLoader):
    """A safe loader that bounds nesting while composing and refuses duplicate keys while constructing."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:  # type: ignore[override]
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _LimitError(None, None, f"nested more than {MAX_DEPTH} levels deep; flatten the structure", mark)
            self._nodes += 1
            if self._nodes > MAX_NODES:
                mark = self.peek_event().start_mark
                raise _LimitError(
                    None, None, f"holds more than {MAX_NODES:,} values; split the file or use ranges", mark
                )
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self._depth -= 1


def _construct_mapping(loader: _BoundedLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == _MERGE_TAG:
            continue  # '<<: *anchor' merges; construct_mapping below expands it
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:
            duplicate = False  # an unhashable key: construct_mapping reports it
        if duplicate:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key '{key}'; each key may appear once per mapping", mark
            )
        if not duplicate:
            with contextlib.suppress(TypeError):
                seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_BoundedLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _children(node: yaml.Node) -> Iterator[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        yield from node.value
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield key
            yield value


def _check_expansion(root: yaml.Node) -> None:
    """Refuses a node graph whose expanded tree (aliases and merges unfolded) is too big or too deep."""
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded nodes, expanded depth)
    on_path: set[int] = set()

    def measure(node: yaml.Node) -> tuple[int, int]:
        key = id(node)
        known = sizes.get(key)
        if known is not None:
            return known
        if key in on_path:
            raise _LimitError(
                None, None, "an alias refers to the collection it is in (a recursive structure)", node.start_mark
            )
        on_path.add(key)
        total, depth = 1, 0
        for child in _children(node):
            child_total, child_depth = measure(child)
            total += child_total
            depth = max(depth, child_depth)
            if total > MAX_EXPANDED_NODES:
                raise _LimitError(
                    None,
                    None,
                    f"aliases and merge keys ('<<') expand to more than {MAX_EXPANDED_NODES:,} values; "
                    "write the settings out or share fewer copies",
                    node.start_mark,
                )
        depth += 1
        if depth > MAX_DEPTH:
            raise _LimitError(
                None,
                None,
                f"nested more than {MAX_DEPTH} levels deep once aliases are expanded; flatten the structure",
                node.start_mark,
            )
        on_path.discard(key)
        sizes[key] = (total, depth)
        return total, depth

    measure(root)


def _control_problem(text: str, source: str) -> Problem | None:
    match = _CONTROL.search(text)
    if match is None:
        return None
    line = text.count("\n", 0, match.start()) + 1
    column = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
    return Problem(
        source,
        "",
        f"line {line}, column {column}: control character U+{ord(match.group()):04X} is not allowed; "
        "remove it (use plain text; tabs and line breaks are fine)",
    )


def _value_problems(data: Any, source: str) -> list[Problem]:
    """Control characters that escapes in quoted strings produced (``"\\0"``, ``"\\x07"``), with their key path."""
    found: list[Problem] = []
    seen: set[int] = set()
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(data, ())]
    while stack and len(found) < 5:
        value, path = stack.pop()
        if isinstance(value, str):
            match = _CONTROL.search(value)
            if match is not None:
                found.append(
                    Problem(
                        source,
                        format_path(path),
                        f"contains the control character U+{ord(match.group()):04X}; remove it",
                    )
                )
            continue
        if isinstance(value, dict | list):
            if id(value) in seen:
                continue  # an alias: the same object was checked already
            seen.add(id(value))
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and _CONTROL.search(key):
                    found.append(Problem(source, format_path(path), f"key {key!r} contains a control character"))
                stack.append((item, (*path, str(key))))
        elif isinstance(value, list):
            stack.extend((item, (*path, index)) for index, item in enumerate(value))
    return found


def _where(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""


# Documents already parsed, by text: one program run reads a workload file several times (validation, whether
# it is scheduled, its job identity), and the pure-Python parser is the costly part. Only successes are kept,
# and each caller gets its own deep copy, so no caller sees another's changes.
_PARSED: OrderedDict[str, Any] = OrderedDict()
_PARSED_MAX = 64
_PARSED_LOCK = threading.Lock()
_MISSING = object()


def clear_parse_cache() -> None:
    """Forgets every parsed document (benchmarks measuring one program run from a cold start)."""
    _PARSED.clear()


def parse_yaml(text: str, source: str) -> Any:
    """Parses one YAML document within the limits; raises :class:`InvalidInput` naming ``source`` and the line."""
    with _PARSED_LOCK:
        cached = _PARSED.get(text, _MISSING)
        if cached is not _MISSING:
            _PARSED.move_to_end(text)
    if cached is not _MISSING:
        return copy.deepcopy(cached)
    data = _parse_yaml(text, source)
    kept = copy.deepcopy(data)
    with _PARSED_LOCK:
        _PARSED[text] = kept
        if len(_PARSED) > _PARSED_MAX:
            _PARSED.popitem(last=False)
    return data


def _parse_yaml(text: str, source: str) -> Any:
    if len(text) > MAX_FILE_BYTES:
        raise InvalidInput([Problem(source, "", f"is larger than {MAX_FILE_BYTES // 1024} KiB; split it up")])
    control = _control_problem(text, source)
    if control is not None:
        raise InvalidInput([control])
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or str(exc)
        label = "" if isinstance(exc, _LimitError) else "invalid YAML: "
        raise InvalidInput([Problem(source, "", f"{_where(mark)}{label}{problem}")]) from None
    except yaml.YAMLError as exc:
        raise InvalidInput([Problem(source, "", f"invalid YAML: {str(exc).splitlines()[0]}")]) from None
    except (ValueError, OverflowError, TypeError) as exc:
        # A scalar YAML resolves to a type it cannot build, e.g. an integer of thousands of digits.
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "integer string conversion" in detail:
            detail = "an integer with thousands of digits"
        raise InvalidInput([Problem(source, "", f"invalid YAML value: {detail}; write a smaller value")]) from None
    finally:
        loader.dispose()
    problems = _value_problems(data, source)
    if problems:
        raise InvalidInput(problems)
    return data


def read_yaml_file(path: Path, source: str | None = None) -> Any:
    """Reads and parses one YAML file; a missing, unreadable or oversized file is a :class:`Problem` too."""
    label = source or path.name
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise InvalidInput([Problem(label, "", "file not found")]) from None
    except OSError as exc:
        raise InvalidInput([Problem(label, "", f"cannot read file: {exc.strerror or exc}")]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise InvalidInput([Problem(label, "", f"is larger than {MAX_FILE_BYTES // 1024} KiB; split it up")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            [Problem(label, "", f"is not UTF-8 text (byte {exc.start + 1} cannot be decoded); save it as UTF-8")]
        ) from None
    return parse_yaml(text, label)
