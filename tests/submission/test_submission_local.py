"""The engine end to end: workload YAML -> workload_spec -> engine -> the local Batch service (and Azurite).

Task ids are counted on the service itself, so "exactly once" is checked where it matters.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.batch import BatchClient
from azure.batch import models as batch_models

from batchforge.localbatch.testing import LocalBatch, wait_for, wait_for_idle_nodes, wait_for_tasks_completed
from batchforge.submission.client import make_batch_client, make_resources_container_client
from batchforge.submission.engine import delete_job, submit
from batchforge.submission.plan import PlannedJob
from batchforge.submission.retrying import RetryPolicy
from batchforge.submission.target import BatchTarget
from batchforge.workload import load_workload, plan_job

FAST_RETRIES = RetryPolicy(max_attempts=8, base_delay_s=0.01, max_delay_s=0.2)


def sweep_yaml(workload_id: str, count: int, command: str = "true") -> str:
    return f"""\
id: {workload_id}
pool: cpu
onAllTasksComplete: terminatejob
tasks:
  sweep:
    parameters:
      - name: i
        range: {{start: 0, stop: {count - 1}}}
    task:
      id: "t-{{i:04d}}"
      commandLine: "{command} {{i}}"
"""


def plan(tmp_path: Path, target: BatchTarget, name: str, text: str) -> PlannedJob:
    folder = tmp_path / "workloads"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return plan_job(load_workload(path), target, repo_root=tmp_path)


def task_ids_on_service(client: BatchClient, job_id: str) -> list[str]:
    return [task.id for task in client.list_tasks(job_id, select=["id"])]


@pytest.fixture(scope="module")
def target(local_batch: LocalBatch) -> BatchTarget:
    # No pool of that id exists: submission tests need acceptance, not execution (tasks stay active).
    return local_batch.target({"cpu": f"idle-{uuid.uuid4().hex[:6]}"})


@pytest.fixture
def client(target: BatchTarget) -> Iterator[BatchClient]:
    client = make_batch_client(target)
    yield client
    # The service is shared by the whole session: leave no active tasks behind.
    for job in client.list_jobs(select=["id"]):
        if job.id.startswith("subm-"):
            delete_job(client, job.id)


def completion_mode(client: BatchClient, job_id: str) -> str | None:
    mode = client.get_job(job_id).all_tasks_complete_mode
    return None if mode is None else str(getattr(mode, "value", mode)).lower()


def unique_id() -> str:
    return f"subm-{uuid.uuid4().hex[:8]}"


def test_a_1000_task_sweep_lands_exactly_once_and_a_rerun_adds_nothing(tmp_path, target, client):
    planned = plan(tmp_path, target, "sweep", sweep_yaml(unique_id(), 1000))

    first = submit(planned, client, concurrency=8, retry_policy=FAST_RETRIES)
    again = submit(planned, client, concurrency=8, retry_policy=FAST_RETRIES)

    ids = task_ids_on_service(client, planned.job_id)
    assert len(ids) == 1000 and set(ids) == {f"t-{i:04d}" for i in range(1000)}
    assert first.complete and first.job_created and first.tasks_added == 1000
    assert again.complete and not again.job_created
    assert (again.tasks_added, again.tasks_already_present) == (0, 1000)
    job = client.get_job(planned.job_id)
    assert (
        str(
            job.all_tasks_complete_mode.value
            if hasattr(job.all_tasks_complete_mode, "value")
            else job.all_tasks_complete_mode
        ).lower()
        == "terminatejob"
    )
    assert {item.name: item.value for item in job.metadata}["batchforge-content-hash"] == planned.content_hash


class _CrashAfter:
    """A client that dies (like a killed process) once it has sent ``calls`` add-task-collection requests."""

    def __init__(self, client: BatchClient, calls: int) -> None:
        self._client = client
        self._left = calls

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def create_task_collection(self, *args: Any, **kwargs: Any) -> Any:
        if self._left <= 0:
            raise KeyboardInterrupt("killed half-way")
        self._left -= 1
        return self._client.create_task_collection(*args, **kwargs)


def test_a_run_killed_half_way_and_rerun_completes_exactly_once(tmp_path, target, client):
    planned = plan(tmp_path, target, "sweep", sweep_yaml(unique_id(), 1000))

    with pytest.raises(KeyboardInterrupt):
        submit(planned, _CrashAfter(client, 4), concurrency=2, retry_policy=FAST_RETRIES)
    landed = len(task_ids_on_service(client, planned.job_id))
    assert 0 < landed < 1000
    assert completion_mode(client, planned.job_id) in (None, "noaction"), "a half-submitted job must not complete"

    resumed = submit(planned, client, concurrency=8, retry_policy=FAST_RETRIES)

    ids = task_ids_on_service(client, planned.job_id)
    assert len(ids) == len(set(ids)) == 1000
    assert resumed.complete and (resumed.tasks_already_present, resumed.tasks_added) == (landed, 1000 - landed)


@pytest.mark.parametrize("fault", ["server_busy", "throttle", "drop"])
def test_every_task_lands_exactly_once_through_busy_throttled_and_dropped_responses(
    fault, tmp_path, target, client, local_batch
):
    planned = plan(tmp_path, target, "sweep", sweep_yaml(unique_id(), 1000))
    # The first five add-task-collection requests of this job misbehave (503 ServerBusy, 429 with Retry-After,
    # or applied and then the connection dropped), so every run meets the fault the same number of times.
    local_batch.set_faults(
        **{f"{fault}_rate": 1.0},
        max_faults=5,
        retry_after_seconds=0,
        path_pattern=f"/jobs/{planned.job_id}/addtaskcollection",
    )
    try:
        result = submit(planned, client, concurrency=8, retry_policy=FAST_RETRIES)
        injected = local_batch.fault_counts()
    finally:
        local_batch.set_faults()

    ids = task_ids_on_service(client, planned.job_id)
    assert len(ids) == len(set(ids)) == 1000
    assert result.complete, result.summary()
    assert injected == {fault: 5}
    # create job + 10 chunks + 5 retries + set onAllTasksComplete
    assert result.retries == 5 and result.requests == 1 + 10 + 5 + 1
    if fault == "drop":
        # The dropped requests were applied before the connection closed: their retries found the tasks there.
        # Five drops hit five chunks, or fewer when a retry is itself dropped (timing decides), so between
        # one and five chunks' worth of tasks were found already present.
        assert result.tasks_added + result.tasks_already_present == 1000
        assert result.tasks_already_present in (100, 200, 300, 400, 500)
    else:
        assert (result.tasks_added, result.tasks_already_present) == (1000, 0)


def test_a_changed_workload_is_a_new_job_and_the_old_one_is_left_alone(tmp_path, target, client):
    workload_id = unique_id()
    original = plan(tmp_path, target, "sweep", sweep_yaml(workload_id, 20))
    changed = plan(tmp_path, target, "sweep", sweep_yaml(workload_id, 20, command="echo"))
    submit(original, client, retry_policy=FAST_RETRIES)

    result = submit(changed, client, retry_policy=FAST_RETRIES)

    assert changed.job_id != original.job_id and result.job_created and result.tasks_added == 20
    assert len(task_ids_on_service(client, original.job_id)) == 20
    assert len(task_ids_on_service(client, changed.job_id)) == 20


PIPELINE_YAML = """\
id: {workload_id}
pool: cpu
onAllTasksComplete: terminatejob
jobPreparationTask:
  commandLine: /bin/sh -c 'echo prepared > "$AZ_BATCH_NODE_SHARED_DIR/{workload_id}.ready"'
tasks:
  sweep:
    parameters:
      - name: part
        range: {{start: 1, stop: 3}}
    task:
      id: "{{part}}"
      commandLine: /bin/sh -c 'test -f "$AZ_BATCH_NODE_SHARED_DIR/{workload_id}.ready" && cat input.txt'
      resourceFiles:
        - source: data/input.txt
  list:
    - id: combine
      commandLine: /bin/sh -c 'echo all parts done'
      dependsOn:
        ranges:
          - {{start: 1, end: 3}}
"""


def test_job_preparation_dependencies_and_uploaded_inputs_work_end_to_end(tmp_path, local_batch):
    pool_id = f"subm-pool-{uuid.uuid4().hex[:6]}"
    batch = local_batch.batch_client()
    batch.create_pool(
        batch_models.BatchPoolCreateOptions(id=pool_id, vm_size="standard_d2s_v3", target_dedicated_nodes=1)
    )
    target = local_batch.target({"cpu": pool_id})
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "input.txt").write_text("hello from the resources container\n")
    workload_id = unique_id()
    planned = plan(tmp_path, target, "pipeline", PIPELINE_YAML.format(workload_id=workload_id))
    client = make_batch_client(target)
    try:
        wait_for_idle_nodes(batch, pool_id, 1)
        result = submit(
            planned, client, retry_policy=FAST_RETRIES, upload_container=make_resources_container_client(target)
        )
        assert result.complete and result.uploads.uploaded == 1
        counts = wait_for_tasks_completed(batch, planned.job_id, timeout=60)
        assert (counts.succeeded, counts.failed) == (4, 0)
        combine = batch.get_task(planned.job_id, "combine")
        assert combine.execution_info.exit_code == 0
        assert b"".join(batch.download_task_file(planned.job_id, "2", "stdout.txt")).startswith(b"hello from")
        # All tasks added, then onAllTasksComplete=terminatejob: the job completes by itself.
        wait_for(lambda: str(batch.get_job(planned.job_id).state).lower().endswith("completed"), what="job completed")

        again = submit(planned, client, upload_container=make_resources_container_client(target))
        assert again.complete and again.tasks_added == 0 and again.uploads.already_present == 1
    finally:
        batch.begin_delete_pool(pool_id)
