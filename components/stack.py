"""The whole program as a function: what ``__main__.py`` runs and what the mock tests call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi

from batchforge.config.model import StackConfig
from batchforge.providers.job_schedule import declare_job_schedules, is_scheduled
from batchforge.providers.workload_submission import (
    WORKLOADS_DIR,
    declare_workload_submissions,
    validate_workload_files,
)
from batchforge.submission.target import BatchTarget
from components.platform import BatchPlatform, BatchPlatformArgs
from components.pool import BatchPool, BatchPoolArgs


def _for_workload_pool(target: dict[str, Any], file_name: str, repo_root: Path) -> dict[str, Any]:
    """The ``batchTarget`` as the workload's pool sees it: its own containers and identity, if it has them."""
    if not target["pool_access"]:
        return target
    from batchforge.workload import load_workload

    pool = load_workload(repo_root / WORKLOADS_DIR / file_name, check_tasks=False).pool
    seen = BatchTarget.model_validate({**target, "auth": {"kind": "entra-id"}}).for_pool(pool)
    return {
        **target,
        "resources_container_url": seen.resources_container_url,
        "outputs_container_url": seen.outputs_container_url,
        "identity_resource_id": seen.identity_resource_id,
    }


def build_stack(config: StackConfig, stack: str, repo_root: Path) -> dict[str, pulumi.Input[object]]:
    """Declares the platform, every pool and the stack's workload submissions; returns the outputs to export."""
    # Every input is validated before the first resource is declared.
    validate_workload_files(config.workloads, repo_root, config.pools)
    platform = BatchPlatform("platform", BatchPlatformArgs(config=config, stack=stack))
    tags = {**config.tags, "batchforge-stack": stack}
    pools = {
        pool.id: BatchPool(
            f"pool-{pool.id}",
            BatchPoolArgs(
                config=pool,
                platform=platform,
                repo_root=repo_root,
                subnet_id=config.network.subnet_id,
                tags=tags,
                sole_pool=len(config.pools) == 1,
            ),
            pulumi.ResourceOptions(depends_on=[platform]),
        )
        for pool in config.pools
    }
    pool_ids = {pool_id: component.pool_name for pool_id, component in pools.items()}
    own_access = [
        pulumi.Output.all(
            pool=pool_id,
            resources_container_url=access.resources_container_url,
            outputs_container_url=access.outputs_container_url,
            identity_resource_id=access.identity_id,
        )
        for pool_id, access in platform.node_access.items()
        if access.own
    ]
    batch_target = pulumi.Output.all(
        endpoint=platform.batch_account_endpoint,
        resources=platform.resources_container_url,
        outputs=platform.outputs_container_url,
        identity=platform.node_identity_id,
        pool_access=pulumi.Output.all(*own_access),
    ).apply(
        lambda values: {
            "account_endpoint": values["endpoint"],
            "auth": {"kind": "entra-id"},
            "pool_ids": pool_ids,
            "resources_container_url": values["resources"],
            "outputs_container_url": values["outputs"],
            "identity_resource_id": values["identity"],
            "pool_access": list(values["pool_access"]),
        }
    )
    # Jobs go in only once the pools and the identities' role assignments exist.
    # A workload with a schedule is a job schedule (its jobs get their tasks from batchforge's job manager).
    scheduled = [name for name in config.workloads if is_scheduled(name, repo_root)]
    submissions: dict[str, Any] = {}
    schedules: dict[str, Any] = {}
    depends_on = [platform, *pools.values()]
    for name in config.workloads:
        # Each workload's submission is given its pool's view of the target (its own containers and identity
        # for a pool with ``identity: own``), so what the provider plans, uploads and submits is that pool's.
        target = batch_target.apply(lambda values, name=name: _for_workload_pool(values, name, repo_root))
        if name in scheduled:
            schedules.update(declare_job_schedules([name], config.workload_deletion, target, repo_root, depends_on))
        else:
            submissions.update(
                declare_workload_submissions(
                    [name], config.workload_deletion, target, repo_root, depends_on, validate=False
                )
            )
    return {
        "resourceGroupName": platform.resource_group_name,
        "batchAccountName": platform.batch_account_name,
        "batchAccountEndpoint": platform.batch_account_endpoint,
        "storageAccountName": platform.storage_account_name,
        "resourcesContainerUrl": platform.resources_container_url,
        "outputsContainerUrl": platform.outputs_container_url,
        "nodeIdentityId": platform.node_identity_id,
        "nodeIdentityClientId": platform.node_identity_client_id,
        "nodeIdentityPrincipalId": platform.node_identity_principal_id,
        "accountIdentityId": platform.account_identity_id,
        # Pool id -> the user-assigned identity its nodes run as (the shared node identity unless ``identity: own``).
        "poolIdentityIds": {pool_id: access.identity_id for pool_id, access in platform.node_access.items()},
        "poolIds": pool_ids,
        "workloads": list(config.workloads),
        "workloadDeletion": config.workload_deletion,
        "batchTarget": batch_target,
        "workloadJobIds": {name: submission.id for name, submission in submissions.items()},
        "workloadScheduleIds": {name: schedule.id for name, schedule in schedules.items()},
    }
