"""Finding a running local Batch service from its data directory: endpoint, account key, storage.

The service writes its settings (account name and key, Azurite account) to ``localbatch.json`` and,
while it runs, its endpoint to ``service.json``; both live in the data directory with mode 0600.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from batchforge.core.outcomes import CliError, ExitCode
from batchforge.localbatch.launcher import ServiceConfig, config_path, node_root, read_service_file
from batchforge.submission.target import BatchTarget, SharedKeyAuth

DEFAULT_RESOURCES_CONTAINER = "resources"
DEFAULT_OUTPUTS_CONTAINER = "outputs"


@dataclass(frozen=True)
class LocalService:
    """A running local Batch service and its Azurite storage account, as a client needs them."""

    data_dir: Path
    endpoint: str
    account_name: str
    account_key: str
    storage_account: str
    storage_key: str
    blob_endpoint: str
    pid: int | None = None

    def target(
        self,
        pool_ids: dict[str, str] | None = None,
        resources_container: str = DEFAULT_RESOURCES_CONTAINER,
        outputs_container: str = DEFAULT_OUTPUTS_CONTAINER,
    ) -> BatchTarget:
        blob = SharedKeyAuth(account_name=self.storage_account, account_key=SecretStr(self.storage_key))
        return BatchTarget(
            account_endpoint=self.endpoint,
            auth=SharedKeyAuth(account_name=self.account_name, account_key=SecretStr(self.account_key)),
            pool_ids=pool_ids or {},
            resources_container_url=f"{self.blob_endpoint.rstrip('/')}/{resources_container}",
            outputs_container_url=f"{self.blob_endpoint.rstrip('/')}/{outputs_container}",
            blob_auth=blob,
        )

    def ensure_containers(self, *names: str) -> None:
        """Creates blob containers the run uploads to or tasks write to (Azurite starts empty)."""
        from azure.core.exceptions import ResourceExistsError
        from azure.storage.blob import BlobServiceClient

        with BlobServiceClient(
            self.blob_endpoint, credential={"account_name": self.storage_account, "account_key": self.storage_key}
        ) as blobs:
            for name in names:
                with contextlib.suppress(ResourceExistsError):
                    blobs.create_container(name)

    def node_root(self, pool_id: str, node_id: str) -> Path | None:
        """The node's folder (shared/, startup/, workitems/) as the local service lays it out."""
        root = node_root(self.data_dir, pool_id, node_id)
        return root if root.is_dir() else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_running_service(data_dir: Path) -> LocalService | None:
    """The service recorded in ``data_dir`` if its process is alive, else None."""
    info = read_service_file(data_dir)
    if not info or not config_path(data_dir).is_file():
        return None
    pid = info.get("pid")
    if isinstance(pid, int) and not _pid_alive(pid):
        return None
    config = ServiceConfig.model_validate_json(config_path(data_dir).read_text())
    endpoint = info.get("endpoint") or info.get("url")
    if not isinstance(endpoint, str) or config.storage is None:
        return None
    return LocalService(
        data_dir=data_dir,
        endpoint=endpoint,
        account_name=config.account_name,
        account_key=config.account_key,
        storage_account=config.storage.account_name,
        storage_key=config.storage.account_key,
        blob_endpoint=config.storage.blob_endpoint,
        pid=pid if isinstance(pid, int) else None,
    )


def running_service_or_fail(data_dir: Path | None) -> LocalService:
    directory = (data_dir or Path(".localbatch")).resolve()
    service = find_running_service(directory)
    if service is None:
        raise CliError(
            f"no local Batch service is running with data dir {directory}; "
            "start one with `batchctl local up --keep` (or `localbatch serve`)",
            ExitCode.NOT_FOUND,
        )
    return service


def local_target(data_dir: Path | None) -> BatchTarget:
    """The target for ``--local``: the running service in ``data_dir`` (pool ids come from flags)."""
    return running_service_or_fail(data_dir).target()
