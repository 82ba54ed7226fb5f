"""Spots pools that cannot run anything (start task failed, nodes unusable, autoscale or resize errors).

Without this a run would wait for its timeout on a pool whose every node failed its start task; with
it, the run stops early and says which node failed and where its start task's stderr is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from azure.batch import models as batch_models

_BROKEN_NODE_STATES = frozenset({"starttaskfailed", "unusable"})
# Node states from which a node may still become able to run tasks.
_HOPEFUL_NODE_STATES = frozenset(
    {
        "idle",
        "running",
        "creating",
        "starting",
        "waitingforstarttask",
        "rebooting",
        "reimaging",
        "upgradingos",
        "unknown",
    }
)

NodeRootLocator = Callable[[str, str], Path | None]


class PoolReader(Protocol):
    def get_pool(self, pool_id: str, **kwargs: Any) -> batch_models.BatchPool: ...

    def list_nodes(self, pool_id: str, **kwargs: Any) -> Iterable[batch_models.BatchNode]: ...


@dataclass(frozen=True)
class PoolProblem:
    """Something that keeps a pool from running tasks, with where to look next."""

    pool_id: str
    message: str
    look_at: str | None = None

    def __str__(self) -> str:
        text = f"pool {self.pool_id}: {self.message}"
        return f"{text}; see {self.look_at}" if self.look_at else text


def _text(value: object) -> str:
    return str(getattr(value, "value", value) or "")


def _start_task_logs(pool_id: str, node_id: str, node_root: NodeRootLocator) -> str:
    root = node_root(pool_id, node_id)
    if root is not None:
        return str(root / "startup" / "stderr.txt")
    return f"startup/stderr.txt on node {node_id} (node files API or Batch Explorer)"


def _node_problem(pool_id: str, node: batch_models.BatchNode, node_root: NodeRootLocator) -> PoolProblem:
    state = _text(node.state)
    if state == "starttaskfailed":
        info = node.start_task_info
        exit_code = info.exit_code if info is not None else None
        failure = info.failure_info.message if info is not None and info.failure_info is not None else None
        detail = f"exit code {exit_code}" if exit_code is not None else (failure or "no exit code")
        return PoolProblem(
            pool_id, f"start task failed on node {node.id} ({detail})", _start_task_logs(pool_id, node.id, node_root)
        )
    errors = "; ".join(f"{error.code}: {error.message}" for error in node.errors or [] if error.code) or "no details"
    return PoolProblem(pool_id, f"node {node.id} is unusable ({errors})")


def _pool_errors(pool: batch_models.BatchPool) -> list[PoolProblem]:
    problems = [
        PoolProblem(pool.id, f"resize error {error.code}: {error.message}") for error in pool.resize_errors or []
    ]
    run = pool.auto_scale_run
    if run is not None and run.error is not None:
        problems.append(PoolProblem(pool.id, f"autoscale formula error {run.error.code}: {run.error.message}"))
    return problems


def blocking_problems(client: PoolReader, pool_ids: Sequence[str], node_root: NodeRootLocator) -> list[PoolProblem]:
    """Problems of pools that cannot make progress: nodes exist and none of them can run a task.

    A pool with some healthy nodes is not blocked (tasks still run); a pool with no nodes yet is only
    blocked when the service reported a resize or autoscale error.
    """
    found: list[PoolProblem] = []
    for pool_id in pool_ids:
        pool = client.get_pool(pool_id)
        nodes = list(client.list_nodes(pool_id))
        if any(_text(node.state) in _HOPEFUL_NODE_STATES for node in nodes):
            continue
        broken = [node for node in nodes if _text(node.state) in _BROKEN_NODE_STATES]
        if broken:
            found.extend(_node_problem(pool_id, node, node_root) for node in broken)
        elif not nodes:
            found.extend(_pool_errors(pool))
    return found


def node_warnings(client: PoolReader, pool_ids: Sequence[str], node_root: NodeRootLocator) -> list[PoolProblem]:
    """Every node that failed its start task or is unusable, even when other nodes kept the pool going."""
    found: list[PoolProblem] = []
    for pool_id in pool_ids:
        for node in client.list_nodes(pool_id):
            if _text(node.state) in _BROKEN_NODE_STATES:
                found.append(_node_problem(pool_id, node, node_root))
    return found
