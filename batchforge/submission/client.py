"""Clients for a `BatchTarget`: the Batch data-plane client and the resources container, with the right credential.

Entra ID (DefaultAzureCredential) on Azure; Shared Key only for the local Batch service and Azurite.
Credentials are resolved here, at call time, and never stored anywhere else.
"""

from __future__ import annotations

import requests
from azure.batch import BatchClient
from azure.core.credentials import AzureNamedKeyCredential, TokenCredential
from azure.core.pipeline.transport import RequestsTransport
from azure.storage.blob import ContainerClient
from requests.adapters import HTTPAdapter

from batchforge.submission.target import BatchTarget, EntraIdAuth, SharedKeyAuth

# Enough pooled keep-alive connections for the engine's concurrent add-task-collection requests
# (requests' default of 10 would make every extra worker open and drop a connection per request).
DEFAULT_CONNECTION_POOL_SIZE = 64


def credential_for(auth: SharedKeyAuth | EntraIdAuth) -> AzureNamedKeyCredential | TokenCredential:
    """The azure-core credential for one auth setting."""
    if isinstance(auth, SharedKeyAuth):
        return AzureNamedKeyCredential(auth.account_name, auth.account_key.get_secret_value())
    # Imported lazily: azure-identity is only needed against Azure.
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


def pooled_transport(pool_size: int = DEFAULT_CONNECTION_POOL_SIZE) -> RequestsTransport:
    """An HTTP transport whose keep-alive pool fits ``pool_size`` concurrent requests to one host."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return RequestsTransport(session=session, session_owner=True)


def make_batch_client(target: BatchTarget, *, pool_size: int = DEFAULT_CONNECTION_POOL_SIZE) -> BatchClient:
    """A Batch client for the target's account: Shared Key for the local service, Entra ID for Azure."""
    return BatchClient(
        endpoint=target.account_endpoint,
        credential=credential_for(target.auth),
        transport=pooled_transport(pool_size),
    )


def make_resources_container_client(target: BatchTarget) -> ContainerClient:
    """A client for the container that task input files are uploaded to, authenticated as ``target.blob_auth``."""
    return ContainerClient.from_container_url(
        target.resources_container_url, credential=credential_for(target.blob_auth)
    )
