"""A node agent that dies loses only its own runs: it is replaced, and its tasks are requeued as Batch
requeues the tasks of a failed node (requeueCount grows, no retry is used, leftover processes killed)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from azure.batch import models as m
from scheduler_harness import STORAGE

from batchforge.localbatch.agents import AgentCrashed, NodeAgents
from batchforge.localbatch.config import read_service_file
from batchforge.localbatch.execution import NodeContext, TaskRun
from batchforge.localbatch.testing import LocalBatch, wait_for, wait_for_idle_nodes


def _run(task_id: str, command: str) -> TaskRun:
    return TaskRun(kind="task", job_id="j", task_id=task_id, spec={"id": task_id, "commandLine": command})


def test_a_dead_agent_fails_only_its_runs_and_is_replaced(tmp_path: Path) -> None:
    node = NodeContext(account_name="a", pool_id="p", node_id="n", node_root=tmp_path / "n", storage=STORAGE)

    async def scenario() -> None:
        agents = NodeAgents(2)
        try:
            first_pid = agents.pids()[0]
            doomed = asyncio.get_running_loop().create_task(agents.run(node, _run("doomed", "sleep 30"), None))
            survivor = asyncio.get_running_loop().create_task(agents.run(node, _run("survivor", "sleep 1"), None))
            await asyncio.sleep(0.5)
            os.kill(first_pid, signal.SIGKILL)
            with pytest.raises(AgentCrashed):
                await doomed
            assert (await survivor).result == "success"
            assert agents.restarts == 1 and first_pid not in agents.pids()
            for index in range(4):  # both agents, the replacement included, take runs again
                assert (await agents.run(node, _run(f"after-{index}", "true"), None)).result == "success"
        finally:
            await agents.close()

    asyncio.run(scenario())


def _parent_of(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[1])


def _ancestors(pid: int) -> list[int]:
    # A sandboxed agent's parents are the sandbox's processes (bubblewrap), then the service.
    chain = []
    while pid > 1:
        pid = _parent_of(pid)
        chain.append(pid)
    return chain


def _pid_of_task(task_id: str) -> int:
    for entry in Path("/proc").iterdir():
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"AZ_BATCH_TASK_ID={task_id}".encode() in environ:
            return int(entry.name)
    raise AssertionError(f"no process of task {task_id}")


def test_tasks_of_a_crashed_agent_are_requeued(local_batch_factory: Callable[[], LocalBatch]) -> None:
    batch = local_batch_factory()
    client = batch.batch_client()
    client.create_pool(
        m.BatchPoolCreateOptions(id="crash", vm_size="standard_d2s_v3", target_dedicated_nodes=1, task_slots_per_node=2)
    )
    wait_for_idle_nodes(client, "crash", 1)
    client.create_job(m.BatchJobCreateOptions(id="crash-job", pool_info=m.BatchPoolInfo(pool_id="crash")))
    client.create_task(
        "crash-job",
        m.BatchTaskCreateOptions(
            id="victim",
            command_line="/bin/sh -c 'if [ -e $AZ_BATCH_NODE_SHARED_DIR/again ]; then exit 0; fi; "
            "touch $AZ_BATCH_NODE_SHARED_DIR/again; echo $$ > $AZ_BATCH_NODE_SHARED_DIR/pid; exec sleep 60'",
        ),
    )
    node = wait_for_idle_nodes(client, "crash", 1)[0]
    pid_file = batch.nodes_dir / "crash" / node.id.lower() / "shared" / "pid"
    if not pid_file.exists():
        pid_file = next(batch.nodes_dir.glob("*/*/shared/pid"), pid_file)
    wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), timeout=30, what="the task running")
    task_pid = _pid_of_task("victim")  # the pid file holds the pid inside the node's sandbox, if it has one
    agent = _parent_of(task_pid)
    service = int((read_service_file(batch.data_dir) or {})["pid"])
    assert agent != service and service in _ancestors(agent), "the task does not run in a node agent"

    os.kill(agent, signal.SIGKILL)

    wait_for(lambda: client.get_task("crash-job", "victim").state == "completed", timeout=30, what="requeued run")
    victim = client.get_task("crash-job", "victim")
    assert victim.execution_info.requeue_count == 1
    assert victim.execution_info.retry_count == 0
    assert victim.execution_info.result == "success"
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{task_pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{task_pid}"), "the crashed agent's task process was left running"
    assert [n.state for n in client.list_nodes("crash")] == ["idle"]
