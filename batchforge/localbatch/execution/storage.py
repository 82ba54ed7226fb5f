"""Blob access from a node: which credential a URL gets, and clients for Azurite.

A URL that carries a SAS is used as given. A URL on the node's own (linked, Azurite) storage
account without a SAS gets the account key: locally the key stands in for the managed identity a
pool would use on Azure, so definitions that rely on ``identityReference`` work unchanged.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from azure.core.credentials import AzureNamedKeyCredential
from azure.storage.blob import BlobClient, ContainerClient

from batchforge.localbatch.execution.model import StorageAccess

_LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}
# Fail fast on a dead endpoint: a resource file either comes or the task fails with a clear code.
_CLIENT_OPTIONS: dict[str, Any] = {"connection_timeout": 10, "read_timeout": 60, "retry_total": 2}


def has_sas(url: str) -> bool:
    return "sig" in parse_qs(urlsplit(url).query)


def _host_key(host: str | None) -> str:
    host = (host or "").lower()
    return "127.0.0.1" if host in _LOOPBACK_NAMES else host


def is_on_storage_account(url: str, storage: StorageAccess) -> bool:
    """True for a URL under the node's storage account endpoint (loopback spellings are equal)."""
    target, endpoint = urlsplit(url), urlsplit(storage.blob_endpoint)
    if target.scheme != endpoint.scheme or target.port != endpoint.port:
        return False
    if _host_key(target.hostname) != _host_key(endpoint.hostname):
        return False
    prefix = endpoint.path.rstrip("/") + "/"
    return target.path.startswith(prefix)


def credential_for(url: str, storage: StorageAccess) -> AzureNamedKeyCredential | None:
    if has_sas(url) or not is_on_storage_account(url, storage):
        return None
    return AzureNamedKeyCredential(storage.account_name, storage.account_key)


def is_blob_url(url: str, storage: StorageAccess) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return is_on_storage_account(url, storage) or host.endswith(".blob.core.windows.net")


def blob_client(url: str, storage: StorageAccess) -> BlobClient:
    return BlobClient.from_blob_url(url, credential=credential_for(url, storage), **_CLIENT_OPTIONS)


def container_client(url: str, storage: StorageAccess) -> ContainerClient:
    return ContainerClient.from_container_url(url, credential=credential_for(url, storage), **_CLIENT_OPTIONS)


def auto_storage_container(name: str, storage: StorageAccess) -> ContainerClient:
    return ContainerClient(
        account_url=storage.blob_endpoint,
        container_name=name,
        credential=AzureNamedKeyCredential(storage.account_name, storage.account_key),
        **_CLIENT_OPTIONS,
    )


def without_query(url: str) -> str:
    """A URL safe to log: the SAS (the query string) removed."""
    return url.split("?", 1)[0]
