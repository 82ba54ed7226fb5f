"""What Pool - Patch may change on a pool that has compute nodes, as Batch decides it.

azure-batch 15.1.0's ``BatchPoolUpdateOptions`` (REST api-version 2025-06-01) marks these fields "can be
updated only when the pool is empty"; "Update Batch pool properties" (learn.microsoft.com/azure/batch/
batch-pool-update-properties) says the same of the management plane. Batch refuses such a change with
400 PropertyCannotBeUpdated naming the property. startTask, applicationPackageReferences and metadata may change
at any time; targetNodeCommunicationMode is accepted and takes effect once the pool is at zero nodes.
"""

from __future__ import annotations

from typing import Any

from batchforge.localbatch.entities import Pool
from batchforge.localbatch.errors import BatchApiError

ONLY_WHEN_EMPTY = (
    "displayName",
    "vmSize",
    "enableInterNodeCommunication",
    "virtualMachineConfiguration",
    "taskSlotsPerNode",
    "taskSchedulingPolicy",
    "networkConfiguration",
    "userAccounts",
    "mountConfiguration",
    "upgradePolicy",
)


def pool_is_empty(pool: Pool) -> bool:
    """No compute node, and no resize under way that is bringing some."""
    if pool.nodes:
        return False
    resizing = pool.body.get("allocationState") in ("resizing", "stopping")
    targets = int(pool.body.get("targetDedicatedNodes") or 0) + int(pool.body.get("targetLowPriorityNodes") or 0)
    return not (resizing and targets)


def refuse_changes_a_busy_pool_cannot_take(pool: Pool, body: dict[str, Any]) -> None:
    """Raises PropertyCannotBeUpdated for the first field of ``body`` that changes what only an empty pool may.

    Sending the value the pool already has is no change and is accepted.
    """
    if pool_is_empty(pool):
        return
    for name in ONLY_WHEN_EMPTY:
        if name in body and body[name] != pool.body.get(name):
            raise BatchApiError(
                400,
                "PropertyCannotBeUpdated",
                "A property that cannot be updated was specified as part of the request.",
                {
                    "PropertyName": name,
                    "Reason": f"{name} can be updated only when the pool has no compute nodes; resize it to 0 first.",
                },
            )
