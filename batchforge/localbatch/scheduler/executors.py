"""Where runs execute: the node agent processes, or this process (LOCALBATCH_NODE_AGENTS=0).
Tests hand the scheduler their own `Executor` to control timing exactly."""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

from batchforge.localbatch import execution
from batchforge.localbatch.agents import NodeAgents, agent_count
from batchforge.localbatch.execution import ExecutionOutcome, NodeContext, TaskRun
from batchforge.localbatch.sandbox import node_sandbox
from batchforge.localbatch.workers import install_child_watcher


class Executor(Protocol):
    async def run(self, node: NodeContext, run: TaskRun, limit: timedelta | None) -> ExecutionOutcome: ...

    async def close(self) -> None: ...


class InProcess:
    def __init__(self) -> None:
        install_child_watcher()

    async def run(self, node: NodeContext, run: TaskRun, limit: timedelta | None) -> ExecutionOutcome:
        return await execution.run_task(node, run, max_wall_clock=limit)

    async def close(self) -> None:
        return None


def default_executor() -> Executor:
    """Must be called on the running event loop (the agents register their pipes with it)."""
    count = agent_count()
    sandbox = node_sandbox()
    return NodeAgents(count, sandbox=sandbox) if count or sandbox else InProcess()
