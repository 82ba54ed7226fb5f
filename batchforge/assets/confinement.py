"""Repository paths resolved before use: a file or folder a stack or workload names must stay inside the
repository once symlinks are followed, so a link to ``~/.ssh`` or ``/etc`` is never uploaded."""

from __future__ import annotations

import os
from pathlib import Path


class OutsideRepository(ValueError):
    """A repository path that resolves to a place outside the repository."""


def outside_repository(repo_root: Path, path: Path, shown: str) -> str | None:
    """Why ``path`` (under ``repo_root``) is not inside the repository once resolved, or None when it is.

    ``shown`` is the path as the user wrote it (or as found inside a folder they named).
    """
    root = repo_root.resolve()
    resolved = path.resolve()
    if resolved == root or resolved.is_relative_to(root):
        return None
    if any(part.is_symlink() for part in _parts_below(repo_root, path)):
        return f"{shown} is a symlink to {resolved}, outside the repository; only files inside it are uploaded"
    return f"{shown} resolves to {resolved}, outside the repository; only files inside it are uploaded"


def confined(repo_root: Path, path: Path, shown: str) -> Path:
    """``path`` resolved; raises :class:`OutsideRepository` when it leaves the repository."""
    reason = outside_repository(repo_root, path, shown)
    if reason is not None:
        raise OutsideRepository(reason)
    return path.resolve()


def _parts_below(repo_root: Path, path: Path) -> list[Path]:
    try:
        relative = path.relative_to(repo_root)
    except ValueError:
        return [path]
    found: list[Path] = []
    current = repo_root
    for part in relative.parts:
        current = current / part
        found.append(current)
    return found


def source_escape(repo_root: Path, source: str) -> str | None:
    """Why a repository file or folder, or anything under the folder, resolves outside the repository; None if not.

    Only symlinks can lead out from under a folder, so those are the entries checked below it.
    """
    local = repo_root / source
    reason = outside_repository(repo_root, local, source)
    if reason is not None or not local.is_dir():
        return reason
    for folder, dirs, files in os.walk(local):
        for name in sorted([*dirs, *files]):
            entry = Path(folder) / name
            if entry.is_symlink():
                shown = f"{source.rstrip('/')}/{entry.relative_to(local).as_posix()}"
                reason = outside_repository(repo_root, entry, shown)
                if reason is not None:
                    return reason
    return None
