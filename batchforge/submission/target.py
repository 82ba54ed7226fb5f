"""Where a submission goes: one Batch account and its storage, as the deployed stack describes it.

Built from the Pulumi stack's outputs (Azure) or from the local Batch service's settings (laptop),
so the same workload definitions build the same jobs in both places.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class SharedKeyAuth(BaseModel):
    """Shared Key auth: used only for the local Batch service, never for Azure."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["shared-key"] = "shared-key"
    account_name: str
    account_key: SecretStr


class EntraIdAuth(BaseModel):
    """Microsoft Entra ID through DefaultAzureCredential (Azure CLI, workload identity, managed identity)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["entra-id"] = "entra-id"


class PoolAccess(BaseModel):
    """A pool with a node identity of its own (``identity: own``): the containers and identity its tasks use."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pool: str = Field(description="Pool id as written in the stack config")
    resources_container_url: str
    outputs_container_url: str
    identity_resource_id: str


class BatchTarget(BaseModel):
    """A deployed Batch account and what a job needs to know about it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    account_endpoint: str = Field(description="Batch account URL, e.g. https://acct.westeurope.batch.azure.com")
    auth: SharedKeyAuth | EntraIdAuth = Field(discriminator="kind")
    pool_ids: dict[str, str] = Field(
        description="Pool id as written in the stack config -> the pool's id in the Batch account"
    )
    resources_container_url: str = Field(description="Blob container URL holding uploaded input files")
    outputs_container_url: str = Field(description="Blob container URL that task output files upload to")
    identity_resource_id: str | None = Field(
        default=None,
        description="ARM id of the user-assigned identity on the pools, for identityReference on storage access",
    )
    stack: str | None = Field(
        default=None, description="The Pulumi stack the account belongs to, recorded on every job it submits"
    )
    blob_auth: SharedKeyAuth | EntraIdAuth = Field(
        default_factory=EntraIdAuth,
        discriminator="kind",
        description="How the submitter itself uploads local input files to the resources container",
    )
    pool_access: list[PoolAccess] = Field(
        default_factory=list,
        description="Pools with their own node identity and containers; every other pool uses the fields above",
    )

    def for_pool(self, pool_key: str) -> BatchTarget:
        """The target as a job on ``pool_key`` sees it: that pool's containers and identity when it has its own."""
        for access in self.pool_access:
            if access.pool == pool_key:
                return self.model_copy(
                    update={
                        "resources_container_url": access.resources_container_url,
                        "outputs_container_url": access.outputs_container_url,
                        "identity_resource_id": access.identity_resource_id,
                    }
                )
        return self
