"""BatchPlatform: everything a stack's pools share - resource group, storage, identities, Batch account."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization, batch, managedidentity, network, resources, storage

from stack_config.model import StackConfig
from stack_config.naming import (
    batch_account_name,
    identity_name,
    private_endpoint_name,
    resource_group_name,
    storage_account_name,
)

# Built-in role definition ids (the same in every Azure tenant).
STORAGE_BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"


def role_definition_id(subscription_id: pulumi.Input[str], role: str) -> pulumi.Output[str]:
    return pulumi.Output.concat(
        "/subscriptions/", subscription_id, "/providers/Microsoft.Authorization/roleDefinitions/", role
    )


def _user_assigned(identity_id: pulumi.Output[str]) -> pulumi.Output[dict[str, dict[str, str]]]:
    return identity_id.apply(lambda resource_id: {resource_id: {}})


@dataclass(frozen=True)
class BatchPlatformArgs:
    config: StackConfig
    stack: str


class BatchPlatform(pulumi.ComponentResource):
    """A hardened storage account, a pool identity with container-scoped rights, and the Batch account.

    Two user-assigned identities keep rights apart: the *node* identity (on every pool) may read the
    resources container and write the outputs container, nothing else; the *account* identity is the
    Batch account's own, used for auto-storage (``BatchAccountManagedIdentity``).
    """

    resource_group_name: pulumi.Output[str]
    storage_account_name: pulumi.Output[str]
    blob_endpoint: pulumi.Output[str]
    resources_container_name: pulumi.Output[str]
    outputs_container_name: pulumi.Output[str]
    resources_container_url: pulumi.Output[str]
    outputs_container_url: pulumi.Output[str]
    node_identity_id: pulumi.Output[str]
    node_identity_client_id: pulumi.Output[str]
    node_identity_principal_id: pulumi.Output[str]
    account_identity_id: pulumi.Output[str]
    batch_account_name: pulumi.Output[str]
    batch_account_endpoint: pulumi.Output[str]

    def __init__(self, name: str, args: BatchPlatformArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("batchforge:components:BatchPlatform", name, None, opts)
        config, stack = args.config, args.stack
        child = pulumi.ResourceOptions(parent=self)
        tags = {**config.tags, "batchforge-stack": stack}
        client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
        subscription_id = client.subscription_id

        if config.resource_group.create:
            group = resources.ResourceGroup(
                "resource-group",
                resources.ResourceGroupArgs(
                    resource_group_name=resource_group_name(config, stack), location=config.location, tags=tags
                ),
                child,
            )
            self.resource_group_name = group.name
        else:
            # An existing group is someone else's: used by name, never modified or deleted.
            self.resource_group_name = pulumi.Output.from_input(resource_group_name(config, stack))
        rg_name = self.resource_group_name

        account = storage.StorageAccount(
            "storage",
            storage.StorageAccountArgs(
                account_name=subscription_id.apply(lambda sub: storage_account_name(config, stack, sub)),
                resource_group_name=rg_name,
                location=config.location,
                kind=storage.Kind.STORAGE_V2,
                sku=storage.SkuArgs(name=config.storage.sku),
                enable_https_traffic_only=True,
                minimum_tls_version=storage.MinimumTlsVersion.TLS1_2,
                allow_blob_public_access=False,
                allow_shared_key_access=False,
                default_to_o_auth_authentication=True,
                allow_cross_tenant_replication=False,
                public_network_access=config.storage.public_network_access,
                tags=tags,
            ),
            child,
        )
        self.storage_account_name = account.name
        self.blob_endpoint = account.primary_endpoints.apply(lambda endpoints: endpoints.blob)

        containers: dict[str, storage.BlobContainer] = {}
        for role, container_name in (
            ("resources", config.storage.resources_container),
            ("outputs", config.storage.outputs_container),
        ):
            containers[role] = storage.BlobContainer(
                f"{role}-container",
                storage.BlobContainerArgs(
                    account_name=account.name,
                    resource_group_name=rg_name,
                    container_name=container_name,
                    public_access=storage.PublicAccess.NONE,
                ),
                child,
            )
        self.resources_container_name = containers["resources"].name
        self.outputs_container_name = containers["outputs"].name
        self.resources_container_url = pulumi.Output.concat(self.blob_endpoint, containers["resources"].name)
        self.outputs_container_url = pulumi.Output.concat(self.blob_endpoint, containers["outputs"].name)

        node_identity = managedidentity.UserAssignedIdentity(
            "node-identity",
            # Keyword form: the Args form clashes with the resource's own name parameter.
            resource_name_=identity_name(config, stack, "node"),
            resource_group_name=rg_name,
            location=config.location,
            tags=tags,
            opts=child,
        )
        account_identity = managedidentity.UserAssignedIdentity(
            "account-identity",
            # Keyword form: the Args form clashes with the resource's own name parameter.
            resource_name_=identity_name(config, stack, "account"),
            resource_group_name=rg_name,
            location=config.location,
            tags=tags,
            opts=child,
        )
        self.node_identity_id = node_identity.id
        self.node_identity_client_id = node_identity.client_id
        self.node_identity_principal_id = node_identity.principal_id
        self.account_identity_id = account_identity.id

        grants = [
            (
                "node-reads-resources",
                node_identity.principal_id,
                "ServicePrincipal",
                STORAGE_BLOB_DATA_READER,
                containers["resources"].id,
            ),
            (
                "node-writes-outputs",
                node_identity.principal_id,
                "ServicePrincipal",
                STORAGE_BLOB_DATA_CONTRIBUTOR,
                containers["outputs"].id,
            ),
            # Auto-storage with BatchAccountManagedIdentity requires the account identity to hold this on the account.
            (
                "account-uses-storage",
                account_identity.principal_id,
                "ServicePrincipal",
                STORAGE_BLOB_DATA_CONTRIBUTOR,
                account.id,
            ),
            # Whoever runs `pulumi up` uploads start-task files with Entra ID (shared keys are off).
            (
                "deployer-uploads-resources",
                client.object_id,
                None,
                STORAGE_BLOB_DATA_CONTRIBUTOR,
                containers["resources"].id,
            ),
        ]
        self.role_assignments: dict[str, authorization.RoleAssignment] = {}
        for grant_name, principal_id, principal_type, role, scope in grants:
            self.role_assignments[grant_name] = authorization.RoleAssignment(
                grant_name,
                authorization.RoleAssignmentArgs(
                    principal_id=principal_id,
                    principal_type=principal_type,
                    role_definition_id=role_definition_id(subscription_id, role),
                    scope=scope,
                ),
                child,
            )

        settings = config.batch_account
        batch_account = batch.BatchAccount(
            "batch-account",
            batch.BatchAccountArgs(
                account_name=subscription_id.apply(lambda sub: batch_account_name(config, stack, sub)),
                resource_group_name=rg_name,
                location=config.location,
                identity=batch.BatchAccountIdentityArgs(
                    type=batch.ResourceIdentityType.USER_ASSIGNED,
                    user_assigned_identities=_user_assigned(account_identity.id),
                ),
                auto_storage=batch.AutoStorageBasePropertiesArgs(
                    storage_account_id=account.id,
                    authentication_mode=batch.AutoStorageAuthenticationMode.BATCH_ACCOUNT_MANAGED_IDENTITY,
                    node_identity_reference=batch.ComputeNodeIdentityReferenceArgs(resource_id=node_identity.id),
                ),
                allowed_authentication_modes=list(settings.allowed_authentication_modes),
                pool_allocation_mode=settings.pool_allocation_mode,
                public_network_access=settings.public_network_access,
                tags=tags,
            ),
            pulumi.ResourceOptions(parent=self, depends_on=[self.role_assignments["account-uses-storage"]]),
        )
        self.batch_account_name = batch_account.name
        self.batch_account_endpoint = pulumi.Output.concat("https://", batch_account.account_endpoint)
        self.upload_permission = self.role_assignments["deployer-uploads-resources"]

        self.private_endpoints: list[network.PrivateEndpoint] = []
        if settings.private_endpoint is not None:
            endpoint_config = settings.private_endpoint
            # Clients use the account API; nodes (simplified communication, no public IPs) the node management one.
            for group in ("batchAccount", "nodeManagement"):
                endpoint = network.PrivateEndpoint(
                    f"{group}-endpoint",
                    network.PrivateEndpointArgs(
                        private_endpoint_name=private_endpoint_name(config, stack, group),
                        resource_group_name=rg_name,
                        location=config.location,
                        subnet=network.SubnetArgs(id=endpoint_config.subnet_id),
                        private_link_service_connections=[
                            network.PrivateLinkServiceConnectionArgs(
                                name=group, private_link_service_id=batch_account.id, group_ids=[group]
                            )
                        ],
                        tags=tags,
                    ),
                    child,
                )
                self.private_endpoints.append(endpoint)
                if endpoint_config.private_dns_zone_id is not None:
                    network.PrivateDnsZoneGroup(
                        f"{group}-dns",
                        network.PrivateDnsZoneGroupArgs(
                            private_endpoint_name=endpoint.name,
                            resource_group_name=rg_name,
                            private_dns_zone_group_name="default",
                            private_dns_zone_configs=[
                                network.PrivateDnsZoneConfigArgs(
                                    name="batch", private_dns_zone_id=endpoint_config.private_dns_zone_id
                                )
                            ],
                        ),
                        child,
                    )

        self.register_outputs(
            {
                "resourceGroupName": self.resource_group_name,
                "storageAccountName": self.storage_account_name,
                "resourcesContainerUrl": self.resources_container_url,
                "outputsContainerUrl": self.outputs_container_url,
                "nodeIdentityId": self.node_identity_id,
                "accountIdentityId": self.account_identity_id,
                "batchAccountName": self.batch_account_name,
                "batchAccountEndpoint": self.batch_account_endpoint,
            }
        )
