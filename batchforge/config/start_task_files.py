"""Which files a pool's start task downloads, and where each one comes from.

Shared by the Pulumi pool (uploads with the platform's identity, ARM shape) and the local run
(uploads to Azurite, data-plane shape), so both resolve ``startTask.resourceFiles`` identically.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from azure.batch import models as batch_models

from batchforge.assets import LocalAsset, expand_source
from batchforge.config.model import PoolConfig


@dataclass(frozen=True)
class PlannedResourceFile:
    """One file on the node: from a local file uploaded as ``asset``, or downloaded from ``http_url``."""

    file_path: str
    file_mode: str | None = None
    asset: LocalAsset | None = None
    http_url: str | None = None


def start_task_blob_prefix(pool: PoolConfig) -> str:
    return f"start-tasks/{pool.id}"


def plan_start_task_files(pool: PoolConfig, repo_root: Path) -> list[PlannedResourceFile]:
    """Every start-task file of ``pool``; local folders expand to one entry per file (each content-addressed)."""
    if pool.start_task is None:
        return []
    planned: list[PlannedResourceFile] = []
    for resource in pool.start_task.resource_files:
        if resource.is_url:
            default_name = PurePosixPath(urlparse(resource.source).path).name or "download"
            planned.append(
                PlannedResourceFile(
                    file_path=resource.file_path or default_name, file_mode=resource.file_mode, http_url=resource.source
                )
            )
            continue
        is_folder = (repo_root / resource.source).is_dir()
        for asset in expand_source(repo_root, resource.source, start_task_blob_prefix(pool)):
            if resource.file_path is None:
                file_path = asset.node_path
            elif is_folder:
                file_path = f"{resource.file_path.rstrip('/')}/{asset.node_path.split('/', 1)[1]}"
            else:
                file_path = resource.file_path
            planned.append(PlannedResourceFile(file_path=file_path, file_mode=resource.file_mode, asset=asset))
    return planned


def blob_url(container_url: str, blob_name: str) -> str:
    return f"{container_url.rstrip('/')}/{blob_name}"


def data_plane_resource_files(
    planned: Sequence[PlannedResourceFile], container_url: str, identity_resource_id: str | None = None
) -> list[batch_models.ResourceFile]:
    """The planned files as data-plane ``ResourceFile`` objects, local assets read from ``container_url``."""
    identity = (
        batch_models.BatchNodeIdentityReference(resource_id=identity_resource_id) if identity_resource_id else None
    )
    files: list[batch_models.ResourceFile] = []
    for item in planned:
        if item.asset is not None:
            url = blob_url(container_url, item.asset.blob_name)
            files.append(
                batch_models.ResourceFile(
                    http_url=url, file_path=item.file_path, file_mode=item.file_mode, identity_reference=identity
                )
            )
        else:
            files.append(
                batch_models.ResourceFile(http_url=item.http_url, file_path=item.file_path, file_mode=item.file_mode)
            )
    return files
