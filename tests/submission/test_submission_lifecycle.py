"""Job lifecycle end to end against the local Batch service: ambiguous success, identity versus settings,
resumed creates, superseded jobs and the active-jobs quota. Each test is named after the behaviour."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.batch import BatchClient
from azure.batch import models as batch_models
from azure.core.exceptions import ServiceResponseError

from batchforge.localbatch.testing import LocalBatch, wait_for, wait_for_idle_nodes
from batchforge.submission.client import make_batch_client
from batchforge.submission.engine import delete_job, submit
from batchforge.submission.plan import PlannedJob
from batchforge.submission.retrying import RetryPolicy
from batchforge.submission.target import BatchTarget
from batchforge.workload import load_workload, plan_job

FAST_RETRIES = RetryPolicy(max_attempts=8, base_delay_s=0.01, max_delay_s=0.2)


def workload_yaml(workload_id: str, count: int, command: str = "true", extra: str = "") -> str:
    return f"""\
id: {workload_id}
pool: cpu
onAllTasksComplete: terminatejob
{extra}tasks:
  sweep:
    parameters:
      - name: i
        range: {{start: 0, stop: {count - 1}}}
    task:
      id: "t-{{i:03d}}"
      commandLine: "{command}"
"""


def plan(tmp_path: Path, target: BatchTarget, text: str) -> PlannedJob:
    folder = tmp_path / "workloads"
    folder.mkdir(exist_ok=True)
    path = folder / "lifecycle.yaml"
    path.write_text(text)
    return plan_job(load_workload(path), target, repo_root=tmp_path)


def unique_id() -> str:
    return f"life-{uuid.uuid4().hex[:8]}"


def state_of(client: BatchClient, job_id: str) -> str:
    state = client.get_job(job_id).state
    return str(getattr(state, "value", state)).lower()


@pytest.fixture(scope="module")
def running_pool(local_batch: LocalBatch) -> Iterator[str]:
    pool_id = f"life-pool-{uuid.uuid4().hex[:6]}"
    batch = local_batch.batch_client()
    batch.create_pool(
        batch_models.BatchPoolCreateOptions(
            id=pool_id, vm_size="standard_d2s_v3", target_dedicated_nodes=1, task_slots_per_node=4
        )
    )
    wait_for_idle_nodes(batch, pool_id, 1)
    yield pool_id
    batch.begin_delete_pool(pool_id, polling_interval=1)


@pytest.fixture
def client(local_batch: LocalBatch) -> Iterator[BatchClient]:
    client = local_batch.batch_client()
    yield client
    for job in client.list_jobs(select=["id"]):
        if job.id.startswith("life-"):
            delete_job(client, job.id)


class _LoseUpdateAnswerAfterCompletion:
    """Applies the completion-mode patch, lets the job complete, then loses the answer (a dropped connection)."""

    def __init__(self, client: BatchClient) -> None:
        self._client = client
        self.updates = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def update_job(self, job_id: str, job: Any, **kwargs: Any) -> None:
        self.updates += 1
        self._client.update_job(job_id, job, **kwargs)
        if self.updates == 1:
            wait_for(lambda: state_of(self._client, job_id) == "completed", what="the job to complete")
            raise ServiceResponseError("connection dropped before the answer arrived")


def test_a_lost_answer_to_the_completion_patch_is_success_when_the_job_completed(
    tmp_path, local_batch, running_pool, client
):
    target = local_batch.target({"cpu": running_pool})
    planned = plan(tmp_path, target, workload_yaml(unique_id(), 2))
    flaky = _LoseUpdateAnswerAfterCompletion(make_batch_client(target))

    result = submit(planned, flaky, retry_policy=FAST_RETRIES)

    # The retry met JobCompleted: the first attempt had done what was asked.
    assert flaky.updates == 2
    assert result.complete and result.completion_mode_set, result.summary()
    assert state_of(client, planned.job_id) == "completed"


def test_a_rerun_of_a_completed_workload_is_success(tmp_path, local_batch, running_pool, client):
    target = local_batch.target({"cpu": running_pool})
    planned = plan(tmp_path, target, workload_yaml(unique_id(), 2))
    submit(planned, make_batch_client(target), retry_policy=FAST_RETRIES)
    wait_for(lambda: state_of(client, planned.job_id) == "completed", what="the job to complete")

    again = submit(planned, make_batch_client(target), retry_policy=FAST_RETRIES)

    assert again.complete and again.completion_mode_set and not again.job_created


def test_changing_priority_or_max_parallel_tasks_of_a_running_workload_keeps_the_job_and_updates_it(
    tmp_path, local_batch, running_pool, client
):
    target = local_batch.target({"cpu": running_pool})
    workload_id = unique_id()
    original = plan(tmp_path, target, workload_yaml(workload_id, 3, command="sleep 30"))
    first = submit(original, make_batch_client(target), retry_policy=FAST_RETRIES)
    wait_for(
        lambda: client.get_job_task_counts(original.job_id).task_counts.running > 0, what="a task of the job to run"
    )
    changed = plan(
        tmp_path, target, workload_yaml(workload_id, 3, command="sleep 30", extra="priority: 5\nmaxParallelTasks: 2\n")
    )

    result = submit(changed, make_batch_client(target), retry_policy=FAST_RETRIES)

    assert changed.job_id == original.job_id and first.job_created
    assert result.settings_updated and not result.job_created and result.tasks_added == 0, result.summary()
    job = client.get_job(original.job_id)
    assert (job.priority, job.max_parallel_tasks) == (5, 2)
    assert {item.name: item.value for item in job.metadata}["batchforge-settings-hash"] == changed.settings_hash
    # A second run finds the settings in place: nothing to patch.
    assert not submit(changed, make_batch_client(target), retry_policy=FAST_RETRIES).settings_updated
