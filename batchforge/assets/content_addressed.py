"""Content-addressed blob names for local files and folders.

A file's blob name embeds a hash of its bytes (``<prefix>/<sha12>/<path>``), so a changed file gets a
new name (and everything referencing it changes and rolls out) while an unchanged file keeps its
name (nothing to upload, nothing to roll out). Used for pool start-task files and task input files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from batchforge.assets.confinement import confined
from batchforge.assets.uploads import BlobUpload

_SKIPPED_DIRS = frozenset({"__pycache__", ".git", ".venv", "node_modules", ".pytest_cache", ".ruff_cache"})
_CHUNK = 1024 * 1024


@dataclass(frozen=True, order=True)
class LocalAsset:
    """One local file and the blob it becomes.

    ``node_path`` is where the file lands relative to the task's working directory when no explicit
    file path is configured: the file's name for a file source, ``<folder>/<path inside>`` for a folder.
    """

    blob_name: str
    local_path: Path
    sha256: str
    node_path: str

    def to_upload(self) -> BlobUpload:
        return BlobUpload(local_path=self.local_path, blob_name=self.blob_name, sha256=self.sha256)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def content_blob_name(prefix: str, sha256: str, relative: str) -> str:
    parts = [part for part in prefix.strip("/").split("/") if part]
    return "/".join([*parts, sha256[:12], relative])


def _files_under(folder: Path) -> list[Path]:
    found: list[Path] = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part in _SKIPPED_DIRS for part in relative.parts) or path.suffix == ".pyc":
            continue
        if path.is_file():
            found.append(path)
    return found


def expand_source(repo_root: Path, source: str, prefix: str) -> list[LocalAsset]:
    """The assets for one repo-relative file or folder; raises FileNotFoundError if it does not exist, and
    :class:`OutsideRepository` if it, or a file in it, resolves outside the repository (symlinks followed)."""
    local = repo_root / source
    if local.exists():
        confined(repo_root, local, source)
    if local.is_file():
        digest = sha256_file(local)
        return [LocalAsset(content_blob_name(prefix, digest, local.name), local, digest, local.name)]
    if local.is_dir():
        folder_name = PurePosixPath(Path(source).as_posix()).name or local.resolve().name
        assets: list[LocalAsset] = []
        for path in _files_under(local):
            inside = path.relative_to(local).as_posix()
            confined(repo_root, path, f"{source.rstrip('/')}/{inside}")
            digest = sha256_file(path)
            node_path = f"{folder_name}/{inside}"
            assets.append(LocalAsset(content_blob_name(prefix, digest, node_path), path, digest, node_path))
        return assets
    raise FileNotFoundError(f"no such file or folder in the repository: {source}")


def expand_sources(repo_root: Path, sources: Iterable[str], prefix: str) -> list[LocalAsset]:
    """Every asset for several sources, each blob listed once, in a stable order."""
    unique: dict[str, LocalAsset] = {}
    for source in sources:
        for asset in expand_source(repo_root, source, prefix):
            unique.setdefault(asset.blob_name, asset)
    return sorted(unique.values())
