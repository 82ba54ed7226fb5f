"""On job terminate, the job's running tasks are killed first; job release runs once they are gone."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from datetime import timedelta
from pathlib import Path

from scheduler_harness import ScriptedExecutor, add_pool, idle_nodes, outcome, running_scheduler, wait_until

from batchforge.localbatch.agents import NodeAgents
from batchforge.localbatch.execution import ExecutionOutcome, NodeContext, TaskRun
from batchforge.localbatch.scheduler.executors import InProcess


def test_job_release_starts_after_the_running_tasks_are_killed(tmp_path: Path) -> None:
    async def behaviour(node: NodeContext, run: TaskRun, limit: timedelta | None) -> ExecutionOutcome:
        if run.kind == "task":
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                await asyncio.sleep(0.3)  # a process that takes a while to die
                executor.events.append(("killed", run.kind, run.task_id, node.node_id))
                raise
        return outcome(node, run)

    executor = ScriptedExecutor(behaviour)

    async def scenario() -> None:
        async with running_scheduler(tmp_path, executor) as (account, _):
            add_pool(account, nodes=1, slots=2)
            await idle_nodes(account, count=1)
            job = account.create_job(
                {
                    "id": "ending",
                    "poolInfo": {"poolId": "p"},
                    "jobPreparationTask": {"commandLine": "prep"},
                    "jobReleaseTask": {"commandLine": "release"},
                }
            )
            account.add_task(job, {"id": "long", "commandLine": "sleep"})
            await wait_until(lambda: job.tasks["ending/long"].state == "running", what="the task running")
            account.terminate_job("ending", None)
            await wait_until(lambda: job.state == "completed", what="the job completed")

    asyncio.run(scenario())
    order = [event[:3] for event in executor.events]
    assert ("killed", "task", "long") in order
    assert order.index(("killed", "task", "long")) < order.index(("start", "jobrelease", "jobrelease"))


def _started(pid_file: Path) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if pid_file.exists() and pid_file.read_text().strip():
            return int(pid_file.read_text())
        time.sleep(0.01)
    raise TimeoutError("the task did not start")


def _run_and_cancel(tmp_path: Path, make_executor: str) -> bool:
    """Cancel a running `sleep` and say whether its process was still there once the cancel returned."""
    from scheduler_harness import STORAGE

    node = NodeContext(account_name="a", pool_id="p", node_id="n", node_root=tmp_path / "n", storage=STORAGE)
    pid_file = tmp_path / "pid"
    run = TaskRun(
        kind="task",
        job_id="j",
        task_id="t",
        spec={"id": "t", "commandLine": f"/bin/sh -c 'echo $$ > {pid_file}; exec sleep 30'"},
    )

    async def scenario() -> bool:
        executor = NodeAgents(1) if make_executor == "agents" else InProcess()
        try:
            handle = asyncio.get_running_loop().create_task(executor.run(node, run, None))
            pid = await asyncio.to_thread(_started, pid_file)
            handle.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await handle
            return os.path.exists(f"/proc/{pid}")
        finally:
            await executor.close()

    return asyncio.run(scenario())


def test_a_cancelled_agent_run_returns_only_once_its_process_is_gone(tmp_path: Path) -> None:
    assert _run_and_cancel(tmp_path, "agents") is False


def test_a_cancelled_in_process_run_returns_only_once_its_process_is_gone(tmp_path: Path) -> None:
    assert _run_and_cancel(tmp_path, "in-process") is False
