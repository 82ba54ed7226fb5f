"""A scheduler on the test's own event loop with a scripted executor: exact control over when runs
start, end and die, for the scheduler tests that are about ordering."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from batchforge.localbatch import execution
from batchforge.localbatch.account import Account
from batchforge.localbatch.execution import ExecutionOutcome, NodeContext, StorageAccess, TaskRun
from batchforge.localbatch.scheduler import Scheduler
from batchforge.localbatch.store import Store

Behaviour = Callable[[NodeContext, TaskRun, timedelta | None], Awaitable[ExecutionOutcome]]
STORAGE = StorageAccess(account_name="nostorage", account_key="bm90LWEta2V5", blob_endpoint="http://127.0.0.1:9/x")


def outcome(node: NodeContext, run: TaskRun, exit_code: int = 0) -> ExecutionOutcome:
    when = datetime.now(UTC)
    return ExecutionOutcome(
        exit_code=exit_code,
        result="success" if exit_code == 0 else "failure",
        failure_info=None if exit_code == 0 else {"category": "usererror", "code": "FailureExitCode", "message": ""},
        start_time=when,
        end_time=when,
        task_dir=execution.task_dir(node, run),
        timed_out=False,
    )


async def succeed(node: NodeContext, run: TaskRun, limit: timedelta | None) -> ExecutionOutcome:
    await asyncio.sleep(0)
    return outcome(node, run)


class ScriptedExecutor:
    """Runs every TaskRun through ``behaviour`` and records (event, kind, task id, node id) tuples."""

    def __init__(self, behaviour: Behaviour = succeed) -> None:
        self.behaviour = behaviour
        self.events: list[tuple[str, str, str, str]] = []

    async def run(self, node: NodeContext, run: TaskRun, limit: timedelta | None) -> ExecutionOutcome:
        self.events.append(("start", run.kind, run.task_id, node.node_id))
        result = await self.behaviour(node, run, limit)
        self.events.append(("end", run.kind, run.task_id, node.node_id))
        return result

    async def close(self) -> None:
        return None


@contextlib.asynccontextmanager
async def running_scheduler(data_dir: Path, executor: Any) -> AsyncIterator[tuple[Account, Scheduler]]:
    account = Account(Store(data_dir / "state.sqlite"), "testaccount")
    account.load()
    scheduler = Scheduler(account, data_dir, STORAGE, "http://127.0.0.1:9", executor=executor)
    runner = asyncio.get_running_loop().create_task(scheduler.run())
    try:
        yield account, scheduler
    finally:
        await scheduler.stop()
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner


async def wait_until(condition: Callable[[], Any], *, timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def add_pool(account: Account, pool_id: str = "p", *, nodes: int = 2, slots: int = 2) -> None:
    account.create_pool(
        {"id": pool_id, "vmSize": "standard_d2s_v3", "targetDedicatedNodes": nodes, "taskSlotsPerNode": slots}
    )


async def idle_nodes(account: Account, pool_id: str = "p", count: int = 2) -> None:
    def ready() -> bool:
        pool = account.pools.get(pool_id)
        return pool is not None and len(pool.nodes) == count and all(n.state == "idle" for n in pool.nodes.values())

    await wait_until(ready, what="idle nodes")
