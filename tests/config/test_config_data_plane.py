"""The data-plane pool shape the local run uses, built from the same PoolConfig as the ARM pool."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from azure.batch import models as batch_models

from batchforge.config import load_stack_file, pool_name
from batchforge.config.data_plane import pool_create_options
from batchforge.config.start_task_files import data_plane_resource_files, plan_start_task_files

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTAINER = "http://127.0.0.1:10000/devstoreaccount1/resources"

ACR_ID = "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/myacr"


def _config(stack: str):
    return load_stack_file(REPO_ROOT / f"Pulumi.{stack}.yaml")


def test_autoscale_pool_from_dev():
    pool = _config("dev").pools[0]
    planned = plan_start_task_files(pool, REPO_ROOT)
    files = data_plane_resource_files(planned, CONTAINER)
    options = pool_create_options(pool, pool_name(pool, None), files)

    assert options.id == pool_name(pool, None)
    assert options.vm_size == "Standard_D2s_v5"
    assert options.enable_auto_scale is True
    assert options.auto_scale_formula == pool.scale.formula
    assert options.auto_scale_evaluation_interval == timedelta(minutes=5)
    assert options.target_dedicated_nodes is None and options.target_low_priority_nodes is None
    assert options.task_slots_per_node == 2
    assert options.task_scheduling_policy.node_fill_type == "pack"
    image = options.virtual_machine_configuration.image_reference
    assert (image.publisher, image.offer, image.sku) == ("canonical", "ubuntu-24_04-lts", "server")
    assert options.virtual_machine_configuration.node_agent_sku_id == "batch.node.ubuntu 24.04"
    assert options.network_configuration is None
    task = options.start_task
    assert task.command_line == pool.start_task.command_line
    assert task.wait_for_success is True and task.max_task_retry_count == 1
    assert task.user_identity.auto_user.scope == "pool"
    assert task.user_identity.auto_user.elevation_level == "nonadmin"
    assert [(e.name, e.value) for e in task.environment_settings] == [("BATCHFORGE_ENV", "dev")]
    assert sorted(f.file_path for f in task.resource_files) == ["common/README.md", "common/prepare-node.sh"]
    for resource_file in task.resource_files:
        assert resource_file.http_url.startswith(CONTAINER + "/start-tasks/cpu/")
        assert resource_file.identity_reference is None


def test_fixed_pool_without_public_ips_from_prod():
    config = _config("prod")
    pool = config.pool("mpi")
    identity = "/subscriptions/0/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/node"
    options = pool_create_options(
        pool, "mpi-abc", [], subnet_id=config.network.subnet_id, identity_resource_id=identity
    )
    assert options.enable_auto_scale is False
    assert options.target_dedicated_nodes == 2 and options.target_low_priority_nodes == 0
    assert options.enable_inter_node_communication is True
    assert options.network_configuration.subnet_id == config.network.subnet_id
    assert options.network_configuration.public_ip_address_configuration.ip_address_provisioning_type == (
        "nopublicipaddresses"
    )
    assert options.start_task.resource_files is None


def test_identity_reference_is_set_when_given():
    pool = _config("staging").pools[0]
    identity = "/subscriptions/0/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/node"
    files = data_plane_resource_files(plan_start_task_files(pool, REPO_ROOT), CONTAINER, identity)
    assert files and all(f.identity_reference.resource_id == identity for f in files)
    options = pool_create_options(pool, "cpu-1", files)
    assert options.resize_timeout == timedelta(minutes=15)
    assert options.metadata == [batch_models.BatchMetadataItem(name="purpose", value="pre-production")]


def test_container_and_mounts_use_the_node_identity():
    pool = (
        _config("dev")
        .pools[0]
        .model_validate(
            {
                **_config("dev").pools[0].model_dump(by_alias=True, exclude_none=True, mode="json"),
                "container": {"images": ["python:3.11-slim"], "registries": [{"resourceId": ACR_ID}]},
                "mounts": [
                    {"azureBlob": {"accountName": "datastore", "containerName": "inputs", "relativeMountPath": "in"}},
                    {"nfs": {"source": "10.0.0.4:/exports/data", "relativeMountPath": "nfs"}},
                ],
            }
        )
    )
    identity = "/subscriptions/0/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/node"
    options = pool_create_options(pool, "cpu-x", identity_resource_id=identity)
    container = options.virtual_machine_configuration.container_configuration
    assert container.type == "dockerCompatible"
    assert container.container_image_names == ["python:3.11-slim"]
    assert container.container_registries[0].registry_server == "myacr.azurecr.io"
    assert container.container_registries[0].identity_reference.resource_id == identity
    assert container.container_registries[0].password is None
    blob_mount, nfs_mount = options.mount_configuration
    assert blob_mount.azure_blob_file_system_configuration.identity_reference.resource_id == identity
    assert blob_mount.azure_blob_file_system_configuration.account_key is None
    assert nfs_mount.nfs_mount_configuration.source == "10.0.0.4:/exports/data"


def test_options_serialise_to_the_rest_shape():
    pool = _config("dev").pools[0]
    body = pool_create_options(pool, "cpu-1").as_dict()
    assert body["enableAutoScale"] is True
    assert body["autoScaleEvaluationInterval"] == "PT05M00S"  # the SDK's ISO 8601 spelling of 5 minutes
    assert body["virtualMachineConfiguration"]["nodeAgentSKUId"] == "batch.node.ubuntu 24.04"
