"""Finding and loading a stack's validated config by stack name or file path."""

from __future__ import annotations

from pathlib import Path

from batchforge.config import StackConfig, load_stack_file
from batchforge.core import InvalidInput, Problem


def stack_file(stack_or_path: str, repo_root: Path) -> Path:
    """``prod`` -> ``<repo>/Pulumi.prod.yaml``; a path to a ``.yaml`` file is taken as given."""
    if stack_or_path.endswith((".yaml", ".yml")):
        path = Path(stack_or_path)
        return path if path.is_absolute() else repo_root / path
    return repo_root / f"Pulumi.{stack_or_path}.yaml"


def stack_name(stack_or_path: str) -> str:
    """``Pulumi.prod.yaml`` (or ``prod``) -> ``prod``."""
    name = Path(stack_or_path).name
    if name.endswith((".yaml", ".yml")):
        name = name.rsplit(".", 1)[0].removeprefix("Pulumi.")
    return name


def load_stack(stack_or_path: str, repo_root: Path) -> StackConfig:
    """The stack's validated effective config; raises :class:`InvalidInput` listing every problem."""
    path = stack_file(stack_or_path, repo_root)
    if not path.is_file():
        raise InvalidInput([Problem(path.name, "", f"no such stack file (stack '{stack_name(stack_or_path)}')")])
    return load_stack_file(path, repo_root)


def load_stacks(stacks: list[str], repo_root: Path) -> list[StackConfig]:
    """Loads several stacks, reporting the problems of all of them at once."""
    loaded: list[StackConfig] = []
    problems: list[Problem] = []
    for stack in stacks:
        try:
            loaded.append(load_stack(stack, repo_root))
        except InvalidInput as invalid:
            problems.extend(invalid.problems)
    if problems:
        raise InvalidInput(problems)
    return loaded
