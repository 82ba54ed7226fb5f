"""Job manager tasks through the unmodified SDK: started with the job as a task with the id given, ahead
of the job's other tasks (retries included), exclusive on its node unless told otherwise, kept off
low-priority nodes when asked, with its own retries and limits, and ending the job when it completes
(killJobOnCompletion, reason JMComplete)."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from batchforge.localbatch.testing import LocalBatch, wait_for, wait_for_idle_nodes, wait_for_tasks_completed

SH = "/bin/sh -c"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def client(local_batch: LocalBatch) -> BatchClient:
    return local_batch.batch_client()


def new_pool(client: BatchClient, *, slots: int = 2, dedicated: int = 1, low_priority: int = 0) -> str:
    pool_id = unique("jm-pool")
    client.create_pool(
        m.BatchPoolCreateOptions(
            id=pool_id,
            vm_size="standard_d2s_v3",
            target_dedicated_nodes=dedicated,
            target_low_priority_nodes=low_priority,
            task_slots_per_node=slots,
        )
    )
    wait_for_idle_nodes(client, pool_id, dedicated + low_priority)
    return pool_id


@pytest.fixture(scope="module")
def pool_id(client: BatchClient) -> str:
    """One node with two slots: room for a manager and a task side by side, if the manager allows it."""
    return new_pool(client)


def job_with_manager(
    client: BatchClient, pool_id: str, manager: m.BatchJobManagerTask, *, job_id: str | None = None, **options: object
) -> str:
    job_id = job_id or unique("jm")
    client.create_job(
        m.BatchJobCreateOptions(
            id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id), job_manager_task=manager, **options
        )
    )
    return job_id


def test_manager_is_a_task_that_runs_first_and_alone_and_again_first_when_retried(
    client: BatchClient, pool_id: str
) -> None:
    # First attempt fails after a second (while the other tasks are queued), the retry succeeds.
    manager = m.BatchJobManagerTask(
        id="manager",
        command_line=f"{SH} 'sleep 1; test $AZ_BATCH_TASK_RETRY_COUNT = 1'",
        constraints=m.BatchTaskConstraints(max_task_retry_count=1),
        kill_job_on_completion=False,
    )
    job_id = job_with_manager(client, pool_id, manager)
    client.create_tasks(job_id, [m.BatchTaskCreateOptions(id=f"t{i}", command_line="true") for i in range(3)])
    wait_for_tasks_completed(client, job_id)
    job = client.get_job(job_id)
    assert job.job_manager_task.id == "manager"
    assert (job.job_manager_task.kill_job_on_completion, job.job_manager_task.run_exclusive) == (False, True)
    assert job.state == "active"  # killJobOnCompletion false: the manager's end does not end the job
    tasks = {t.id: t for t in client.list_tasks(job_id)}
    assert set(tasks) == {"manager", "t0", "t1", "t2"}
    info = client.get_task(job_id, "manager").execution_info
    assert (info.result, info.retry_count) == ("success", 1)
    # Exclusive on the only node, and first again when retried: nothing else started before it ended.
    for task_id in ("t0", "t1", "t2"):
        assert tasks[task_id].execution_info.start_time >= info.end_time, task_id
    counts = client.get_job_task_counts(job_id).task_counts
    assert (counts.succeeded, counts.failed) == (4, 0)


def test_non_exclusive_manager_shares_its_node_and_kills_the_job_when_done(client: BatchClient, pool_id: str) -> None:
    manager = m.BatchJobManagerTask(id="jm", command_line=f"{SH} 'sleep 1'", run_exclusive=False)
    job_id = job_with_manager(client, pool_id, manager)
    client.create_task(job_id, m.BatchTaskCreateOptions(id="long", command_line=f"{SH} 'sleep 60'"))
    wait_for(lambda: client.get_task(job_id, "long").state == "running", what="task beside the manager")
    assert client.get_task(job_id, "jm").state == "running"
    wait_for(lambda: client.get_job(job_id).state == "completed", what="job ended by its manager")
    job = client.get_job(job_id)
    assert job.execution_info.termination_reason == "JMComplete"
    assert job.job_manager_task.kill_job_on_completion is True  # the default, as the job reports it
    long_task = client.get_task(job_id, "long").execution_info
    assert (long_task.result, long_task.failure_info.code) == ("failure", "TaskEnded")
    assert client.get_task(job_id, "jm").execution_info.result == "success"


def test_failing_manager_uses_its_retries_and_limits_then_ends_the_job(client: BatchClient, pool_id: str) -> None:
    failing = job_with_manager(
        client,
        pool_id,
        m.BatchJobManagerTask(
            id="fails",
            command_line=f"{SH} 'exit 7'",
            constraints=m.BatchTaskConstraints(max_task_retry_count=2),
        ),
    )
    slow = job_with_manager(
        client,
        pool_id,
        m.BatchJobManagerTask(
            id="slow",
            command_line=f"{SH} 'sleep 30'",
            constraints=m.BatchTaskConstraints(max_wall_clock_time=timedelta(seconds=1)),
        ),
    )
    started = time.monotonic()
    for job_id in (failing, slow):
        wait_for(lambda job_id=job_id: client.get_job(job_id).state == "completed", what=f"{job_id} ended")
        assert client.get_job(job_id).execution_info.termination_reason == "JMComplete"
    assert time.monotonic() - started < 20
    fails = client.get_task(failing, "fails").execution_info
    assert (fails.result, fails.exit_code, fails.retry_count) == ("failure", 7, 2)
    assert fails.failure_info.code == "FailureExitCode"
    timed_out = client.get_task(slow, "slow").execution_info
    assert timed_out.result == "failure" and timed_out.failure_info.code == "TaskEnded"


def test_manager_not_allowed_on_low_priority_nodes_waits_for_a_dedicated_one(client: BatchClient) -> None:
    pool_id = new_pool(client, slots=1, dedicated=0, low_priority=1)
    manager = m.BatchJobManagerTask(
        id="jm", command_line="true", allow_low_priority_node=False, kill_job_on_completion=False
    )
    job_id = job_with_manager(client, pool_id, manager)
    time.sleep(1.5)  # several scheduler passes with a free low-priority node
    assert client.get_task(job_id, "jm").state == "active"
    client.begin_resize_pool(
        pool_id, m.BatchPoolResizeOptions(target_dedicated_nodes=1, target_low_priority_nodes=1), polling_interval=0.1
    ).result()
    wait_for(lambda: client.get_task(job_id, "jm").state == "completed", what="manager on the dedicated node")
    node = client.get_node(pool_id, client.get_task(job_id, "jm").node_info.node_id)
    assert node.is_dedicated is True
    client.begin_delete_pool(pool_id, polling_interval=0.1).result()


def test_manager_required_slots_count_on_its_node(client: BatchClient, pool_id: str) -> None:
    manager = m.BatchJobManagerTask(
        id="wide", command_line=f"{SH} 'sleep 2'", required_slots=2, run_exclusive=False, kill_job_on_completion=False
    )
    job_id = job_with_manager(client, pool_id, manager)
    client.create_task(job_id, m.BatchTaskCreateOptions(id="after", command_line="true"))
    wait_for_tasks_completed(client, job_id)
    wide = client.get_task(job_id, "wide")
    assert wide.required_slots == 2
    assert client.get_task(job_id, "after").execution_info.start_time >= wide.execution_info.end_time


def test_malformed_manager_is_refused_and_creates_no_job(client: BatchClient, pool_id: str) -> None:
    for manager, property_name in (
        (m.BatchJobManagerTask(id=None, command_line="true"), "jobManagerTask.id"),  # type: ignore[arg-type]
        (m.BatchJobManagerTask(id="jm", command_line=None), "jobManagerTask.commandLine"),  # type: ignore[arg-type]
        (m.BatchJobManagerTask(id="jm", command_line="true", required_slots=0), "jobManagerTask.requiredSlots"),
    ):
        job_id = unique("jm-bad")
        with pytest.raises(HttpResponseError) as refused:
            job_with_manager(client, pool_id, manager, job_id=job_id)
        details = {d.code: d.message for d in refused.value.error.details or []}
        assert refused.value.status_code == 400 and details["PropertyName"] == property_name
        with pytest.raises(ResourceNotFoundError):
            client.get_job(job_id)


def test_manager_on_an_auto_pool_takes_the_pool_with_the_job(client: BatchClient) -> None:
    job_id = unique("jm-auto")
    client.create_job(
        m.BatchJobCreateOptions(
            id=job_id,
            pool_info=m.BatchPoolInfo(
                auto_pool_specification=m.BatchAutoPoolSpecification(
                    auto_pool_id_prefix="jm",
                    pool_lifetime_option=m.BatchPoolLifetimeOption.JOB,
                    pool=m.BatchPoolSpecification(vm_size="standard_d2s_v3", target_dedicated_nodes=1),
                )
            ),
            job_manager_task=m.BatchJobManagerTask(id="manager", command_line="true"),
        )
    )
    pool_id = client.get_job(job_id).execution_info.pool_id
    wait_for(lambda: client.get_job(job_id).state == "completed", what="job ended by its manager")
    assert client.get_task(job_id, "manager").node_info.pool_id == pool_id

    def gone() -> bool:
        try:
            client.get_pool(pool_id)
        except ResourceNotFoundError:
            return True
        return False

    wait_for(gone, what="auto pool deleted with the job")
