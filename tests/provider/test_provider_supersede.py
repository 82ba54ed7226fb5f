"""Superseded jobs are retired, not killed: the hook's create against the local Batch service, for each
``supersede`` mode, with a task of the old job running when the new job is submitted."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.batch import models as batch_models

import batchforge.providers.workload_submission as hook
from batchforge.localbatch.testing import LocalBatch, wait_for, wait_for_idle_nodes
from batchforge.submission.engine import delete_job


def workload_yaml(workload_id: str, command: str, supersede: str) -> str:
    return f"""\
id: {workload_id}
pool: cpu
supersede: {supersede}
onAllTasksComplete: terminatejob
tasks:
  sweep:
    parameters:
      - name: i
        range: {{start: 1, stop: 3}}
    task:
      id: "t{{i}}"
      commandLine: "{command}"
"""


@pytest.fixture(scope="module")
def one_slot_pool(local_batch: LocalBatch) -> Iterator[str]:
    pool_id = f"supersede-{uuid.uuid4().hex[:6]}"
    batch = local_batch.batch_client()
    batch.create_pool(
        batch_models.BatchPoolCreateOptions(id=pool_id, vm_size="standard_d2s_v3", target_dedicated_nodes=1)
    )
    wait_for_idle_nodes(batch, pool_id, 1)
    yield pool_id
    batch.begin_delete_pool(pool_id, polling_interval=1)


def _props(
    local_batch: LocalBatch, root: Path, pool_id: str, workload_id: str, command: str, mode: str
) -> dict[str, Any]:
    target = local_batch.target({"cpu": pool_id}).model_dump(mode="json")
    path = root / "workloads" / "work.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(workload_yaml(workload_id, command, mode))
    identity = hook._workload_identity(path, target, root)
    return {
        **identity,
        "workloadFile": "workloads/work.yaml",
        "deletionMode": "terminate",
        "deadlineSeconds": 120,
        **hook.target_props(target),
    }


def _tasks(client: Any, job_id: str) -> dict[str, Any]:
    return {task.id: task for task in client.list_tasks(job_id)}


def _started(task: Any) -> bool:
    info = task.execution_info
    return info is not None and info.start_time is not None


def _submit_then_supersede(local_batch, tmp_path, monkeypatch, pool_id, mode):
    monkeypatch.setenv(hook.LOCAL_BATCH_KEY_ENV, local_batch.account_key)
    monkeypatch.setenv(hook.LOCAL_STORAGE_KEY_ENV, local_batch.storage_account_key)
    client = local_batch.batch_client()
    provider = hook.WorkloadSubmissionProvider(str(tmp_path))
    workload_id = f"sup-{uuid.uuid4().hex[:8]}"
    old = _props(local_batch, tmp_path, pool_id, workload_id, "sleep 3", mode)
    provider.create(old)
    wait_for(lambda: client.get_job_task_counts(old["jobId"]).task_counts.running == 1, what="a running old task")
    running = next(task_id for task_id, task in _tasks(client, old["jobId"]).items() if _started(task))
    new = _props(local_batch, tmp_path, pool_id, workload_id, "true", mode)
    created = provider.create(new)
    return client, old["jobId"], running, new["jobId"], created


def _cleanup(client: Any, *job_ids: str) -> None:
    for job_id in job_ids:
        delete_job(client, job_id)


def test_with_drain_a_running_task_of_the_old_job_finishes_and_no_queued_task_starts(
    local_batch, tmp_path, monkeypatch, one_slot_pool
):
    client, old_id, running, new_id, created = _submit_then_supersede(
        local_batch, tmp_path, monkeypatch, one_slot_pool, "drain"
    )
    try:
        assert new_id != old_id
        tasks = _tasks(client, old_id)
        assert tasks[running].execution_info.exit_code == 0
        assert [task_id for task_id, task in tasks.items() if task_id != running and _started(task)] == []
        assert str(client.get_job(old_id).state).lower().endswith(("completed", "terminating"))
        assert created.outs["retired"] and "drained" in created.outs["retired"][0]
        # Pulumi's delete of the replaced resource leaves the retired job as its successor left it.
        hook.WorkloadSubmissionProvider(str(tmp_path)).delete(old_id, {**created.outs, "deletionMode": "delete"})
        assert client.get_job(old_id).id == old_id
    finally:
        _cleanup(client, old_id, new_id)


def test_with_terminate_a_running_task_of_the_old_job_is_killed(local_batch, tmp_path, monkeypatch, one_slot_pool):
    client, old_id, running, new_id, created = _submit_then_supersede(
        local_batch, tmp_path, monkeypatch, one_slot_pool, "terminate"
    )
    try:
        wait_for(lambda: str(client.get_job(old_id).state).lower().endswith("completed"), what="the old job to end")
        task = client.get_task(old_id, running)
        assert task.execution_info.exit_code != 0 or task.execution_info.failure_info is not None
        assert "terminated" in created.outs["retired"][0]
    finally:
        _cleanup(client, old_id, new_id)


def test_with_keep_the_old_job_keeps_running(local_batch, tmp_path, monkeypatch, one_slot_pool):
    client, old_id, _running, new_id, created = _submit_then_supersede(
        local_batch, tmp_path, monkeypatch, one_slot_pool, "keep"
    )
    try:
        assert str(client.get_job(old_id).state).lower().endswith("active")
        assert "kept" in created.outs["retired"][0]
    finally:
        _cleanup(client, old_id, new_id)
