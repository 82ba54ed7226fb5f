"""Azure resource names derived from the name prefix and stack, valid under each service's rules.

Globally unique names (storage and Batch accounts are DNS names) get a short deterministic hash of
a caller-chosen seed (the program uses the subscription id), so two stacks never collide and the
same stack always gets the same name.
"""

from __future__ import annotations

import hashlib
import json
import re

from batchforge.config.model import PoolConfig, StackConfig

_NON_ALNUM = re.compile(r"[^a-z0-9]")


def short_hash(*parts: str, length: int = 8) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:length]


def _compact(text: str) -> str:
    return _NON_ALNUM.sub("", text.lower())


def global_account_name(prefix: str, stack: str, kind: str, seed: str) -> str:
    """3-24 lowercase letters and digits: ``<prefix><stack><kind>`` cut to fit, plus an 8-char hash.

    ``kind`` (``st``, ``batch``) keeps the storage and Batch account names apart; ``seed`` makes the
    name unique per subscription.
    """
    digest = short_hash(prefix, stack, kind, seed)
    readable = (_compact(prefix) + _compact(stack))[: 24 - len(digest) - len(kind)] + kind
    return readable + digest


def storage_account_name(config: StackConfig, stack: str, seed: str) -> str:
    return global_account_name(config.name_prefix, stack, "st", seed)


def batch_account_name(config: StackConfig, stack: str, seed: str) -> str:
    return global_account_name(config.name_prefix, stack, "ba", seed)


def resource_group_name(config: StackConfig, stack: str) -> str:
    if config.resource_group.name:
        return config.resource_group.name
    return f"{config.name_prefix}-{stack}-rg"


def identity_name(config: StackConfig, stack: str, role: str) -> str:
    """User-assigned identity names: 3-128 chars, letters, digits, '-' and '_'."""
    return f"{config.name_prefix}-{stack}-{role}-id"


def private_endpoint_name(config: StackConfig, stack: str, group: str) -> str:
    return f"{config.name_prefix}-{stack}-batch-{group.lower()}-pe"


def storage_private_endpoint_name(config: StackConfig, stack: str, group: str) -> str:
    return f"{config.name_prefix}-{stack}-storage-{group.lower()}-pe"


# The pool properties Batch cannot update while the pool has nodes. Source: "Update Batch pool properties"
# (learn.microsoft.com/azure/batch/batch-pool-update-properties): through the management plane's Pool - Update
# (api-version 2024-07-01, the one pulumi-azure-native 3.x sends) only applicationPackages, certificates,
# metadata, scaleSettings and startTask may change on a pool with nodes; every other property needs the pool at
# zero nodes. The data plane's Pool - Patch (2025-06-01) says the same per field ("can be updated only when the
# pool is empty"). A pool that happens to have zero nodes could take these in place, but whether it has nodes
# is not known when the program runs (autoscale), so a change to any of them always replaces the pool.
# Keys added to the hash after pools were deployed (``LATE_KEYS``) are left out at their defaults, so a pool
# that does not set them keeps the name it was deployed under.
# ``identity``: "If the pool identity is updated during update an existing pool, only the new vms which are created
# after the pool shrinks to 0 will have the updated identities" (azure-mgmt-batch BatchPoolIdentity): the tasks
# would name an identity the running nodes do not have, so a change replaces the pool.
LATE_KEYS: dict[str, object] = {"displayName": None, "targetNodeCommunicationMode": "Simplified", "identity": "shared"}


def pool_replacement_key(pool: PoolConfig, subnet_id: str | None) -> dict[str, object]:
    """The pool properties Batch cannot change on a pool that has nodes (see ``LATE_KEYS`` above for the source).

    A change to any of them gives the pool a new name, so Pulumi replaces it (create the new pool,
    then delete the old one) instead of attempting an update Batch would refuse.
    """
    key: dict[str, object] = {
        "vmSize": pool.vm_size.lower(),
        # deploymentConfiguration.virtualMachineConfiguration: image, node agent and container settings.
        "image": pool.image.model_dump(mode="json", by_alias=True),
        "nodeAgentSkuId": pool.node_agent_sku_id,
        "container": pool.container.model_dump(mode="json", by_alias=True) if pool.container else None,
        "taskSlotsPerNode": pool.task_slots_per_node,
        "taskSchedulingPolicy": pool.task_scheduling_policy.model_dump(mode="json", by_alias=True),
        "interNodeCommunication": pool.inter_node_communication,
        "mounts": [mount.model_dump(mode="json", by_alias=True) for mount in pool.mounts],
        # networkConfiguration: the subnet and the public IP provisioning.
        "subnetId": subnet_id,
        "publicIps": pool.public_ips,
    }
    late = {
        "displayName": pool.display_name,
        "targetNodeCommunicationMode": pool.node_communication_mode,
        "identity": pool.identity,
    }
    key.update({name: value for name, value in late.items() if value != LATE_KEYS[name]})
    return key


def pool_name(pool: PoolConfig, subnet_id: str | None) -> str:
    """The Batch pool id: ``<config id>-<hash of the properties that force a replacement>`` (max 59 chars)."""
    key = json.dumps(pool_replacement_key(pool, subnet_id), sort_keys=True, separators=(",", ":"))
    return f"{pool.id}-{short_hash(key)}"


def pool_ids(config: StackConfig) -> dict[str, str]:
    """Stack pool id -> the pool's id in the account: the same names the Pulumi components give them."""
    return {pool.id: pool_name(pool, config.network.subnet_id) for pool in config.pools}
