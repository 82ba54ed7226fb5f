"""Job preparation runs on a node only when a task of the job is scheduled there, before that task."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from scheduler_harness import ScriptedExecutor, add_pool, idle_nodes, outcome, running_scheduler, wait_until

from batchforge.localbatch.execution import ExecutionOutcome, NodeContext, TaskRun


def test_job_preparation_runs_only_on_the_node_a_task_was_given(tmp_path: Path) -> None:
    prep_may_end = asyncio.Event()

    async def behaviour(node: NodeContext, run: TaskRun, limit: timedelta | None) -> ExecutionOutcome:
        if run.kind == "jobprep":
            await prep_may_end.wait()
        return outcome(node, run)

    executor = ScriptedExecutor(behaviour)

    async def scenario() -> None:
        async with running_scheduler(tmp_path, executor) as (account, _):
            add_pool(account, nodes=2, slots=2)
            await idle_nodes(account)
            job = account.create_job(
                {
                    "id": "prepared",
                    "poolInfo": {"poolId": "p"},
                    "jobPreparationTask": {"commandLine": "prep"},
                }
            )
            account.add_task(job, {"id": "only", "commandLine": "true"})
            task = job.tasks["prepared/only"]
            await wait_until(lambda: task.state == "preparing", what="the task waiting for its preparation")
            prep_may_end.set()
            await wait_until(lambda: task.state == "completed", what="the task")
            nodes = list(account.pools["p"].nodes.values())
            prepared = [n.id for n in nodes if "prepared" in (n.body.get("_jobPrep") or {})]
            assert prepared == [task.body["nodeInfo"]["nodeId"]]

    asyncio.run(scenario())
    starts = [(kind, node) for event, kind, _, node in executor.events if event == "start"]
    assert [kind for kind, _ in starts] == ["jobprep", "task"]
    assert starts[0][1] == starts[1][1], "the preparation ran on another node than its task"
    prep_end = executor.events.index(("end", "jobprep", "jobpreparation", starts[0][1]))
    task_start = executor.events.index(("start", "task", "only", starts[1][1]))
    assert prep_end < task_start
