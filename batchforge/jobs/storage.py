"""The outputs container as the CLI reads it: task logs after completion and downloads of task outputs.

Authenticated as the account's blob auth: Shared Key for the local service's Azurite, Entra ID
(DefaultAzureCredential) on Azure, where the caller needs the "Storage Blob Data Reader" role on the
outputs container (or the storage account).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit, urlunsplit

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from batchforge.core.outcomes import CliError, ExitCode
from batchforge.submission.target import EntraIdAuth, SharedKeyAuth

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient


def without_query(url: str) -> str:
    """A container URL without any SAS query string (never printed, never needed with our own credentials)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


class BlobStore(Protocol):
    def read(self, container_url: str, blob_name: str, offset: int = 0) -> bytes | None: ...

    def names(self, container_url: str, prefix: str) -> Iterator[str]: ...

    def download(self, container_url: str, blob_name: str, path: Path) -> int: ...


class AzureBlobStore:
    """A :class:`BlobStore` over azure-storage-blob with the target's own credential."""

    def __init__(self, auth: SharedKeyAuth | EntraIdAuth) -> None:
        self._auth = auth

    def _container(self, container_url: str) -> ContainerClient:
        from azure.storage.blob import ContainerClient

        from batchforge.submission.client import credential_for

        return ContainerClient.from_container_url(without_query(container_url), credential=credential_for(self._auth))

    def read(self, container_url: str, blob_name: str, offset: int = 0) -> bytes | None:
        """The blob's bytes from ``offset`` on; None when it does not exist; b"" when nothing is past ``offset``."""
        # Each client is closed after use: an idle keep-alive connection left in its pool outlives
        # the local Azurite it points at and keeps that Azurite's port in FIN-WAIT-2.
        with self._container(container_url) as container:
            try:
                return bytes(container.get_blob_client(blob_name).download_blob(offset=offset or None).readall())
            except ResourceNotFoundError:
                return None
            except HttpResponseError as error:
                if error.status_code == 416:  # nothing past the offset yet
                    return b""
                raise

    def names(self, container_url: str, prefix: str) -> Iterator[str]:
        with self._container(container_url) as container:
            yield from container.list_blob_names(name_starts_with=prefix)

    def download(self, container_url: str, blob_name: str, path: Path) -> int:
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._container(container_url) as container, path.open("wb") as out:
            return int(container.get_blob_client(blob_name).download_blob().readinto(out))


def confined_path(root: Path, relative: str) -> Path:
    """``root / relative`` for a blob name, refusing names that would leave ``root`` (``..``, absolute)."""
    parts = PurePosixPath(relative).parts
    if not parts or any(part in ("..", "") for part in parts) or PurePosixPath(relative).is_absolute():
        raise CliError(f"refusing to write blob '{relative}' outside {root}", ExitCode.INVALID_INPUT)
    return root.joinpath(*parts)
