"""What a run that failed on the sandbox's read-only host file system is told (see localbatch.sandbox)."""

from __future__ import annotations

import os
from typing import BinaryIO

SANDBOX_VARIABLE = "LOCALBATCH_SANDBOXED"
_READ_ONLY = b"Read-only file system"
_TAIL_BYTES = 64 * 1024

HINT = (
    "localbatch: this node runs in a sandbox: the host's file system is read-only to tasks and start tasks "
    "(only the node's own folders, /tmp and the task's HOME are writable), so installing software on this "
    "machine fails here instead of changing it. Install into $AZ_BATCH_NODE_SHARED_DIR or the working directory, "
    "or start the service with `localbatch serve --allow-host-changes` to run nodes unsandboxed.\n"
)


def sandboxed() -> bool:
    return os.environ.get(SANDBOX_VARIABLE) == "1"


def explain_read_only(stderr_path: str, stderr: BinaryIO, exit_code: int) -> None:
    """Appends the hint to a failed run's stderr.txt when the run met the read-only file system."""
    if exit_code == 0 or not sandboxed():
        return
    stderr.flush()
    try:
        with open(stderr_path, "rb") as written:
            written.seek(max(os.path.getsize(stderr_path) - _TAIL_BYTES, 0))
            met = _READ_ONLY in written.read()
    except OSError:
        return
    if met:
        stderr.write(HINT.encode())
