"""Finds and kills a node's processes that outlived their run: after a service restart (a node
"reboot"), or when a node is removed. A task process is recognised by the node root in its
environment (AZ_BATCH_NODE_ROOT_DIR), which its children inherit, so no bookkeeping is needed
while tasks run.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

from batchforge.localbatch.execution.model import NodeContext

_PROC = Path("/proc")


def _environment_of(pid: int) -> dict[bytes, bytes]:
    try:
        raw = (_PROC / str(pid) / "environ").read_bytes()
    except OSError:  # gone meanwhile, or another user's process
        return {}
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {name: value for name, value in pairs}


def node_process_ids(node: NodeContext) -> list[int]:
    """Ids of the live processes started by task runs on this node (and their descendants)."""
    root = os.fsencode(str(node.node_root))
    own = os.getpid()
    found = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == own:
            continue
        if _environment_of(int(entry.name)).get(b"AZ_BATCH_NODE_ROOT_DIR") == root:
            found.append(int(entry.name))
    return found


def kill_node_processes(node: NodeContext) -> int:
    """Kills every process left running by task runs on this node; returns how many were signalled."""
    killed = 0
    for pid in node_process_ids(node):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
            killed += 1
    return killed


def kill_task_processes(task_dirs: list[str]) -> int:
    """Kills the processes of these runs (by AZ_BATCH_TASK_DIR): what a crashed node agent left behind."""
    wanted = {os.fsencode(d) for d in task_dirs}
    own = os.getpid()
    killed = 0
    for entry in _PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == own:
            continue
        if _environment_of(int(entry.name)).get(b"AZ_BATCH_TASK_DIR") in wanted:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
    return killed
