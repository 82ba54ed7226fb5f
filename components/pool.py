"""BatchPool: one Virtual Machine Configuration pool from a ``PoolConfig``, with its start-task files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pulumi
from pulumi_azure_native import batch

from batchforge.config.model import PoolConfig, iso_duration
from batchforge.config.naming import pool_name
from batchforge.config.start_task_files import plan_start_task_files
from batchforge.providers.blob_upload import ContentAddressedBlob
from batchforge.providers.pool_guard import PoolGuard, ready_timeout_s
from components.platform import BatchPlatform, NodeAccess


@dataclass(frozen=True)
class BatchPoolArgs:
    config: PoolConfig
    platform: BatchPlatform
    repo_root: Path
    subnet_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    # The stack's only pool: its Batch pool may be in state under the name every pool once had ("pool").
    sole_pool: bool = False


def _identity_ref(identity_id: pulumi.Input[str]) -> batch.ComputeNodeIdentityReferenceArgs:
    return batch.ComputeNodeIdentityReferenceArgs(resource_id=identity_id)


def _image(pool: PoolConfig) -> batch.ImageReferenceArgs:
    image = pool.image
    if image.gallery_image_id is not None:
        return batch.ImageReferenceArgs(id=image.gallery_image_id)
    return batch.ImageReferenceArgs(publisher=image.publisher, offer=image.offer, sku=image.sku, version=image.version)


def _scale(pool: PoolConfig) -> batch.ScaleSettingsArgs:
    scale = pool.scale
    if scale.is_autoscale:
        return batch.ScaleSettingsArgs(
            auto_scale=batch.AutoScaleSettingsArgs(
                formula=str(scale.formula),
                evaluation_interval=iso_duration(scale.evaluation_interval) if scale.evaluation_interval else None,
            )
        )
    return batch.ScaleSettingsArgs(
        fixed_scale=batch.FixedScaleSettingsArgs(
            target_dedicated_nodes=scale.dedicated or 0,
            target_low_priority_nodes=scale.spot or 0,
            resize_timeout=iso_duration(scale.resize_timeout) if scale.resize_timeout else None,
            node_deallocation_option=scale.node_deallocation_option,
        )
    )


def _container(pool: PoolConfig, identity_id: pulumi.Input[str]) -> batch.ContainerConfigurationArgs | None:
    if pool.container is None:
        return None
    return batch.ContainerConfigurationArgs(
        type="DockerCompatible" if pool.container.type == "dockerCompatible" else "CriCompatible",
        container_image_names=list(pool.container.images) or None,
        container_registries=[
            batch.ContainerRegistryArgs(registry_server=registry.server, identity_reference=_identity_ref(identity_id))
            for registry in pool.container.registries
        ]
        or None,
    )


def _mounts(pool: PoolConfig, identity_id: pulumi.Input[str]) -> list[batch.MountConfigurationArgs] | None:
    mounts: list[batch.MountConfigurationArgs] = []
    for mount in pool.mounts:
        if mount.azure_blob is not None:
            blob = mount.azure_blob
            mounts.append(
                batch.MountConfigurationArgs(
                    azure_blob_file_system_configuration=batch.AzureBlobFileSystemConfigurationArgs(
                        account_name=blob.account_name,
                        container_name=blob.container_name,
                        relative_mount_path=blob.relative_mount_path,
                        blobfuse_options=blob.blobfuse_options,
                        identity_reference=_identity_ref(identity_id),
                    )
                )
            )
        elif mount.nfs is not None:
            mounts.append(
                batch.MountConfigurationArgs(
                    nfs_mount_configuration=batch.NFSMountConfigurationArgs(
                        source=mount.nfs.source,
                        relative_mount_path=mount.nfs.relative_mount_path,
                        mount_options=mount.nfs.mount_options,
                    )
                )
            )
    return mounts or None


def _network(pool: PoolConfig, subnet_id: str | None) -> batch.NetworkConfigurationArgs | None:
    if subnet_id is None and pool.public_ips:
        return None
    return batch.NetworkConfigurationArgs(
        subnet_id=subnet_id,
        public_ip_address_configuration=batch.PublicIPAddressConfigurationArgs(
            provision=batch.IPAddressProvisioningType.BATCH_MANAGED
            if pool.public_ips
            else batch.IPAddressProvisioningType.NO_PUBLIC_IP_ADDRESSES
        ),
    )


class BatchPool(pulumi.ComponentResource):
    """A Batch pool named ``<config id>-<hash>``, the hash covering every property Batch cannot update.

    Changing such a property (VM size, image, task slots, network, ...) changes the pool name, so
    Pulumi plans a replacement and, by default, creates the new pool before deleting the old one.
    """

    pool_name: str
    pool: batch.Pool
    access: NodeAccess
    guard: PoolGuard
    start_task_blobs: list[ContentAddressedBlob]

    def __init__(self, name: str, args: BatchPoolArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("batchforge:components:BatchPool", name, None, opts)
        self._name = name
        config, platform = args.config, args.platform
        # The stack's node identity, or (identity: own) the pool's own, granted only the pool's own containers.
        self.access = platform.node_access[config.id]
        identity_id = self.access.identity_id
        self.pool_name = pool_name(config, args.subnet_id)
        self.start_task_blobs = []
        start_task = self._start_task(config, self._resource_files(config, platform, args.repo_root))

        self.pool = batch.Pool(
            f"{name}-pool",
            batch.PoolArgs(
                account_name=platform.batch_account_name,
                resource_group_name=platform.resource_group_name,
                pool_name=self.pool_name,
                display_name=config.display_name or config.id,
                vm_size=config.vm_size,
                deployment_configuration=batch.DeploymentConfigurationArgs(
                    virtual_machine_configuration=batch.VirtualMachineConfigurationArgs(
                        image_reference=_image(config),
                        node_agent_sku_id=config.node_agent_sku_id,
                        container_configuration=_container(config, identity_id),
                    )
                ),
                scale_settings=_scale(config),
                identity=batch.BatchPoolIdentityArgs(
                    type=batch.PoolIdentityType.USER_ASSIGNED,
                    user_assigned_identities=identity_id.apply(lambda resource_id: {resource_id: {}}),
                ),
                start_task=start_task,
                task_slots_per_node=config.task_slots_per_node,
                task_scheduling_policy=batch.TaskSchedulingPolicyArgs(
                    node_fill_type=config.task_scheduling_policy.node_fill_type
                ),
                inter_node_communication=batch.InterNodeCommunicationState.ENABLED
                if config.inter_node_communication
                else batch.InterNodeCommunicationState.DISABLED,
                network_configuration=_network(config, args.subnet_id),
                mount_configuration=_mounts(config, identity_id),
                target_node_communication_mode=config.node_communication_mode,
                metadata=[batch.MetadataItemArgs(name=k, value=v) for k, v in config.metadata.items()] or None,
                tags=args.tags or None,
            ),
            # The name carries a hash of the properties Batch cannot update, so a change to any of them
            # is a new name: create the new pool first, then delete the old one.
            # Nodes fetch the start-task files with the node identity as soon as they boot: the blobs and the
            # identity's role assignments (children of the platform) must exist first.
            pulumi.ResourceOptions(
                parent=self,
                depends_on=[platform, *self.start_task_blobs],
                replace_on_changes=["poolName"],
                delete_before_replace=False,
                # Only a one-pool stack could deploy the old name (two pools collided on it); aliasing it from
                # several pools would have the engine refuse the program.
                aliases=[pulumi.Alias(name="pool")] if args.sole_pool else None,
            ),
        )
        # Waits for this pool to be ready when it is created and drains it before it is deleted; the workloads
        # depend on this component, so on the guard too. A replacement needs the cores of both pools until the
        # old one is drained.
        resize_timeout = config.scale.resize_timeout
        self.guard = PoolGuard(
            f"{name}-guard",
            {
                "poolId": self.pool_name,
                "accountEndpoint": platform.batch_account_endpoint,
                "authKind": "entra-id",
                "accountName": None,
                "drainTimeoutSeconds": config.drain_timeout.total_seconds(),
                "readyTimeoutSeconds": ready_timeout_s(resize_timeout.total_seconds() if resize_timeout else None),
            },
            pulumi.ResourceOptions(parent=self, depends_on=[self.pool], delete_before_replace=False),
        )
        self.register_outputs({"poolName": self.pool_name, "poolId": self.pool.id})

    def _resource_files(
        self, config: PoolConfig, platform: BatchPlatform, repo_root: Path
    ) -> list[batch.ResourceFileArgs]:
        """Uploads the local start-task files and references every file; local ones via the node identity."""
        resource_files: list[batch.ResourceFileArgs] = []
        for planned in plan_start_task_files(config, repo_root):
            asset = planned.asset
            if asset is None:
                resource_files.append(
                    batch.ResourceFileArgs(
                        http_url=planned.http_url, file_path=planned.file_path, file_mode=planned.file_mode
                    )
                )
                continue
            self.start_task_blobs.append(
                ContentAddressedBlob(
                    # The blob name is content-addressed and carries the pool id: unique and deterministic.
                    f"{self._name}-{asset.blob_name}",
                    account_url=platform.blob_endpoint,
                    container_name=self.access.resources_container_name,
                    blob_name=asset.blob_name,
                    # Absolute, so the upload works whatever directory the provider runs in; not part of the diff.
                    local_path=str(asset.local_path.resolve()),
                    sha256=asset.sha256,
                    # Without the alias, a stack deployed under the old name would create the renamed blob and
                    # then delete the old one: the same blob, gone.
                    opts=pulumi.ResourceOptions(
                        parent=self,
                        # A private account answers the upload only through its endpoint, once its DNS name resolves.
                        depends_on=[platform.upload_permissions[config.id], *platform.storage_private_path],
                        aliases=[pulumi.Alias(name=f"{config.id}:{asset.blob_name}")],
                    ),
                )
            )
            resource_files.append(
                batch.ResourceFileArgs(
                    http_url=pulumi.Output.concat(self.access.resources_container_url, "/", asset.blob_name),
                    file_path=planned.file_path,
                    file_mode=planned.file_mode,
                    identity_reference=_identity_ref(self.access.identity_id),
                )
            )
        return resource_files

    @staticmethod
    def _start_task(config: PoolConfig, resource_files: list[batch.ResourceFileArgs]) -> batch.StartTaskArgs | None:
        task = config.start_task
        if task is None:
            return None
        return batch.StartTaskArgs(
            command_line=task.command_line,
            resource_files=resource_files or None,
            environment_settings=[batch.EnvironmentSettingArgs(name=k, value=v) for k, v in task.environment.items()]
            or None,
            user_identity=batch.UserIdentityArgs(
                auto_user=batch.AutoUserSpecificationArgs(
                    scope=batch.AutoUserScope.POOL if task.auto_user_scope == "pool" else batch.AutoUserScope.TASK,
                    elevation_level=batch.ElevationLevel.ADMIN
                    if task.elevation == "admin"
                    else batch.ElevationLevel.NON_ADMIN,
                )
            ),
            max_task_retry_count=task.max_task_retry_count,
            wait_for_success=task.wait_for_success,
        )
