"""The whole program as a function: what ``__main__.py`` runs and what the mock tests call."""

from __future__ import annotations

from pathlib import Path

import pulumi

from batchforge.config.model import StackConfig
from batchforge.providers.job_schedule import declare_job_schedules, is_scheduled
from batchforge.providers.workload_submission import declare_workload_submissions, validate_workload_files
from components.platform import BatchPlatform, BatchPlatformArgs
from components.pool import BatchPool, BatchPoolArgs


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
    batch_target = pulumi.Output.all(
        endpoint=platform.batch_account_endpoint,
        resources=platform.resources_container_url,
        outputs=platform.outputs_container_url,
        identity=platform.node_identity_id,
    ).apply(
        lambda values: {
            "account_endpoint": values["endpoint"],
            "auth": {"kind": "entra-id"},
            "pool_ids": pool_ids,
            "resources_container_url": values["resources"],
            "outputs_container_url": values["outputs"],
            "identity_resource_id": values["identity"],
        }
    )
    # Jobs go in only once the pools and the identities' role assignments exist.
    # A workload with a schedule is a job schedule (its jobs get their tasks from batchforge's job manager).
    scheduled = [name for name in config.workloads if is_scheduled(name, repo_root)]
    one_off = [name for name in config.workloads if name not in scheduled]
    submissions = declare_workload_submissions(
        one_off, config.workload_deletion, batch_target, repo_root, [platform, *pools.values()], validate=False
    )
    schedules = declare_job_schedules(
        scheduled, config.workload_deletion, batch_target, repo_root, [platform, *pools.values()]
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
        "poolIds": pool_ids,
        "workloads": list(config.workloads),
        "workloadDeletion": config.workload_deletion,
        "batchTarget": batch_target,
        "workloadJobIds": {name: submission.id for name, submission in submissions.items()},
        "workloadScheduleIds": {name: schedule.id for name, schedule in schedules.items()},
    }
