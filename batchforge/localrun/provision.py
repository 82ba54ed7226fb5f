"""Creates a stack's pools in the local Batch service from the same config and pool builder the Azure path uses.

Start-task files that are local paths become content-addressed blobs in the resources container, exactly
as the Pulumi components upload them; the pool's start task then references them by blob URL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
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

    def evaluate_pool_auto_scale(
        self, pool_id: str, evaluate_auto_scale_options: batch_models.BatchPoolEvaluateAutoScaleOptions, **kwargs: Any
    ) -> batch_models.AutoScaleRun: ...

    def enable_pool_auto_scale(
        self, pool_id: str, enable_auto_scale_options: batch_models.BatchPoolEnableAutoScaleOptions, **kwargs: Any
    ) -> None: ...


DEFAULT_LOCAL_NODES = 2
# Azure's shortest interval is 5 minutes; a local run should not wait that long for its pool to grow
# once its tasks are queued. 30 s is the metrics' sampling period: each evaluation sees a new sample.
LOCAL_EVALUATION_INTERVAL = timedelta(seconds=30)


@dataclass(frozen=True)
class ProvisionedPool:
    config_id: str
    pool_id: str
    created: bool
    start_task_files: int
    local_scale_note: str | None = None


def formula_problem(client: PoolWriter, pool_id: str, formula: str) -> str | None:
    """What the local service reports when it evaluates the formula on the pool now, or None if it works."""
    run = client.evaluate_pool_auto_scale(
        pool_id, batch_models.BatchPoolEvaluateAutoScaleOptions(auto_scale_formula=formula)
    )
    if run.error is None:
        return None
    details = [item.value for item in run.error.error_values or [] if item.name == "Message" and item.value]
    return f"{run.error.code}: {'; '.join(details) or run.error.message}"


def fall_back_to_fixed_scale(client: PoolWriter, pool_id: str, nodes: int) -> None:
    """Keep autoscale enabled (the pool's shape stays the stack's) with a formula that asks for `nodes`."""
    client.enable_pool_auto_scale(
        pool_id,
        batch_models.BatchPoolEnableAutoScaleOptions(
            auto_scale_formula=f"$TargetDedicatedNodes = {nodes}; $TargetLowPriorityNodes = 0;",
            auto_scale_evaluation_interval=LOCAL_EVALUATION_INTERVAL,
        ),
    )


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

    Autoscale pools keep their formula, evaluated every 30 s; one the local service reports an error for
    when the pool is created runs at ``local_nodes`` fixed nodes instead (and says why).
    """
    names = pool_ids(config)
    provisioned: list[ProvisionedPool] = []
    for pool in config.pools:
        files, uploads = start_task_files(pool, repo_root, resources_container_url)
        upload(uploads)
        pool_id = names[pool.id]
        options = pool_create_options(pool, pool_id, files, subnet_id=config.network.subnet_id)
        if options.enable_auto_scale:
            options.auto_scale_evaluation_interval = LOCAL_EVALUATION_INTERVAL
        note = None
        try:
            client.create_pool(options)
            created = True
        except ResourceExistsError:
            # Same id = same replacement-forcing properties; the start task may still have changed.
            client.update_pool(
                pool_id,
                batch_models.BatchPoolUpdateOptions(start_task=options.start_task, metadata=options.metadata),
            )
            created = False
        if created and options.enable_auto_scale and options.auto_scale_formula:
            problem = formula_problem(client, pool_id, options.auto_scale_formula)
            if problem is not None:
                fall_back_to_fixed_scale(client, pool_id, local_nodes)
                note = (
                    f"the local service cannot evaluate its autoscale formula ({problem}): "
                    f"running it locally at {local_nodes} fixed node(s)"
                )
        provisioned.append(ProvisionedPool(pool.id, pool_id, created, len(files), note))
    return provisioned
