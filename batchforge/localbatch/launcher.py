"""The local service's surface for the rest of batchforge: start and stop it, find a running one, and where
its nodes keep their folders. Everything else reaches the service only through the Batch REST API.
"""

from __future__ import annotations

from pathlib import Path

from batchforge.localbatch.config import ServiceConfig, config_path, read_service_file
from batchforge.localbatch.entities import key_of
from batchforge.localbatch.execution.containers import AUTO as AUTO_CONTAINER_RUNTIME
from batchforge.localbatch.execution.containers import CONTAINER_RUNTIME_UNAVAILABLE
from batchforge.localbatch.execution.containers import INSTALL_HINT as CONTAINER_RUNTIME_INSTALL_HINT
from batchforge.localbatch.execution.containers import find_runtime as find_container_runtime
from batchforge.localbatch.execution.layout import JOB_FOLDER, STDERR_FILE, STDOUT_FILE
from batchforge.localbatch.testing import LocalBatch, LocalBatchError

__all__ = [
    "AUTO_CONTAINER_RUNTIME",
    "CONTAINER_RUNTIME_INSTALL_HINT",
    "CONTAINER_RUNTIME_UNAVAILABLE",
    "JOB_FOLDER",
    "STDERR_FILE",
    "STDOUT_FILE",
    "LocalBatch",
    "LocalBatchError",
    "ServiceConfig",
    "config_path",
    "find_container_runtime",
    "node_root",
    "read_service_file",
]


def node_root(data_dir: Path, pool_id: str, node_id: str) -> Path:
    """The folder of a node (shared/, startup/, workitems/), as the service lays it out in its data dir."""
    return data_dir / "nodes" / key_of(pool_id) / node_id
