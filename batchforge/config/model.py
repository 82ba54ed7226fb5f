"""The typed stack configuration: everything one ``Pulumi.<stack>.yaml`` can set under ``batchforge:``.

Parsed once at the edge (see :mod:`batchforge.config.loading`); the Pulumi program, the naming rules and
the local Batch service all read these models, never the raw YAML.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from batchforge.assets.confinement import source_escape
from batchforge.core.fields import FileMode

_POOL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,49}$")
_NAME_PREFIX = re.compile(r"^[a-z][a-z0-9]{1,9}$")
_VM_SIZE = re.compile(r"^(standard|basic)_[a-z0-9_-]+$", re.IGNORECASE)
_SUBNET_ID = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network/virtualNetworks/[^/]+/subnets/[^/]+$",
    re.IGNORECASE,
)
_DNS_ZONE_ID = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network/privateDnsZones/[^/]+$", re.IGNORECASE
)
_GALLERY_IMAGE_ID = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Compute/", re.IGNORECASE
)
_CONTAINER_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REGISTRY_ID = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.ContainerRegistry/registries/[A-Za-z0-9]{5,50}$",
    re.IGNORECASE,
)
_REGISTRY_SERVER = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+(:[0-9]+)?$", re.I)
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)


_DURATION = TypeAdapter(timedelta)


def _duration(value: object) -> object:
    """Accepts ISO 8601 (``PT15M``) or ``HH:MM:SS``; anything else gets one clear message."""
    if value is None or isinstance(value, timedelta):
        return value
    if isinstance(value, str) and value.strip():
        try:
            return _DURATION.validate_python(value.strip())
        except ValidationError:
            pass
    raise ValueError("must be a duration such as PT15M (ISO 8601) or 00:15:00")


def _between(value: timedelta, low: timedelta, high: timedelta) -> timedelta:
    if not low <= value <= high:
        raise ValueError(f"must be between {iso_duration(low)} and {iso_duration(high)}")
    return value


def iso_duration(value: timedelta) -> str:
    """ISO 8601 duration as ARM and the Batch REST API expect it: ``PT15M``, ``PT1H30M``, ``P1DT2H``."""
    seconds = int(value.total_seconds())
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    text = "P" + (f"{days}D" if days else "")
    clock = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + (f"{seconds}S" if seconds else "")
    if clock:
        text += "T" + clock
    return text if text != "P" else "PT0S"


class ResourceGroupConfig(_Strict):
    """Create the resource group (named from prefix and stack unless ``name`` is set), or use an existing one."""

    create: bool = True
    name: str | None = Field(default=None, min_length=1, max_length=90)

    @model_validator(mode="after")
    def _existing_needs_a_name(self) -> Self:
        if not self.create and not self.name:
            raise ValueError("name is required when create is false (the existing resource group to use)")
        return self


BLOB_PRIVATE_DNS_ZONE = "privatelink.blob.core.windows.net"


# What a storage IP rule cannot name: private (RFC 1918), shared (RFC 6598), loopback and link-local addresses.
_NON_PUBLIC_IPV4 = tuple(
    ipaddress.IPv4Network(block)
    for block in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16")
)


def _check_ip_rule(value: str) -> str:
    """A storage firewall IP rule: a public IPv4 address, or a public IPv4 CIDR range of /30 or wider."""
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise ValueError(f"'{value}' must be a public IPv4 address or CIDR range such as 203.0.113.0/24") from None
    if network.version != 4 or any(network.subnet_of(block) for block in _NON_PUBLIC_IPV4):
        raise ValueError(f"'{value}' must be a public IPv4 address or range (storage IP rules take no private ranges)")
    if "/" in value and network.prefixlen > 30:
        raise ValueError(
            f"'{value}': storage IP rules take ranges up to /30; write a single address without /31 or /32"
        )
    return value


class StoragePrivateEndpointConfig(_Strict):
    """A private endpoint for the storage account's blob service, registered in privatelink.blob.core.windows.net."""

    subnet_id: str
    private_dns_zone_id: str = Field(description=f"The {BLOB_PRIVATE_DNS_ZONE} private DNS zone")

    @field_validator("subnet_id")
    @classmethod
    def _subnet_arm_id(cls, value: str) -> str:
        return str(_check_subnet_id(value))

    @field_validator("private_dns_zone_id")
    @classmethod
    def _blob_zone(cls, value: str) -> str:
        if not _DNS_ZONE_ID.match(value) or value.rsplit("/", 1)[-1].lower() != BLOB_PRIVATE_DNS_ZONE:
            raise ValueError(
                "must be the resource id of the private DNS zone for blob endpoints: /subscriptions/<id>/"
                f"resourceGroups/<rg>/providers/Microsoft.Network/privateDnsZones/{BLOB_PRIVATE_DNS_ZONE}"
            )
        return value


class StorageConfig(_Strict):
    """The stack's storage account. ``publicNetworkAccess: Disabled`` (staging, prod) needs ``privateEndpoint``;
    with public access, ``allowedIpRanges`` limits it to those addresses (default: reachable from anywhere)."""

    sku: Literal["Standard_LRS", "Standard_ZRS", "Standard_GRS", "Standard_RAGRS"] = "Standard_LRS"
    resources_container: str = "resources"
    outputs_container: str = "outputs"
    public_network_access: Literal["Enabled", "Disabled"] = "Enabled"
    allowed_ip_ranges: list[Annotated[str, AfterValidator(_check_ip_rule)]] = Field(
        default_factory=list, description="Public IPv4 addresses/CIDR ranges allowed through the firewall"
    )
    private_endpoint: StoragePrivateEndpointConfig | None = None

    @model_validator(mode="after")
    def _private_path(self) -> Self:
        if self.public_network_access == "Disabled":
            if self.private_endpoint is None:
                raise ValueError(
                    "publicNetworkAccess Disabled needs privateEndpoint (subnetId and the "
                    f"{BLOB_PRIVATE_DNS_ZONE} privateDnsZoneId): without it nodes cannot download start-task "
                    "files or upload outputs, and the deploy runner cannot upload"
                )
            if self.allowed_ip_ranges:
                raise ValueError(
                    "allowedIpRanges has no effect with publicNetworkAccess Disabled (the firewall admits no public "
                    "address); remove it, or enable public network access"
                )
        return self

    @property
    def default_network_action(self) -> Literal["Allow", "Deny"]:
        """Deny unless the account is public without IP rules (dev's reachable-from-anywhere default)."""
        public_to_all = self.public_network_access == "Enabled" and not self.allowed_ip_ranges
        return "Allow" if public_to_all else "Deny"

    @field_validator("resources_container", "outputs_container")
    @classmethod
    def _container_name(cls, value: str) -> str:
        if not _CONTAINER_NAME.match(value) or "--" in value:
            raise ValueError("must be 3-63 lowercase letters, digits and single hyphens (a blob container name)")
        return value

    @model_validator(mode="after")
    def _distinct_containers(self) -> Self:
        if self.resources_container == self.outputs_container:
            raise ValueError("resourcesContainer and outputsContainer must differ (they get different access rights)")
        return self


def _check_subnet_id(value: str | None) -> str | None:
    if value is not None and not _SUBNET_ID.match(value):
        raise ValueError(
            "must be a subnet resource id: /subscriptions/<id>/resourceGroups/<rg>/providers/"
            "Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>"
        )
    return value


class PrivateEndpointConfig(_Strict):
    """Private endpoints for the Batch account (account API and node management) in an existing subnet."""

    subnet_id: str
    private_dns_zone_id: str | None = Field(
        default=None, description="The privatelink.batch.azure.com zone to register both endpoints in"
    )

    @field_validator("subnet_id")
    @classmethod
    def _subnet_arm_id(cls, value: str) -> str:
        return str(_check_subnet_id(value))

    @field_validator("private_dns_zone_id")
    @classmethod
    def _zone_id(cls, value: str | None) -> str | None:
        if value is not None and not _DNS_ZONE_ID.match(value):
            raise ValueError(
                "must be a private DNS zone resource id: /subscriptions/<id>/resourceGroups/<rg>/providers/"
                "Microsoft.Network/privateDnsZones/privatelink.batch.azure.com"
            )
        return value


class BatchAccountConfig(_Strict):
    public_network_access: Literal["Enabled", "Disabled"] = "Disabled"
    # Retired values stay in the Literals so config.lifecycle can refuse them naming the date and the replacement.
    allowed_authentication_modes: list[Literal["AAD", "SharedKey", "TaskAuthenticationToken"]] = Field(
        default_factory=lambda: ["AAD"], min_length=1
    )
    # UserSubscription needs a Key Vault and subscription-level grants this project does not manage.
    pool_allocation_mode: Literal["BatchService"] = "BatchService"
    private_endpoint: PrivateEndpointConfig | None = None

    @model_validator(mode="after")
    def _reachable(self) -> Self:
        if self.public_network_access == "Disabled" and self.private_endpoint is None:
            raise ValueError(
                "publicNetworkAccess Disabled needs privateEndpoint (nodes and clients reach the account through it)"
            )
        return self


class DeployerConfig(_Strict):
    """The principal that runs ``pulumi up`` for this stack (the pipeline's), granted the start-task uploads.

    Fixed per stack, so laptop and pipeline runs grant the same principal instead of replacing each
    other's assignment. Unset (laptops): the signed-in client is granted, as a ``User``.
    """

    principal_id: str = Field(description="Entra object id of the principal (not the app/client id)")
    principal_type: Literal["ServicePrincipal", "User", "Group"]

    @field_validator("principal_id")
    @classmethod
    def _object_id(cls, value: str) -> str:
        if not _GUID.match(value):
            raise ValueError("must be an Entra object id, a GUID such as 00000000-0000-0000-0000-000000000000")
        return value


class NetworkConfig(_Strict):
    """An existing subnet the pools join (the VNet is managed elsewhere, e.g. by a platform team)."""

    subnet_id: str | None = None

    @field_validator("subnet_id")
    @classmethod
    def _subnet_arm_id(cls, value: str | None) -> str | None:
        return _check_subnet_id(value)


class ImageConfig(_Strict):
    """A marketplace image (publisher, offer, sku, version) or an Azure Compute Gallery image id."""

    publisher: str | None = Field(default=None, min_length=1)
    offer: str | None = Field(default=None, min_length=1)
    sku: str | None = Field(default=None, min_length=1)
    version: str = "latest"
    gallery_image_id: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        marketplace = [self.publisher, self.offer, self.sku]
        if self.gallery_image_id is not None:
            if any(part is not None for part in marketplace):
                raise ValueError(
                    "set either publisher, offer and sku (a marketplace image) or galleryImageId, not both"
                )
            if not _GALLERY_IMAGE_ID.match(self.gallery_image_id):
                raise ValueError("galleryImageId must be a compute gallery image resource id (/subscriptions/...)")
        elif not all(part is not None for part in marketplace):
            raise ValueError("set publisher, offer and sku (a marketplace image) or galleryImageId")
        return self

    @property
    def is_marketplace(self) -> bool:
        return self.gallery_image_id is None


class ScaleConfig(_Strict):
    """Fixed size (dedicated and spot node counts) or autoscale (a formula); exactly one kind."""

    dedicated: int | None = Field(default=None, ge=0, le=2000)
    spot: int | None = Field(default=None, ge=0, le=2000, description="Spot/low-priority node count")
    resize_timeout: timedelta | None = None
    node_deallocation_option: Literal["Requeue", "Terminate", "TaskCompletion", "RetainedData"] | None = None
    formula: str | None = Field(default=None, min_length=1)
    evaluation_interval: timedelta | None = None

    @field_validator("resize_timeout", "evaluation_interval", mode="before")
    @classmethod
    def _parse_duration(cls, value: object) -> object:
        return _duration(value)

    @field_validator("resize_timeout")
    @classmethod
    def _resize_timeout_range(cls, value: timedelta | None) -> timedelta | None:
        if value is None:
            return value
        return _between(value, timedelta(minutes=5), timedelta(days=7))

    @field_validator("evaluation_interval")
    @classmethod
    def _evaluation_interval_range(cls, value: timedelta | None) -> timedelta | None:
        if value is None:
            return value
        return _between(value, timedelta(minutes=5), timedelta(hours=168))

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        fixed = [
            k
            for k, v in (
                ("dedicated", self.dedicated),
                ("spot", self.spot),
                ("resizeTimeout", self.resize_timeout),
                ("nodeDeallocationOption", self.node_deallocation_option),
            )
            if v is not None
        ]
        auto = [k for k, v in (("formula", self.formula), ("evaluationInterval", self.evaluation_interval)) if v]
        if fixed and auto:
            raise ValueError(
                f"fixed scale ({', '.join(fixed)}) and autoscale ({', '.join(auto)}) are both set; choose one"
            )
        if self.evaluation_interval is not None and self.formula is None:
            raise ValueError("evaluationInterval needs a formula")
        if not fixed and not auto:
            raise ValueError("set dedicated and/or spot (fixed size) or formula (autoscale)")
        return self

    @property
    def is_autoscale(self) -> bool:
        return self.formula is not None


class ResourceFileConfig(_Strict):
    """A file the start task needs: a file or folder in this repository, or an http(s) URL."""

    source: str = Field(min_length=1, description="Repo-relative file or folder, or an http(s) URL")
    file_path: str | None = Field(default=None, min_length=1, description="Where it lands, relative to the task dir")
    file_mode: FileMode | None = None

    @property
    def is_url(self) -> bool:
        return self.source.startswith(("http://", "https://"))

    @field_validator("source")
    @classmethod
    def _source_exists(cls, value: str, info: ValidationInfo) -> str:
        if value.startswith(("http://", "https://")):
            return value
        if "://" in value:
            raise ValueError("must be a path in this repository or an http(s) URL")
        relative = Path(value)
        if relative.is_absolute() or ".." in relative.parts:
            raise ValueError("must be a path inside this repository (relative, no '..')")
        root = (info.context or {}).get("repo_root")
        if root is not None and not (Path(root) / relative).exists():
            raise ValueError(f"no such file or folder in the repository: {value}")
        if root is not None and (escape := source_escape(Path(root), value)) is not None:
            raise ValueError(escape)
        return value


class StartTaskConfig(_Strict):
    command_line: str = Field(min_length=1)
    resource_files: list[ResourceFileConfig] = Field(default_factory=list)
    environment: dict[str, str] = Field(default_factory=dict)
    elevation: Literal["nonAdmin", "admin"] = "nonAdmin"
    auto_user_scope: Literal["pool", "task"] = "pool"
    wait_for_success: bool = True
    max_task_retry_count: int = Field(default=0, ge=-1, le=100)

    @field_validator("environment")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [name for name in value if not _ENV_NAME.match(name)]
        if bad:
            raise ValueError(f"environment variable names must be letters, digits and '_': {', '.join(bad)}")
        return value


class ContainerRegistryConfig(_Strict):
    """An Azure Container Registry, pulled from with the pool's managed identity (granted AcrPull on exactly
    this registry; never a username or password). ``server`` defaults to ``<name>.azurecr.io``."""

    resource_id: str = Field(
        description="/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.ContainerRegistry/registries/<name>"
    )
    server: str = Field(default="", description="Login server; default <registry name>.azurecr.io")

    @field_validator("resource_id")
    @classmethod
    def _registry_id(cls, value: str) -> str:
        if not _REGISTRY_ID.match(value):
            raise ValueError(
                "must be a container registry resource id: /subscriptions/<id>/resourceGroups/<rg>/providers/"
                "Microsoft.ContainerRegistry/registries/<name> (name: 5-50 letters and digits)"
            )
        return value

    @field_validator("server")
    @classmethod
    def _server_host(cls, value: str) -> str:
        if value and not _REGISTRY_SERVER.match(value):
            raise ValueError("must be a registry login server host name such as myregistry.azurecr.io (no scheme)")
        return value

    @property
    def name(self) -> str:
        return self.resource_id.rstrip("/").rsplit("/", 1)[-1]

    @model_validator(mode="after")
    def _login_server(self) -> Self:
        name = self.name.lower()
        if not self.server:
            # Frozen model: the derived default is set once, here, while the model is being built.
            object.__setattr__(self, "server", f"{name}.azurecr.io")
        elif not self.server.lower().startswith((f"{name}.", f"{name}-")):
            raise ValueError(
                f"server '{self.server}' is not the login server of registry '{self.name}' (expected "
                f"{name}.azurecr.io or {name}-<hash>.azurecr.io); leave server out to derive it"
            )
        return self


class ContainerConfig(_Strict):
    type: Literal["dockerCompatible", "criCompatible"] = "dockerCompatible"
    images: list[str] = Field(default_factory=list, description="Images to prefetch on every node")
    registries: list[ContainerRegistryConfig] = Field(default_factory=list)

    @field_validator("registries")
    @classmethod
    def _distinct_registries(cls, value: list[ContainerRegistryConfig]) -> list[ContainerRegistryConfig]:
        ids = [registry.resource_id.lower() for registry in value]
        servers = [registry.server.lower() for registry in value]
        if len(set(ids)) != len(ids) or len(set(servers)) != len(servers):
            raise ValueError("lists a registry twice (the same resourceId or server)")
        return value


class AzureBlobMountConfig(_Strict):
    """blobfuse mount of a container, authenticated with the pools' managed identity."""

    account_name: str = Field(min_length=3, max_length=24)
    container_name: str = Field(min_length=3, max_length=63)
    relative_mount_path: str = Field(min_length=1)
    blobfuse_options: str | None = None


class NfsMountConfig(_Strict):
    source: str = Field(min_length=1)
    relative_mount_path: str = Field(min_length=1)
    mount_options: str | None = None


class MountConfig(_Strict):
    azure_blob: AzureBlobMountConfig | None = None
    nfs: NfsMountConfig | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if (self.azure_blob is None) == (self.nfs is None):
            raise ValueError("set exactly one of azureBlob or nfs")
        return self


class TaskSchedulingPolicyConfig(_Strict):
    node_fill_type: Literal["Spread", "Pack"] = "Spread"


def is_container_name(value: str) -> bool:
    return bool(_CONTAINER_NAME.match(value)) and "--" not in value


def own_container_names(resources_container: str, outputs_container: str, pool_id: str) -> tuple[str, str]:
    """The resources and outputs containers of a pool with ``identity: own``: the stack's names plus the pool id."""
    slug = re.sub(r"-+", "-", pool_id.lower().replace("_", "-")).strip("-")
    return f"{resources_container}-{slug}", f"{outputs_container}-{slug}"


class PoolConfig(_Strict):
    id: str
    display_name: str | None = Field(default=None, max_length=1024)
    vm_size: str
    image: ImageConfig
    node_agent_sku_id: str = Field(description="e.g. 'batch.node.ubuntu 24.04'")
    scale: ScaleConfig
    task_slots_per_node: int = Field(default=1, ge=1, le=256)
    task_scheduling_policy: TaskSchedulingPolicyConfig = Field(default_factory=TaskSchedulingPolicyConfig)
    inter_node_communication: bool = False
    start_task: StartTaskConfig | None = None
    container: ContainerConfig | None = None
    mounts: list[MountConfig] = Field(default_factory=list)
    node_communication_mode: Literal["Default", "Classic", "Simplified"] = "Simplified"
    public_ips: bool = Field(default=True, description="false: nodes get no public IP (needs network.subnetId)")
    metadata: dict[str, str] = Field(default_factory=dict)
    identity: Literal["shared", "own"] = Field(
        default="shared",
        description="shared: the stack's node identity and containers; own: a node identity of this pool's own, "
        "granted only this pool's resources and outputs containers and registries",
    )
    drain_timeout: timedelta = Field(
        default=timedelta(hours=1),
        description="When the pool is replaced: how long running tasks may take to finish before the old pool goes",
    )

    @field_validator("drain_timeout", mode="before")
    @classmethod
    def _parse_drain_timeout(cls, value: object) -> object:
        return _duration(value)

    @field_validator("drain_timeout")
    @classmethod
    def _drain_timeout_range(cls, value: timedelta) -> timedelta:
        return _between(value, timedelta(0), timedelta(days=7))

    @field_validator("id")
    @classmethod
    def _pool_id(cls, value: str) -> str:
        if not _POOL_ID.match(value):
            raise ValueError("must be 1-50 letters, digits, '-' or '_', starting with a letter or digit")
        return value

    @field_validator("vm_size")
    @classmethod
    def _vm_size(cls, value: str) -> str:
        if not _VM_SIZE.match(value):
            raise ValueError("must be an Azure VM size such as Standard_D2s_v3")
        return value

    @field_validator("node_agent_sku_id")
    @classmethod
    def _node_agent(cls, value: str) -> str:
        if not value.startswith("batch.node."):
            raise ValueError("must be a Batch node agent SKU such as 'batch.node.ubuntu 24.04'")
        return value

    @model_validator(mode="after")
    def _public_ip_needs_simplified(self) -> Self:
        if not self.public_ips and self.node_communication_mode == "Classic":
            raise ValueError("publicIps: false needs nodeCommunicationMode Simplified or Default, not Classic")
        return self


class StackConfig(_Strict):
    """Everything one stack can set, under the ``batchforge:`` namespace of ``Pulumi.<stack>.yaml``."""

    location: str = Field(min_length=1, description="Azure region, e.g. westeurope")
    name_prefix: str = Field(description="2-10 lowercase letters/digits, starts with a letter; used in every name")
    tags: dict[str, str] = Field(default_factory=dict)
    resource_group: ResourceGroupConfig = Field(default_factory=ResourceGroupConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    batch_account: BatchAccountConfig
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    deployer: DeployerConfig | None = None
    pools: list[PoolConfig] = Field(min_length=1)
    workloads: list[str] = Field(default_factory=list, description="Workload files under workloads/ to submit")
    workload_deletion: Literal["terminate", "delete"] = "terminate"

    @model_validator(mode="before")
    @classmethod
    def _batch_account_defaults_are_validated(cls, data: object) -> object:
        # An omitted batchAccount is validated like an empty one: its secure default (no public network
        # access) needs a private endpoint, and the problem must point at batchAccount.
        if isinstance(data, dict) and "batchAccount" not in data and "batch_account" not in data:
            return {**data, "batchAccount": {}}
        return data

    @field_validator("name_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not _NAME_PREFIX.match(value):
            raise ValueError("must be 2-10 lowercase letters or digits, starting with a letter")
        return value

    @field_validator("tags")
    @classmethod
    def _azure_tags(cls, value: dict[str, str]) -> dict[str, str]:
        # Azure's limits (storage accounts are the strictest: 128-char names); one tag is added per stack.
        if len(value) > 49:
            raise ValueError("must have at most 49 tags (Azure allows 50; batchforge adds batchforge-stack)")
        for name, text in value.items():
            if not 1 <= len(name) <= 128 or any(c in name for c in "<>%&\\?/"):
                raise ValueError(f"tag name '{name}' must be 1-128 characters without < > % & \\ ? /")
            if len(text) > 256:
                raise ValueError(f"tag '{name}' value must be at most 256 characters")
        return value

    @field_validator("location")
    @classmethod
    def _location(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9]+", value):
            raise ValueError("must be an Azure region name such as westeurope (lowercase, no spaces)")
        return value

    @field_validator("workloads")
    @classmethod
    def _workload_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if "/" in name or "\\" in name or not name.endswith((".yaml", ".yml")):
                raise ValueError(f"must be file names under workloads/ ending in .yaml: {name}")
        if len(set(value)) != len(value):
            raise ValueError("lists a workload twice")
        return value

    def pool_containers(self, pool: PoolConfig) -> tuple[str, str]:
        """The (resources, outputs) container names the pool's tasks and start task use."""
        storage = self.storage
        if pool.identity == "own":
            return own_container_names(storage.resources_container, storage.outputs_container, pool.id)
        return storage.resources_container, storage.outputs_container

    def pool(self, pool_id: str) -> PoolConfig:
        for pool in self.pools:
            if pool.id == pool_id:
                return pool
        raise KeyError(pool_id)
