"""Creates a stack's pools in the local Batch service from the same config and pool builder the Azure path uses.

Start-task files that are local paths become content-addressed blobs in the resources container, exactly
as the Pulumi components upload them; the pool's start task then references them by blob URL.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from azure.batch import models as batch_models
from azure.core.exceptions import ResourceExistsError

from batchforge.config import PoolConfig, StackConfig
from batchforge.config.data_plane import pool_create_options
from batchforge.config.naming import pool_ids
from batchforge.config.start_task_files import data_plane_resource_files, plan_start_task_files
from batchforge.submission.plan import BlobUpload

Uploader = Callable[[Sequence[BlobUpload]], object]


class PoolWriter(Protocol):
    def create_pool(self, pool: batch_models.BatchPoolCreateOptions, **kwargs: Any) -> None: ...

    def update_pool(self, pool_id: str, pool: batch_models.BatchPoolUpdateOptions, **kwargs: Any) -> None: ...


DEFAULT_LOCAL_NODES = 2


@dataclass(frozen=True)
class ProvisionedPool:
    config_id: str
    pool_id: str
    created: bool
    start_task_files: int
    local_scale_note: str | None = None


def local_scale_note(pool: PoolConfig) -> str | None:
    """Why an autoscale pool runs at a fixed size locally, or None when its formula works here as written.

    The local service evaluates plain arithmetic formulas only; one built on samples of the account's
    metrics ($PendingTasks.GetSample(...)), or one that asks for no nodes while nothing is queued yet,
    would leave the pool empty and the run waiting forever.
    """
    if not pool.scale.is_autoscale or pool.scale.formula is None:
        return None
    from batchforge.localbatch.autoscale import evaluate

    outcome = evaluate(pool.scale.formula, current_dedicated=0, current_low_priority=0)
    if outcome.error is not None:
        detail = next((item["value"] for item in outcome.error.get("values", []) if item.get("name") == "Message"), "")
        # The evaluator renames $Variables internally; show them as the formula spells them.
        detail = re.sub(r"\bv_(\w+)", r"$\1", str(detail))
        return f"the local service cannot evaluate its autoscale formula ({detail})"
    if not (outcome.target_dedicated or 0) + (outcome.target_low_priority or 0):
        return "its autoscale formula asks for no nodes before any task is queued"
    return None


def with_fixed_scale(options: batch_models.BatchPoolCreateOptions, nodes: int) -> batch_models.BatchPoolCreateOptions:
    options.enable_auto_scale = False
    options.auto_scale_formula = None
    options.auto_scale_evaluation_interval = None
    options.target_dedicated_nodes = nodes
    options.target_low_priority_nodes = 0
    return options


def start_task_files(
    pool: PoolConfig, repo_root: Path, resources_container_url: str
) -> tuple[list[batch_models.ResourceFile], list[BlobUpload]]:
    """The start task's resource files as blob URLs, and the uploads that make those blobs exist."""
    planned = plan_start_task_files(pool, repo_root)
    uploads = [item.asset.to_upload() for item in planned if item.asset is not None]
    return data_plane_resource_files(planned, resources_container_url), uploads


def provision_pools(
    client: PoolWriter,
    config: StackConfig,
    repo_root: Path,
    resources_container_url: str,
    upload: Uploader,
    *,
    local_nodes: int = DEFAULT_LOCAL_NODES,
) -> list[ProvisionedPool]:
    """Uploads start-task files and creates each pool; an existing pool gets the current start task.

    Autoscale pools whose formula cannot size them locally run at ``local_nodes`` fixed nodes (and say so).
    """
    names = pool_ids(config)
    provisioned: list[ProvisionedPool] = []
    for pool in config.pools:
        files, uploads = start_task_files(pool, repo_root, resources_container_url)
        upload(uploads)
        options = pool_create_options(pool, names[pool.id], files, subnet_id=config.network.subnet_id)
        note = local_scale_note(pool)
        if note is not None:
            options = with_fixed_scale(options, local_nodes)
            note = f"{note}: running it locally at {local_nodes} fixed node(s)"
        try:
            client.create_pool(options)
            created = True
        except ResourceExistsError:
            # Same id = same replacement-forcing properties; the start task may still have changed.
            client.update_pool(
                names[pool.id],
                batch_models.BatchPoolUpdateOptions(start_task=options.start_task, metadata=options.metadata),
            )
            created = False
        provisioned.append(ProvisionedPool(pool.id, names[pool.id], created, len(files), note))
    return provisioned
