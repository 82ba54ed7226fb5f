"""Pool - Patch on a pool with nodes: what only an empty pool may change is refused as Batch refuses it.

Source: azure-batch 15.1.0 ``BatchPoolUpdateOptions`` (2025-06-01) "can be updated only when the pool is empty";
Batch's answer is 400 PropertyCannotBeUpdated naming the property.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError

from batchforge.localbatch.testing import LocalBatch, wait_for, wait_for_idle_nodes

NFS = m.MountConfiguration(
    nfs_mount_configuration=m.NfsMountConfiguration(source="10.0.0.4:/d", relative_mount_path="d")
)
# Pool - Patch field -> a value other than the pool's.
ONLY_WHEN_EMPTY: dict[str, Any] = {
    "display_name": "renamed",
    "vm_size": "standard_d4s_v3",
    "enable_inter_node_communication": True,
    "task_slots_per_node": 2,
    "task_scheduling_policy": m.BatchTaskSchedulingPolicy(node_fill_type="pack"),
    "mount_configuration": [NFS],
    "network_configuration": m.NetworkConfiguration(
        public_ip_address_configuration=m.BatchPublicIpAddressConfiguration(
            ip_address_provisioning_type="nopublicipaddresses"
        )
    ),
}


@pytest.fixture(scope="module")
def client(local_batch: LocalBatch) -> BatchClient:
    return local_batch.batch_client()


@pytest.fixture
def busy_pool(client: BatchClient) -> Iterator[str]:
    pool_id = f"updates-{uuid.uuid4().hex[:8]}"
    client.create_pool(
        m.BatchPoolCreateOptions(
            id=pool_id, vm_size="standard_d2s_v3", display_name="original", target_dedicated_nodes=1
        )
    )
    wait_for_idle_nodes(client, pool_id, 1)
    yield pool_id
    client.begin_delete_pool(pool_id, polling_interval=0.2)


@pytest.mark.parametrize("field", sorted(ONLY_WHEN_EMPTY))
def test_patch_of_a_pool_with_nodes_refuses_what_only_an_empty_pool_may_change(
    client: BatchClient, busy_pool: str, field: str
) -> None:
    with pytest.raises(HttpResponseError) as caught:
        client.update_pool(busy_pool, m.BatchPoolUpdateOptions(**{field: ONLY_WHEN_EMPTY[field]}))
    assert caught.value.status_code == 400
    assert caught.value.error is not None and caught.value.error.code == "PropertyCannotBeUpdated"
    wire_name = m.BatchPoolUpdateOptions(**{field: ONLY_WHEN_EMPTY[field]}).as_dict()
    assert str(caught.value.response.json()["values"]).count(next(iter(wire_name))) >= 1
    pool = client.get_pool(busy_pool)
    assert pool.display_name == "original" and pool.vm_size == "standard_d2s_v3" and pool.task_slots_per_node == 1


def test_patch_of_a_pool_with_nodes_takes_metadata_and_start_task(client: BatchClient, busy_pool: str) -> None:
    client.update_pool(
        busy_pool,
        m.BatchPoolUpdateOptions(
            metadata=[m.BatchMetadataItem(name="purpose", value="other")],
            start_task=m.BatchStartTask(command_line="/bin/true"),
            display_name="original",  # the value it has: no change, accepted
        ),
    )
    pool = client.get_pool(busy_pool)
    assert pool.metadata is not None and pool.metadata[0].value == "other"
    assert pool.start_task is not None and pool.start_task.command_line == "/bin/true"


def test_an_empty_pool_takes_a_new_vm_size_and_slot_count(client: BatchClient, busy_pool: str) -> None:
    client.begin_resize_pool(busy_pool, m.BatchPoolResizeOptions(target_dedicated_nodes=0), polling_interval=0.2)
    wait_for(
        lambda: (
            client.get_pool(busy_pool).current_dedicated_nodes == 0
            and client.get_pool(busy_pool).allocation_state == "steady"
        ),
        what="pool at zero nodes",
    )
    client.update_pool(busy_pool, m.BatchPoolUpdateOptions(vm_size="standard_d4s_v3", task_slots_per_node=2))
    pool = client.get_pool(busy_pool)
    assert pool.vm_size == "standard_d4s_v3" and pool.task_slots_per_node == 2
