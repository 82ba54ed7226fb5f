"""Reads YAML input files, turning syntax errors into :class:`Problem` lines instead of tracebacks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from batchforge.core.problems import InvalidInput, Problem


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that rejects a key written twice in one mapping (YAML silently keeps the last)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # '<<: *anchor' merges; construct_mapping below expands it
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key '{key}' (line {mark.line + 1})", mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_yaml(text: str, source: str) -> Any:
    """Parses YAML text; raises :class:`InvalidInput` naming ``source`` and the line on a syntax error."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise InvalidInput([Problem(source, "", f"{where}invalid YAML: {exc.problem or exc}")]) from None
    except yaml.YAMLError as exc:
        raise InvalidInput([Problem(source, "", f"invalid YAML: {exc}")]) from None


def read_yaml_file(path: Path, source: str | None = None) -> Any:
    """Reads and parses one YAML file; a missing or unreadable file is a :class:`Problem` too."""
    label = source or path.name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput([Problem(label, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput([Problem(label, "", f"cannot read file: {exc}")]) from None
    return parse_yaml(text, label)
