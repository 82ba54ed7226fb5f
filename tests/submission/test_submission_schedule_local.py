"""A scheduled workload against the local service: the schedule is created from the workload, every recurrence
creates a job, and batchforge's job manager adds that job's planned tasks, each run once per job."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.batch import BatchClient
from azure.batch import models as m

from batchforge.localbatch.testing import LocalBatch, wait_for, wait_for_idle_nodes
from batchforge.submission.client import make_resources_container_client
from batchforge.submission.target import BatchTarget
from batchforge.workload import load_workload
from batchforge.workload.checks import SCHEDULE_MANAGER_ID
from batchforge.workload.schedule_deploy import deploy_schedule
from batchforge.workload.scheduling import PlannedSchedule, plan_schedule

TASKS = ("a", "b", "c")
POOL = "sched-cpu"


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBatch]:
    with LocalBatch.start(tmp_path_factory.mktemp("localbatch-sched"), test_clock=True) as service:
        yield service


@pytest.fixture(scope="module")
def client(batch: LocalBatch) -> BatchClient:
    client = batch.batch_client()
    client.create_pool(
        m.BatchPoolCreateOptions(id=POOL, vm_size="standard_d2s_v3", target_dedicated_nodes=1, task_slots_per_node=4)
    )
    wait_for_idle_nodes(client, POOL, 1)
    return client


@pytest.fixture(scope="module")
def target(batch: LocalBatch) -> BatchTarget:
    return batch.target({"cpu": POOL}).model_copy(update={"stack": "test"})


def _plan(repo: Path, target: BatchTarget, interval: str, command: str = "echo ran") -> PlannedSchedule:
    (repo / "workloads").mkdir(parents=True, exist_ok=True)
    tasks = "\n".join(f"    - {{id: {name}, commandLine: \"/bin/sh -c '{command} {name}'\"}}" for name in TASKS)
    path = repo / "workloads" / "hourly.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            id: hourly
            pool: cpu
            schedule: {{recurrenceInterval: {interval}}}
            tasks:
              list:
            """
        )
        + tasks
        + "\n"
    )
    return plan_schedule(load_workload(path), target, repo_root=repo)


def _completed(client: BatchClient, job_id: str) -> m.BatchJob:
    return wait_for(
        lambda: job if (job := client.get_job(job_id)).state == m.BatchJobState.COMPLETED else None,
        timeout=30,
        what=f"job {job_id} to complete",
    )


def test_24_hourly_runs_each_add_and_run_every_task_once(
    batch: LocalBatch, client: BatchClient, target: BatchTarget, tmp_path: Path
) -> None:
    started = time.monotonic()
    planned = _plan(tmp_path, target, "PT1H")
    container = make_resources_container_client(target)
    assert deploy_schedule(planned, client, container, local_key=batch.account_key) == "created"
    for run in range(1, 25):
        job = _completed(client, f"{planned.schedule_id}:job-{run}")
        assert job.execution_info.termination_reason == "AllTasksComplete"
        tasks = {task.id: task for task in client.list_tasks(job.id)}
        assert set(tasks) == {SCHEDULE_MANAGER_ID, *TASKS}
        for task in tasks.values():
            assert task.execution_info.exit_code == 0 and task.execution_info.retry_count == 0, task.id
        if run < 24:
            batch.advance_clock(3600)
    assert time.monotonic() - started < 60
    # The tasks' log uploads were pointed at the job they ran in, not the placeholder job id of the plan.
    outputs = batch.blob_service_client().get_container_client("outputs")
    names = set(outputs.list_blob_names(name_starts_with=f"{planned.schedule_id}:job-24/logs/"))
    assert {f"{planned.schedule_id}:job-24/logs/{name}/stdout.txt" for name in TASKS} <= names
    client.begin_delete_job_schedule(planned.schedule_id, polling_interval=0).result()


def test_changing_the_recurrence_patches_the_schedule_in_place(
    batch: LocalBatch, client: BatchClient, target: BatchTarget, tmp_path: Path
) -> None:
    container = make_resources_container_client(target)
    first = _plan(tmp_path, target, "PT2H")
    deploy_schedule(first, client, container, local_key=batch.account_key)
    _completed(client, f"{first.schedule_id}:job-1")
    changed = _plan(tmp_path, target, "PT3H", command="echo changed")
    assert changed.schedule_id == first.schedule_id
    assert deploy_schedule(changed, client, container, local_key=batch.account_key) == "updated"
    live = client.get_job_schedule(first.schedule_id)
    assert live.schedule.recurrence_interval.total_seconds() == 3 * 3600
    manager = live.job_specification.job_manager_task
    assert manager.resource_files[0].http_url.endswith(changed.plan_blob_name)
    client.begin_delete_job_schedule(first.schedule_id, polling_interval=0).result()
