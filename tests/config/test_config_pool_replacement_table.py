"""For every pool config key: does changing it replace the pool (new name) or update it in place?

The rule comes from Azure Batch, not from taste: "Update Batch pool properties"
(learn.microsoft.com/azure/batch/batch-pool-update-properties) says that through the management plane's
Pool - Update (api-version 2024-07-01 and later; pulumi-azure-native 3.29 sends 2024-07-01) only
applicationPackages, certificates, metadata, scaleSettings and startTask may change on a pool that has nodes,
and every other property needs the pool at zero nodes. The data plane agrees field by field: azure-batch
15.1.0's ``BatchPoolUpdateOptions`` (Pool - Patch, 2025-06-01) marks displayName, vmSize,
enableInterNodeCommunication, virtualMachineConfiguration, taskSlotsPerNode, taskSchedulingPolicy,
networkConfiguration, userAccounts, mountConfiguration and upgradePolicy "can be updated only when the pool is
empty". Batch answers such a change on a busy pool with 400 PropertyCannotBeUpdated.

batchforge replaces on every zero-nodes-only property: whether a pool has nodes is not known when the program
runs, and the drain guard makes a replacement safe for running work.
"""

from __future__ import annotations

from typing import Any

import pytest

from batchforge.config.model import PoolConfig, StackConfig
from batchforge.config.naming import pool_name

BASE: dict[str, Any] = {
    "id": "cpu",
    "vmSize": "Standard_D4s_v5",
    "image": {"publisher": "canonical", "offer": "ubuntu-24_04-lts", "sku": "server"},
    "nodeAgentSkuId": "batch.node.ubuntu 24.04",
    "scale": {"dedicated": 1},
    "startTask": {"commandLine": "/bin/true"},
}
SUBNET = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/batch"

# key -> (a changed value, "replace" | "update", the ARM pool property it becomes and why).
POOL_KEYS: dict[str, tuple[object, str, str]] = {
    # The pool's id in the account is <id>-<hash>: another id is another pool.
    "id": ("gpu", "replace", "poolName"),
    # properties.displayName: not among the five; data plane "can be updated only when the pool is empty".
    "displayName": ("renamed pool", "replace", "displayName"),
    # properties.vmSize: zero nodes only (management plane); data plane: only when the pool is empty.
    "vmSize": ("Standard_D8s_v5", "replace", "vmSize"),
    # properties.deploymentConfiguration.virtualMachineConfiguration.imageReference: zero nodes only.
    "image": ({"publisher": "canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "1.0"}, "replace",
              "deploymentConfiguration"),
    # properties.deploymentConfiguration.virtualMachineConfiguration.nodeAgentSkuId: zero nodes only.
    "nodeAgentSkuId": ("batch.node.el 9", "replace", "deploymentConfiguration"),
    # properties.scaleSettings: one of the five that may change on a pool with nodes.
    "scale": ({"dedicated": 3}, "update", "scaleSettings"),
    # properties.taskSlotsPerNode: zero nodes only; data plane: only when the pool is empty.
    "taskSlotsPerNode": (4, "replace", "taskSlotsPerNode"),
    # properties.taskSchedulingPolicy: zero nodes only; data plane: only when the pool is empty.
    "taskSchedulingPolicy": ({"nodeFillType": "Pack"}, "replace", "taskSchedulingPolicy"),
    # properties.interNodeCommunication: zero nodes only; data plane: only when the pool is empty.
    "interNodeCommunication": (True, "replace", "interNodeCommunication"),
    # properties.startTask: one of the five (running nodes pick it up when rebooted or reimaged).
    "startTask": ({"commandLine": "/bin/sh -c 'echo other'"}, "update", "startTask"),
    # properties.deploymentConfiguration.virtualMachineConfiguration.containerConfiguration: zero nodes only.
    "container": ({"images": ["mcr.microsoft.com/azurelinux/base/core:3.0"]}, "replace", "deploymentConfiguration"),
    # properties.mountConfiguration: zero nodes only; data plane: only when the pool is empty.
    "mounts": ([{"nfs": {"source": "10.0.0.4:/data", "relativeMountPath": "data"}}], "replace", "mountConfiguration"),
    # properties.targetNodeCommunicationMode: not among the five (the data plane too needs zero nodes for it).
    "nodeCommunicationMode": ("Classic", "replace", "targetNodeCommunicationMode"),
    # properties.networkConfiguration.publicIPAddressConfiguration: zero nodes only.
    "publicIps": (False, "replace", "networkConfiguration"),
    # properties.metadata: one of the five.
    "metadata": ({"purpose": "other"}, "update", "metadata"),
    # identity: a changed pool identity reaches only nodes created after the pool shrinks to 0 (BatchPoolIdentity).
    "identity": ("own", "replace", "identity"),
    # Not a Batch property: how long the drain guard waits for running tasks before the old pool is deleted.
    "drainTimeout": ("PT3H", "update", "(drain guard input)"),
}


def _name(pool: dict[str, Any], subnet_id: str | None = SUBNET) -> str:
    return pool_name(PoolConfig.model_validate(pool), subnet_id)


@pytest.mark.parametrize("key", sorted(POOL_KEYS))
def test_pool_key_replaces_or_updates_as_batch_requires(key: str) -> None:
    changed, expected, _arm_property = POOL_KEYS[key]
    before = _name(BASE)
    after = _name({**BASE, key: changed})
    assert (after != before) == (expected == "replace"), f"{key}: expected {expected}"


def test_every_pool_config_key_is_in_the_table() -> None:
    keys = {field.alias or name for name, field in PoolConfig.model_fields.items()}
    assert keys == set(POOL_KEYS), (
        "classify each new pool key as replace or update (with its source) in POOL_KEYS and in "
        "batchforge.config.naming.pool_replacement_key"
    )


def test_moving_to_another_subnet_replaces_the_pool() -> None:
    # properties.networkConfiguration.subnetId: zero nodes only (management plane Pool - Update).
    assert _name(BASE, SUBNET) != _name(BASE, SUBNET + "2")
    assert _name(BASE, None) != _name(BASE, SUBNET)


def test_stack_tags_update_the_pool_in_place() -> None:
    # Tags are on the ARM resource envelope, not among the pool's properties: an in-place PATCH.
    stack = {
        "location": "westeurope",
        "namePrefix": "bforge",
        "batchAccount": {"publicNetworkAccess": "Enabled"},
        "pools": [BASE],
    }
    plain = StackConfig.model_validate(stack)
    tagged = StackConfig.model_validate({**stack, "tags": {"team": "research"}})
    assert pool_name(plain.pools[0], None) == pool_name(tagged.pools[0], None)


def test_defaults_of_late_keys_keep_names_of_pools_deployed_before_them() -> None:
    # displayName and nodeCommunicationMode joined the hash later: a pool that leaves them at their defaults keeps
    # the name it was deployed under; setting one (even to the value Batch would use) renames it once.
    assert _name({**BASE, "nodeCommunicationMode": "Simplified"}) == _name(BASE)
    assert _name({**BASE, "nodeCommunicationMode": "Default"}) != _name(BASE)
    assert _name({**BASE, "displayName": "cpu"}) != _name(BASE)
