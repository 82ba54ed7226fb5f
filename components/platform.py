"""BatchPlatform: everything a stack's pools share - resource group, storage, identities, Batch account."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, NamedTuple

import pulumi
from pulumi_azure_native import authorization, batch, managedidentity, network, resources, storage

from batchforge.config.model import StackConfig
from batchforge.config.naming import (
    batch_account_name,
    identity_name,
    private_endpoint_name,
    resource_group_name,
    storage_account_name,
    storage_private_endpoint_name,
)

# Built-in role definition ids (the same in every Azure tenant).
STORAGE_BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"

# Role assignment names are GUIDs; those derived from (scope, principal, role) are the same on every run and
# every machine, so a lost state or a second stack declaring the same grant names the same assignment.
_ROLE_ASSIGNMENT_NAMESPACE = uuid.UUID("5d0c3a52-7b1e-4f0e-9a64-2f1b8c6d9e31")


def role_assignment_name(scope: str, principal_id: str, role_definition: str) -> str:
    """The deterministic GUID name of the assignment of ``role_definition`` to ``principal_id`` on ``scope``."""
    key = "|".join(part.lower() for part in (scope, principal_id, role_definition))
    return str(uuid.uuid5(_ROLE_ASSIGNMENT_NAMESPACE, key))


def role_definition_id(subscription_id: pulumi.Input[str], role: str) -> pulumi.Output[str]:
    return pulumi.Output.concat(
        "/subscriptions/", subscription_id, "/providers/Microsoft.Authorization/roleDefinitions/", role
    )


def _user_assigned(identity_id: pulumi.Output[str]) -> pulumi.Output[dict[str, dict[str, str]]]:
    return identity_id.apply(lambda resource_id: {resource_id: {}})


def _storage_network_rules(config: StackConfig) -> storage.NetworkRuleSetArgs:
    """The storage firewall: Deny by default unless the account is public to all (dev without IP rules).

    Trusted Azure services (the Batch service's auto-storage among them) pass the firewall; everything else
    comes through the blob private endpoint (nodes, the deploy runner) or an allowed IP range.
    """
    settings = config.storage
    return storage.NetworkRuleSetArgs(
        default_action=settings.default_network_action,
        bypass=storage.Bypass.AZURE_SERVICES,
        ip_rules=[
            storage.IPRuleArgs(i_p_address_or_range=address, action=storage.Action.ALLOW)
            for address in settings.allowed_ip_ranges
        ]
        or None,
    )


def _deployer(config: StackConfig, signed_in: pulumi.Output[str]) -> tuple[pulumi.Input[str], str]:
    """The principal that uploads the start-task files, and its type as ARM must be told it.

    A stack with ``deployer`` set always grants that principal, whoever runs ``pulumi up``: laptop and
    pipeline runs no longer swap the assignment back and forth. Without it (laptops), the signed-in
    client is granted as a ``User``; a service principal must be configured, or ARM refuses the
    assignment with ``UnmatchedPrincipalType``.
    """
    if config.deployer is None:
        return signed_in, "User"
    return config.deployer.principal_id, config.deployer.principal_type


class _Grant(NamedTuple):
    name: str
    principal_id: pulumi.Input[str]
    principal_type: str
    role: str
    scope: pulumi.Input[str]
    # New grants carry a deterministic name (and a child name of their own); the first four keep the names
    # azure-native generated when the stacks were first deployed (a new name would replace them, and ARM refuses a
    # second identical assignment).
    new: bool = False


@dataclass(frozen=True)
class NodeAccess:
    """What a pool's nodes run as and may reach: its node identity and the containers that identity is granted."""

    identity_id: pulumi.Output[str]
    principal_id: pulumi.Output[str]
    client_id: pulumi.Output[str]
    resources_container_name: pulumi.Output[str]
    resources_container_url: pulumi.Output[str]
    outputs_container_url: pulumi.Output[str]
    # Whether the pool has an identity and containers of its own (``identity: own``).
    own: bool = False


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
    role_assignments: dict[str, authorization.RoleAssignment]
    upload_permission: authorization.RoleAssignment
    # Pool id -> what its nodes run as and may reach (shared pools: the node identity and the stack's containers).
    node_access: dict[str, NodeAccess]
    # Pool id -> the start-task upload grants its resources container needs (the shared one's, or its own's).
    upload_permissions: dict[str, authorization.RoleAssignment]
    private_endpoints: list[network.PrivateEndpoint]
    # The blob private endpoint and its DNS zone group: uploads and node transfers of a private account need both.
    storage_private_path: list[pulumi.Resource]

    def __init__(self, name: str, args: BatchPlatformArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("batchforge:components:BatchPlatform", name, None, opts)
        self._name = name
        self._config, self._stack = args.config, args.stack
        self._tags = {**args.config.tags, "batchforge-stack": args.stack}
        client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
        self._subscription_id = client.subscription_id

        self._declare_resource_group()
        account, containers = self._declare_storage()
        node_identity = self._declare_identity("node")
        account_identity = self._declare_identity("account")
        self.node_identity_id = node_identity.id
        self.node_identity_client_id = node_identity.client_id
        self.node_identity_principal_id = node_identity.principal_id
        self.account_identity_id = account_identity.id

        self.role_assignments = self._declare_grants(
            [
                _Grant(
                    "node-reads-resources",
                    node_identity.principal_id,
                    "ServicePrincipal",
                    STORAGE_BLOB_DATA_READER,
                    containers["resources"].id,
                ),
                _Grant(
                    "node-writes-outputs",
                    node_identity.principal_id,
                    "ServicePrincipal",
                    STORAGE_BLOB_DATA_CONTRIBUTOR,
                    containers["outputs"].id,
                ),
                # Auto-storage in BatchAccountManagedIdentity mode requires this role on the storage account.
                _Grant(
                    "account-uses-storage",
                    account_identity.principal_id,
                    "ServicePrincipal",
                    STORAGE_BLOB_DATA_CONTRIBUTOR,
                    account.id,
                ),
                # Whoever runs `pulumi up` uploads the start-task files with Entra ID (shared keys are off).
                _Grant(
                    "deployer-uploads-resources",
                    *_deployer(args.config, client.object_id),
                    STORAGE_BLOB_DATA_CONTRIBUTOR,
                    containers["resources"].id,
                ),
            ]
        )
        self.upload_permission = self.role_assignments["deployer-uploads-resources"]
        shared = NodeAccess(
            identity_id=node_identity.id,
            principal_id=node_identity.principal_id,
            client_id=node_identity.client_id,
            resources_container_name=self.resources_container_name,
            resources_container_url=self.resources_container_url,
            outputs_container_url=self.outputs_container_url,
        )
        self.node_access = {}
        self.upload_permissions = {}
        deployer = _deployer(args.config, client.object_id)
        for pool in args.config.pools:
            if pool.identity == "own":
                self.node_access[pool.id], self.upload_permissions[pool.id] = self._declare_own_access(
                    pool.id, account, deployer
                )
            else:
                self.node_access[pool.id] = shared
                self.upload_permissions[pool.id] = self.upload_permission
        self._declare_registry_pulls()

        batch_account = self._declare_batch_account(account, node_identity, account_identity)
        self.private_endpoints = self._declare_private_endpoints(batch_account)
        self.storage_private_path = self._declare_blob_private_endpoint(account)

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

    def _child(self, suffix: str, **options: Any) -> tuple[str, pulumi.ResourceOptions]:
        """A child's name, ``<component>-<suffix>``, and options: parented here, aliased to its old name."""
        # Children were once named ``<suffix>`` alone; the alias keeps stacks deployed then from replacing them.
        aliases = [pulumi.Alias(name=suffix)]
        return f"{self._name}-{suffix}", pulumi.ResourceOptions(parent=self, aliases=aliases, **options)

    def _declare_resource_group(self) -> None:
        config, stack = self._config, self._stack
        if not config.resource_group.create:
            # An existing group is someone else's: used by name, never modified or deleted.
            self.resource_group_name = pulumi.Output.from_input(resource_group_name(config, stack))
            return
        child_name, child_opts = self._child("resource-group")
        group = resources.ResourceGroup(
            child_name,
            resources.ResourceGroupArgs(
                resource_group_name=resource_group_name(config, stack), location=config.location, tags=self._tags
            ),
            child_opts,
        )
        self.resource_group_name = group.name

    def _declare_storage(self) -> tuple[storage.StorageAccount, dict[str, storage.BlobContainer]]:
        config, stack = self._config, self._stack
        child_name, child_opts = self._child("storage")
        account = storage.StorageAccount(
            child_name,
            storage.StorageAccountArgs(
                account_name=self._subscription_id.apply(lambda sub: storage_account_name(config, stack, sub)),
                resource_group_name=self.resource_group_name,
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
                network_rule_set=_storage_network_rules(config),
                tags=self._tags,
            ),
            child_opts,
        )
        self.storage_account_name = account.name
        self.blob_endpoint = account.primary_endpoints.apply(lambda endpoints: endpoints.blob)

        containers = {
            role: self._container(role, container_name, account)
            for role, container_name in (
                ("resources", config.storage.resources_container),
                ("outputs", config.storage.outputs_container),
            )
        }
        self.resources_container_name = containers["resources"].name
        self.outputs_container_name = containers["outputs"].name
        self.resources_container_url = pulumi.Output.concat(self.blob_endpoint, containers["resources"].name)
        self.outputs_container_url = pulumi.Output.concat(self.blob_endpoint, containers["outputs"].name)
        return account, containers

    def _container(self, role: str, container_name: str, account: storage.StorageAccount) -> storage.BlobContainer:
        child_name, child_opts = self._child(f"{role}-container")
        return storage.BlobContainer(
            child_name,
            storage.BlobContainerArgs(
                account_name=account.name,
                resource_group_name=self.resource_group_name,
                container_name=container_name,
                public_access=storage.PublicAccess.NONE,
            ),
            child_opts,
        )

    def _declare_identity(self, role: str) -> managedidentity.UserAssignedIdentity:
        child_name, child_opts = self._child(f"{role}-identity")
        return managedidentity.UserAssignedIdentity(
            child_name,
            # Keyword form: the Args form clashes with the resource's own name parameter.
            resource_name_=identity_name(self._config, self._stack, role),
            resource_group_name=self.resource_group_name,
            location=self._config.location,
            tags=self._tags,
            opts=child_opts,
        )

    def _declare_grants(self, grants: list[_Grant]) -> dict[str, authorization.RoleAssignment]:
        assignments: dict[str, authorization.RoleAssignment] = {}
        for grant in grants:
            definition = role_definition_id(self._subscription_id, grant.role)
            name: pulumi.Output[str] | None = None
            if grant.new:
                child_name, child_opts = f"{self._name}-{grant.name}", pulumi.ResourceOptions(parent=self)
                name = pulumi.Output.all(grant.scope, grant.principal_id, definition).apply(
                    lambda parts: role_assignment_name(*parts)
                )
            else:
                child_name, child_opts = self._child(grant.name)
            assignments[grant.name] = authorization.RoleAssignment(
                child_name,
                authorization.RoleAssignmentArgs(
                    principal_id=grant.principal_id,
                    principal_type=grant.principal_type,
                    role_definition_id=definition,
                    scope=grant.scope,
                    role_assignment_name=name,
                ),
                child_opts,
            )
        return assignments

    def _declare_own_access(
        self, pool_id: str, account: storage.StorageAccount, deployer: tuple[pulumi.Input[str], str]
    ) -> tuple[NodeAccess, authorization.RoleAssignment]:
        """A pool's own node identity, its own resources and outputs containers, and the grants on exactly those."""
        resources_name, outputs_name = self._config.pool_containers(self._config.pool(pool_id))
        key = f"pool-{pool_id}"
        identity = managedidentity.UserAssignedIdentity(
            f"{self._name}-{key}-identity",
            resource_name_=identity_name(self._config, self._stack, key),
            resource_group_name=self.resource_group_name,
            location=self._config.location,
            tags=self._tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        containers = {
            role: storage.BlobContainer(
                f"{self._name}-{key}-{role}-container",
                storage.BlobContainerArgs(
                    account_name=account.name,
                    resource_group_name=self.resource_group_name,
                    container_name=container_name,
                    public_access=storage.PublicAccess.NONE,
                ),
                pulumi.ResourceOptions(parent=self),
            )
            for role, container_name in (("resources", resources_name), ("outputs", outputs_name))
        }
        principal = identity.principal_id
        grants = self._declare_grants(
            [
                _Grant(
                    f"{key}-reads-resources",
                    principal,
                    "ServicePrincipal",
                    STORAGE_BLOB_DATA_READER,
                    containers["resources"].id,
                    new=True,
                ),
                _Grant(
                    f"{key}-writes-outputs",
                    principal,
                    "ServicePrincipal",
                    STORAGE_BLOB_DATA_CONTRIBUTOR,
                    containers["outputs"].id,
                    new=True,
                ),
                _Grant(
                    f"deployer-uploads-{key}-resources",
                    *deployer,
                    STORAGE_BLOB_DATA_CONTRIBUTOR,
                    containers["resources"].id,
                    new=True,
                ),
            ]
        )
        self.role_assignments.update(grants)
        access = NodeAccess(
            identity_id=identity.id,
            principal_id=principal,
            client_id=identity.client_id,
            resources_container_name=containers["resources"].name,
            resources_container_url=pulumi.Output.concat(self.blob_endpoint, containers["resources"].name),
            outputs_container_url=pulumi.Output.concat(self.blob_endpoint, containers["outputs"].name),
            own=True,
        )
        return access, grants[f"deployer-uploads-{key}-resources"]

    def _declare_registry_pulls(self) -> None:
        """``AcrPull`` for each pool's node identity on exactly the registries the pool lists, once per pair."""
        seen: set[tuple[str, str]] = set()
        grants: list[_Grant] = []
        for pool in self._config.pools:
            if pool.container is None:
                continue
            who = f"pool-{pool.id}" if pool.identity == "own" else "node"
            for registry in pool.container.registries:
                pair = (who, registry.resource_id.lower())
                if pair in seen:
                    continue
                seen.add(pair)
                grants.append(
                    _Grant(
                        f"{who}-pulls-{registry.name.lower()}",
                        self.node_access[pool.id].principal_id,
                        "ServicePrincipal",
                        ACR_PULL,
                        registry.resource_id,
                        new=True,
                    )
                )
        self.role_assignments.update(self._declare_grants(grants))

    def _declare_batch_account(
        self,
        account: storage.StorageAccount,
        node_identity: managedidentity.UserAssignedIdentity,
        account_identity: managedidentity.UserAssignedIdentity,
    ) -> batch.BatchAccount:
        config, stack = self._config, self._stack
        settings = config.batch_account
        child_name, child_opts = self._child(
            "batch-account", depends_on=[self.role_assignments["account-uses-storage"]]
        )
        batch_account = batch.BatchAccount(
            child_name,
            batch.BatchAccountArgs(
                account_name=self._subscription_id.apply(lambda sub: batch_account_name(config, stack, sub)),
                resource_group_name=self.resource_group_name,
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
                tags=self._tags,
            ),
            child_opts,
        )
        self.batch_account_name = batch_account.name
        self.batch_account_endpoint = pulumi.Output.concat("https://", batch_account.account_endpoint)
        return batch_account

    def _declare_private_endpoints(self, batch_account: batch.BatchAccount) -> list[network.PrivateEndpoint]:
        settings = self._config.batch_account.private_endpoint
        if settings is None:
            return []
        endpoints: list[network.PrivateEndpoint] = []
        # Clients call the account API; nodes without public IPs (simplified communication) use node management.
        for group in ("batchAccount", "nodeManagement"):
            endpoint_name, endpoint_opts = self._child(f"{group}-endpoint")
            endpoint = network.PrivateEndpoint(
                endpoint_name,
                network.PrivateEndpointArgs(
                    private_endpoint_name=private_endpoint_name(self._config, self._stack, group),
                    resource_group_name=self.resource_group_name,
                    location=self._config.location,
                    subnet=network.SubnetArgs(id=settings.subnet_id),
                    private_link_service_connections=[
                        network.PrivateLinkServiceConnectionArgs(
                            name=group, private_link_service_id=batch_account.id, group_ids=[group]
                        )
                    ],
                    tags=self._tags,
                ),
                endpoint_opts,
            )
            endpoints.append(endpoint)
            if settings.private_dns_zone_id is not None:
                dns_name, dns_opts = self._child(f"{group}-dns")
                network.PrivateDnsZoneGroup(
                    dns_name,
                    network.PrivateDnsZoneGroupArgs(
                        private_endpoint_name=endpoint.name,
                        resource_group_name=self.resource_group_name,
                        private_dns_zone_group_name="default",
                        private_dns_zone_configs=[
                            network.PrivateDnsZoneConfigArgs(
                                name="batch", private_dns_zone_id=settings.private_dns_zone_id
                            )
                        ],
                    ),
                    dns_opts,
                )
        return endpoints

    def _declare_blob_private_endpoint(self, account: storage.StorageAccount) -> list[pulumi.Resource]:
        settings = self._config.storage.private_endpoint
        if settings is None:
            return []
        endpoint_name, endpoint_opts = self._child("blob-endpoint")
        endpoint = network.PrivateEndpoint(
            endpoint_name,
            network.PrivateEndpointArgs(
                private_endpoint_name=storage_private_endpoint_name(self._config, self._stack, "blob"),
                resource_group_name=self.resource_group_name,
                location=self._config.location,
                subnet=network.SubnetArgs(id=settings.subnet_id),
                private_link_service_connections=[
                    network.PrivateLinkServiceConnectionArgs(
                        name="blob", private_link_service_id=account.id, group_ids=["blob"]
                    )
                ],
                tags=self._tags,
            ),
            endpoint_opts,
        )
        dns_name, dns_opts = self._child("blob-dns")
        zone_group = network.PrivateDnsZoneGroup(
            dns_name,
            network.PrivateDnsZoneGroupArgs(
                private_endpoint_name=endpoint.name,
                resource_group_name=self.resource_group_name,
                private_dns_zone_group_name="default",
                private_dns_zone_configs=[
                    network.PrivateDnsZoneConfigArgs(name="blob", private_dns_zone_id=settings.private_dns_zone_id)
                ],
            ),
            dns_opts,
        )
        return [endpoint, zone_group]
