"""The same pool, in the Batch data-plane shape: how the local run provisions pools from the stack config.

On Azure the pools are ARM resources (``components.pool``); the local Batch service speaks the
data-plane REST API, so it gets a ``BatchPoolCreateOptions`` built from the same ``PoolConfig``.
"""

from __future__ import annotations

from collections.abc import Sequence

from azure.batch import models as batch_models

from batchforge.config.model import PoolConfig, StartTaskConfig


def _identity(identity_resource_id: str | None) -> batch_models.BatchNodeIdentityReference | None:
    if identity_resource_id is None:
        return None
    return batch_models.BatchNodeIdentityReference(resource_id=identity_resource_id)


def _image(pool: PoolConfig) -> batch_models.BatchVmImageReference:
    image = pool.image
    if image.gallery_image_id is not None:
        return batch_models.BatchVmImageReference(virtual_machine_image_id=image.gallery_image_id)
    return batch_models.BatchVmImageReference(
        publisher=image.publisher, offer=image.offer, sku=image.sku, version=image.version
    )


def _container(pool: PoolConfig, identity_resource_id: str | None) -> batch_models.BatchContainerConfiguration | None:
    if pool.container is None:
        return None
    return batch_models.BatchContainerConfiguration(
        type=pool.container.type,
        container_image_names=list(pool.container.images) or None,
        container_registries=[
            batch_models.ContainerRegistryReference(
                registry_server=registry.server, identity_reference=_identity(identity_resource_id)
            )
            for registry in pool.container.registries
        ]
        or None,
    )


def _start_task(
    start_task: StartTaskConfig, resource_files: Sequence[batch_models.ResourceFile]
) -> batch_models.BatchStartTask:
    return batch_models.BatchStartTask(
        command_line=start_task.command_line,
        resource_files=list(resource_files) or None,
        environment_settings=[
            batch_models.EnvironmentSetting(name=name, value=value) for name, value in start_task.environment.items()
        ]
        or None,
        user_identity=batch_models.UserIdentity(
            auto_user=batch_models.AutoUserSpecification(
                scope=start_task.auto_user_scope, elevation_level=start_task.elevation.lower()
            )
        ),
        max_task_retry_count=start_task.max_task_retry_count,
        wait_for_success=start_task.wait_for_success,
    )


def _mounts(pool: PoolConfig, identity_resource_id: str | None) -> list[batch_models.MountConfiguration] | None:
    mounts: list[batch_models.MountConfiguration] = []
    for mount in pool.mounts:
        if mount.azure_blob is not None:
            blob = mount.azure_blob
            mounts.append(
                batch_models.MountConfiguration(
                    azure_blob_file_system_configuration=batch_models.AzureBlobFileSystemConfiguration(
                        account_name=blob.account_name,
                        container_name=blob.container_name,
                        relative_mount_path=blob.relative_mount_path,
                        blobfuse_options=blob.blobfuse_options,
                        identity_reference=_identity(identity_resource_id),
                    )
                )
            )
        elif mount.nfs is not None:
            mounts.append(
                batch_models.MountConfiguration(
                    nfs_mount_configuration=batch_models.NfsMountConfiguration(
                        source=mount.nfs.source,
                        relative_mount_path=mount.nfs.relative_mount_path,
                        mount_options=mount.nfs.mount_options,
                    )
                )
            )
    return mounts or None


def _network(pool: PoolConfig, subnet_id: str | None) -> batch_models.NetworkConfiguration | None:
    if subnet_id is None and pool.public_ips:
        return None
    return batch_models.NetworkConfiguration(
        subnet_id=subnet_id,
        public_ip_address_configuration=batch_models.BatchPublicIpAddressConfiguration(
            ip_address_provisioning_type="batchmanaged" if pool.public_ips else "nopublicipaddresses"
        ),
    )


def pool_create_options(
    pool: PoolConfig,
    pool_id: str,
    start_task_files: Sequence[batch_models.ResourceFile] = (),
    *,
    subnet_id: str | None = None,
    identity_resource_id: str | None = None,
) -> batch_models.BatchPoolCreateOptions:
    """A ``BatchPoolCreateOptions`` for ``pool`` named ``pool_id``.

    ``start_task_files`` are the start task's resource files already resolved to URLs (local files
    uploaded by the caller, http(s) URLs as configured); ``identity_resource_id`` is set on registry
    and blob-mount references when the nodes have a managed identity (Azure), left out locally.
    """
    scale = pool.scale
    options = batch_models.BatchPoolCreateOptions(
        id=pool_id,
        display_name=pool.display_name or pool.id,
        vm_size=pool.vm_size,
        virtual_machine_configuration=batch_models.VirtualMachineConfiguration(
            image_reference=_image(pool),
            node_agent_sku_id=pool.node_agent_sku_id,
            container_configuration=_container(pool, identity_resource_id),
        ),
        task_slots_per_node=pool.task_slots_per_node,
        task_scheduling_policy=batch_models.BatchTaskSchedulingPolicy(
            node_fill_type=pool.task_scheduling_policy.node_fill_type.lower()
        ),
        enable_inter_node_communication=pool.inter_node_communication,
        network_configuration=_network(pool, subnet_id),
        start_task=_start_task(pool.start_task, start_task_files) if pool.start_task is not None else None,
        mount_configuration=_mounts(pool, identity_resource_id),
        metadata=[batch_models.BatchMetadataItem(name=k, value=v) for k, v in pool.metadata.items()] or None,
    )
    if scale.is_autoscale:
        options.enable_auto_scale = True
        options.auto_scale_formula = scale.formula
        options.auto_scale_evaluation_interval = scale.evaluation_interval
    else:
        options.enable_auto_scale = False
        options.target_dedicated_nodes = scale.dedicated or 0
        options.target_low_priority_nodes = scale.spot or 0
        options.resize_timeout = scale.resize_timeout
    return options
