"""``config diff A B``: two stacks' validated effective config side by side, differences marked.

"Effective" means after validation with every default filled in, so a key one file leaves out and
the other sets to the default value is not a difference. Pools are matched by id, not by position.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from batchforge.config import StackConfig
from batchforge.promotion.stack_files import load_stacks, stack_name


class _Missing:
    def __repr__(self) -> str:
        return "<not set>"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class ConfigRow:
    """One key path of the effective config with each stack's value (``MISSING`` where absent)."""

    path: str
    left: Any
    right: Any

    @property
    def differs(self) -> bool:
        return self.left != self.right

    @property
    def kind(self) -> str:
        if not self.differs:
            return "same"
        if self.left is MISSING:
            return "added"
        if self.right is MISSING:
            return "removed"
        return "changed"


@dataclass(frozen=True)
class ConfigDiff:
    """The result of comparing two stacks; ``rows`` holds every key, ``differences`` those that differ."""

    left_stack: str
    right_stack: str
    rows: tuple[ConfigRow, ...]

    @property
    def differences(self) -> tuple[ConfigRow, ...]:
        return tuple(row for row in self.rows if row.differs)

    @property
    def identical(self) -> bool:
        return not self.differences

    def render(self, only_differences: bool = False) -> Table:
        """A rich table: key, left value, right value; differing rows highlighted."""
        table = Table(
            title=f"config: {self.left_stack} vs {self.right_stack} "
            f"({len(self.differences)} difference{'s' if len(self.differences) != 1 else ''})",
            title_justify="left",
        )
        table.add_column("key", overflow="fold")
        table.add_column(self.left_stack, overflow="fold")
        table.add_column(self.right_stack, overflow="fold")
        for row in self.rows:
            if only_differences and not row.differs:
                continue
            style = {"same": "dim", "changed": "bold yellow", "added": "bold green", "removed": "bold red"}[row.kind]
            table.add_row(
                Text(row.path, style=style),
                Text(format_value(row.left), style=style),
                Text(format_value(row.right), style=style),
            )
        return table

    def to_text(self, only_differences: bool = True) -> str:
        """Plain lines for logs: ``~ key: left -> right`` (``+`` only right, ``-`` only left)."""
        marks = {"same": " ", "changed": "~", "added": "+", "removed": "-"}
        lines = [f"config: {self.left_stack} vs {self.right_stack}: {len(self.differences)} difference(s)"]
        for row in self.rows:
            if only_differences and not row.differs:
                continue
            if row.differs:
                left, right = format_value(row.left, one_line=True), format_value(row.right, one_line=True)
                lines.append(f"{marks[row.kind]} {row.path}: {left} -> {right}")
            else:
                lines.append(f"  {row.path}: {format_value(row.left, one_line=True)}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "left": self.left_stack,
            "right": self.right_stack,
            "differences": [
                {
                    "path": row.path,
                    "kind": row.kind,
                    **({} if row.left is MISSING else {"left": row.left}),
                    **({} if row.right is MISSING else {"right": row.right}),
                }
                for row in self.differences
            ],
        }


def format_value(value: Any, one_line: bool = False) -> str:
    if value is MISSING:
        return "—"
    if isinstance(value, str):
        return json.dumps(value) if one_line and "\n" in value else value
    return json.dumps(value, sort_keys=True)


def effective_config(config: StackConfig) -> dict[str, Any]:
    """The config as plain data with camelCase keys (as written in stack files) and defaults filled in."""
    return config.model_dump(mode="json", by_alias=True)


def _keyed(items: list[Any]) -> dict[str, Any] | None:
    """Lists of objects with unique ids (pools) are compared by id."""
    if not items or not all(isinstance(item, Mapping) and isinstance(item.get("id"), str) for item in items):
        return None
    ids = [item["id"] for item in items]
    if len(set(ids)) != len(ids):
        return None
    return {item_id: item for item_id, item in zip(ids, items, strict=True)}


def flatten(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Leaf key paths: ``pools[cpu].scale.dedicated``; lists of plain values stay whole."""
    if isinstance(value, Mapping):
        if not value and path:
            yield path, {}
        for key, item in value.items():
            yield from flatten(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list) and any(isinstance(item, Mapping | list) for item in value):
        keyed = _keyed(value)
        if keyed is not None:
            for item_id, item in keyed.items():
                yield from flatten({k: v for k, v in item.items() if k != "id"}, f"{path}[{item_id}]")
        else:
            for index, item in enumerate(value):
                yield from flatten(item, f"{path}[{index}]")
    else:
        yield path, value


def diff_configs(left: StackConfig, right: StackConfig, left_stack: str, right_stack: str) -> ConfigDiff:
    left_items = dict(flatten(effective_config(left)))
    right_items = dict(flatten(effective_config(right)))
    paths = list(left_items) + [path for path in right_items if path not in left_items]
    rows = tuple(ConfigRow(path, left_items.get(path, MISSING), right_items.get(path, MISSING)) for path in paths)
    return ConfigDiff(left_stack, right_stack, rows)


def diff_stack_configs(stack_a: str, stack_b: str, repo_root: Path) -> ConfigDiff:
    """``config diff A B``: each argument a stack name (``dev``) or a stack file path.

    Both files are validated first; invalid input raises ``validation.InvalidInput`` with the problems
    of both files.
    """
    left, right = load_stacks([stack_a, stack_b], repo_root)
    return diff_configs(left, right, stack_name(stack_a), stack_name(stack_b))
