"""Scheduling semantics through the unmodified SDK: start tasks, job prep/release, env and layout,
storage, dependencies, retries, wall-clock limits, slots, job completion rules, multi-instance, scaling."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.batch.models import _models  # BatchJobTerminateOptions is not exported in 15.1.0
from azure.storage.blob import ContainerSasPermissions, generate_container_sas

from batchforge.localbatch.testing import LocalBatch, wait_for, wait_for_idle_nodes, wait_for_tasks_completed

SH = "/bin/sh -c"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def client(local_batch: LocalBatch) -> BatchClient:
    return local_batch.batch_client()


@pytest.fixture(scope="module")
def pool_id(client: BatchClient) -> str:
    """Two nodes with two slots each, shared by the tests of this module."""
    pool_id = unique("sched-pool")
    client.create_pool(
        m.BatchPoolCreateOptions(
            id=pool_id,
            vm_size="standard_d2s_v3",
            target_dedicated_nodes=2,
            task_slots_per_node=2,
            enable_inter_node_communication=True,
        )
    )
    wait_for_idle_nodes(client, pool_id, 2)
    return pool_id


def new_job(client: BatchClient, pool_id: str, prefix: str, **options: object) -> str:
    job_id = unique(prefix)
    client.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id), **options))
    return job_id


def stdout_of(client: BatchClient, job_id: str, task_id: str) -> str:
    return b"".join(client.download_task_file(job_id, task_id, "stdout.txt")).decode()


def test_environment_and_folder_layout_as_tasks_see_them(client: BatchClient, pool_id: str) -> None:
    job_id = new_job(
        client,
        pool_id,
        "env",
        common_environment_settings=[m.EnvironmentSetting(name="FROM_JOB", value="job-value")],
    )
    client.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="printer",
            command_line=f"{SH} 'env; echo PWD=$(pwd)'",
            environment_settings=[m.EnvironmentSetting(name="FROM_TASK", value="task value")],
        ),
    )
    wait_for_tasks_completed(client, job_id)
    env = dict(line.split("=", 1) for line in stdout_of(client, job_id, "printer").splitlines() if "=" in line)
    task = client.get_task(job_id, "printer")
    node_ids = {n.id for n in client.list_nodes(pool_id)}
    assert env["AZ_BATCH_POOL_ID"] == pool_id
    assert env["AZ_BATCH_JOB_ID"] == job_id
    assert env["AZ_BATCH_TASK_ID"] == "printer"
    assert env["AZ_BATCH_NODE_ID"] == task.node_info.node_id and env["AZ_BATCH_NODE_ID"] in node_ids
    assert env["AZ_BATCH_TASK_RETRY_COUNT"] == "0"
    assert env["FROM_JOB"] == "job-value" and env["FROM_TASK"] == "task value"
    root = env["AZ_BATCH_NODE_ROOT_DIR"]
    assert env["AZ_BATCH_NODE_SHARED_DIR"] == f"{root}/shared"
    assert env["AZ_BATCH_NODE_STARTUP_DIR"] == f"{root}/startup"
    assert env["AZ_BATCH_TASK_DIR"] == f"{root}/workitems/{job_id}/job-1/printer"
    assert env["AZ_BATCH_TASK_WORKING_DIR"] == env["PWD"] == f"{env['AZ_BATCH_TASK_DIR']}/wd"
    assert task.node_info.task_root_directory == f"workitems/{job_id}/job-1/printer"
    names = {f.name for f in client.list_task_files(job_id, "printer")}
    assert {"stdout.txt", "stderr.txt", "wd"} <= names
    props = client.get_task_file_properties(job_id, "printer", "stdout.txt")
    assert props.content_length == len(stdout_of(client, job_id, "printer").encode())


def test_job_preparation_runs_before_tasks_and_release_when_the_job_ends(client: BatchClient, pool_id: str) -> None:
    job_id = new_job(
        client,
        pool_id,
        "prep",
        job_preparation_task=m.BatchJobPreparationTask(
            command_line=f"{SH} 'echo prepared > $AZ_BATCH_NODE_SHARED_DIR/$AZ_BATCH_JOB_ID.prep'"
        ),
        job_release_task=m.BatchJobReleaseTask(
            command_line=f"{SH} 'echo released > $AZ_BATCH_NODE_SHARED_DIR/$AZ_BATCH_JOB_ID.release'"
        ),
    )
    client.create_tasks(
        job_id,
        [
            m.BatchTaskCreateOptions(id=f"t{i}", command_line=f"{SH} 'cat $AZ_BATCH_NODE_SHARED_DIR/{job_id}.prep'")
            for i in range(4)
        ],
    )
    counts = wait_for_tasks_completed(client, job_id)
    assert counts.succeeded == 4
    assert all(stdout_of(client, job_id, f"t{i}") == "prepared\n" for i in range(4))
    client.begin_terminate_job(
        job_id, _models.BatchJobTerminateOptions(termination_reason="ended-by-test"), polling_interval=0.1
    ).result()
    wait_for(lambda: client.get_job(job_id).state == "completed", what="job completed")
    statuses = list(client.list_job_preparation_and_release_task_status(job_id))
    assert statuses
    for status in statuses:
        assert status.job_preparation_task_execution_info.state == "completed"
        assert status.job_preparation_task_execution_info.exit_code == 0
        assert status.job_release_task_execution_info.state == "completed"
        released = b"".join(client.download_node_file(pool_id, status.node_id, f"shared/{job_id}.release"))
        assert released == b"released\n"
    assert client.get_job(job_id).execution_info.termination_reason == "ended-by-test"


def test_resource_files_from_azurite_and_output_files_back(
    local_batch: LocalBatch, client: BatchClient, pool_id: str
) -> None:
    blobs = local_batch.blob_service_client()
    inputs = unique("inputs")
    outputs = unique("outputs")
    blobs.create_container(inputs)
    blobs.create_container(outputs)
    blobs.get_blob_client(inputs, "data/a.txt").upload_blob(b"alpha")
    blobs.get_blob_client(inputs, "data/b.txt").upload_blob(b"beta")
    blobs.get_blob_client(inputs, "tool.sh").upload_blob(b"#!/bin/sh\necho tool-ran\n")
    expiry = datetime.now(UTC) + timedelta(hours=1)

    def sas(container: str, permission: ContainerSasPermissions) -> str:
        token = generate_container_sas(
            local_batch.storage_account_name,
            container,
            account_key=local_batch.storage_account_key,
            permission=permission,
            expiry=expiry,
        )
        return f"{local_batch.blob_endpoint}/{container}?{token}"

    read_url = sas(inputs, ContainerSasPermissions(read=True, list=True))
    write_url = sas(outputs, ContainerSasPermissions(write=True, create=True, add=True))
    tool_url = read_url.replace("?", "/tool.sh?", 1)
    job_id = new_job(client, pool_id, "storage")
    client.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="io",
            command_line=f"{SH} 'cat data/a.txt data/b.txt > joined.txt && ./bin/tool.sh > tool.txt'",
            resource_files=[
                m.ResourceFile(storage_container_url=read_url, blob_prefix="data/"),
                m.ResourceFile(http_url=tool_url, file_path="bin/tool.sh", file_mode="0755"),
            ],
            output_files=[
                m.OutputFile(
                    file_pattern="*.txt",
                    destination=m.OutputFileDestination(
                        container=m.OutputFileBlobContainerDestination(container_url=write_url, path="results")
                    ),
                    upload_options=m.OutputFileUploadConfiguration(upload_condition="taskcompletion"),
                )
            ],
        ),
    )
    wait_for_tasks_completed(client, job_id)
    task = client.get_task(job_id, "io")
    assert task.execution_info.result == "success", task.execution_info
    uploaded = {b.name for b in blobs.get_container_client(outputs).list_blobs()}
    assert {"results/joined.txt", "results/tool.txt"} <= uploaded
    joined = blobs.get_blob_client(outputs, "results/joined.txt").download_blob().readall()
    assert joined == b"alphabeta"
    assert blobs.get_blob_client(outputs, "results/tool.txt").download_blob().readall() == b"tool-ran\n"


def test_dependencies_by_id_and_range_and_a_failed_dependency_blocks(client: BatchClient, pool_id: str) -> None:
    job_id = new_job(client, pool_id, "deps", uses_task_dependencies=True)
    client.create_tasks(
        job_id,
        [
            m.BatchTaskCreateOptions(id="1", command_line=f"{SH} 'sleep 0.3'"),
            m.BatchTaskCreateOptions(id="2", command_line=f"{SH} 'sleep 0.3'"),
            m.BatchTaskCreateOptions(
                id="after-range",
                command_line="true",
                depends_on=m.BatchTaskDependencies(task_id_ranges=[m.BatchTaskIdRange(start=1, end=2)]),
            ),
            m.BatchTaskCreateOptions(
                id="after-id", command_line="true", depends_on=m.BatchTaskDependencies(task_ids=["after-range"])
            ),
            m.BatchTaskCreateOptions(id="fails", command_line=f"{SH} 'exit 2'"),
            m.BatchTaskCreateOptions(
                id="blocked", command_line="true", depends_on=m.BatchTaskDependencies(task_ids=["fails"])
            ),
        ],
    )
    wait_for(lambda: client.get_job_task_counts(job_id).task_counts.completed == 5, what="5 completed")
    tasks = {t.id: t for t in client.list_tasks(job_id)}
    ends = {i: tasks[i].execution_info.end_time for i in ("1", "2")}
    assert tasks["after-range"].execution_info.start_time >= max(ends.values())
    assert tasks["after-id"].execution_info.start_time >= tasks["after-range"].execution_info.end_time
    time.sleep(0.5)
    assert client.get_task(job_id, "blocked").state == "active"
    with pytest.raises(Exception) as refused:
        client.create_task(
            new_job(client, pool_id, "nodeps"),
            m.BatchTaskCreateOptions(id="x", command_line="true", depends_on=m.BatchTaskDependencies(task_ids=["y"])),
        )
    assert refused.value.error.code == "TaskDependenciesNotSpecifiedOnJob"


def test_retries_and_wall_clock_limit(client: BatchClient, pool_id: str) -> None:
    job_id = new_job(client, pool_id, "retry")
    client.create_tasks(
        job_id,
        [
            m.BatchTaskCreateOptions(
                id="always-fails",
                command_line=f"{SH} 'exit 7'",
                constraints=m.BatchTaskConstraints(max_task_retry_count=2),
            ),
            m.BatchTaskCreateOptions(
                id="second-try",
                command_line=f"{SH} 'test $AZ_BATCH_TASK_RETRY_COUNT = 1'",
                constraints=m.BatchTaskConstraints(max_task_retry_count=3),
            ),
            m.BatchTaskCreateOptions(
                id="too-slow",
                command_line=f"{SH} 'sleep 30'",
                constraints=m.BatchTaskConstraints(max_wall_clock_time=timedelta(seconds=1)),
            ),
        ],
    )
    started = time.monotonic()
    wait_for_tasks_completed(client, job_id, timeout=30)
    assert time.monotonic() - started < 15
    fails = client.get_task(job_id, "always-fails").execution_info
    assert (fails.result, fails.exit_code, fails.retry_count) == ("failure", 7, 2)
    assert fails.failure_info.code == "FailureExitCode" and fails.last_retry_time is not None
    second = client.get_task(job_id, "second-try").execution_info
    assert (second.result, second.retry_count) == ("success", 1)
    slow = client.get_task(job_id, "too-slow").execution_info
    assert slow.result == "failure" and slow.failure_info.code == "TaskEnded"
    counts = client.get_job_task_counts(job_id).task_counts
    assert (counts.succeeded, counts.failed) == (1, 2)


def test_required_slots_limit_concurrency(client: BatchClient, pool_id: str) -> None:
    job_id = new_job(client, pool_id, "slots")
    client.create_tasks(
        job_id,
        [
            m.BatchTaskCreateOptions(id=f"wide-{i}", command_line=f"{SH} 'sleep 0.4'", required_slots=2)
            for i in range(4)
        ],
    )
    wait_for_tasks_completed(client, job_id)
    runs = [
        (t.node_info.node_id, t.execution_info.start_time, t.execution_info.end_time) for t in client.list_tasks(job_id)
    ]
    for node, start, end in runs:
        overlapping = [r for r in runs if r[0] == node and r[1] < end and start < r[2]]
        assert len(overlapping) == 1  # a two-slot task has its two-slot node to itself


def test_job_completion_rules(client: BatchClient, pool_id: str) -> None:
    done_job = new_job(client, pool_id, "alldone")
    client.create_tasks(done_job, [m.BatchTaskCreateOptions(id=f"t{i}", command_line="true") for i in range(3)])
    client.update_job(done_job, m.BatchJobUpdateOptions(all_tasks_complete_mode="terminatejob"))
    wait_for(lambda: client.get_job(done_job).state == "completed", what="job terminated by its tasks")
    assert client.get_job(done_job).execution_info.termination_reason == "AllTasksComplete"

    failing_job = new_job(client, pool_id, "onfail", task_failure_mode="performexitoptionsjobaction")
    client.create_task(failing_job, m.BatchTaskCreateOptions(id="bad", command_line=f"{SH} 'exit 4'"))
    wait_for(lambda: client.get_job(failing_job).state == "completed", what="job terminated by a failure")
    assert client.get_job(failing_job).execution_info.termination_reason == "TaskFailed"


def test_terminate_reactivate_and_delete_tasks(client: BatchClient, pool_id: str) -> None:
    job_id = new_job(client, pool_id, "ops")
    client.create_task(job_id, m.BatchTaskCreateOptions(id="long", command_line=f"{SH} 'sleep 60'"))
    client.create_task(job_id, m.BatchTaskCreateOptions(id="flaky", command_line=f"{SH} 'exit 1'"))
    wait_for(lambda: client.get_task(job_id, "long").state == "running", what="long running")
    client.terminate_task(job_id, "long")
    long_task = client.get_task(job_id, "long")
    assert long_task.state == "completed" and long_task.execution_info.failure_info.code == "TaskEnded"
    wait_for(lambda: client.get_task(job_id, "flaky").state == "completed", what="flaky completed")
    client.reactivate_task(job_id, "flaky")
    assert client.get_task(job_id, "flaky").execution_info.retry_count == 0
    wait_for(lambda: client.get_task(job_id, "flaky").state == "completed", what="flaky ran again")
    client.delete_task(job_id, "flaky")
    assert [t.id for t in client.list_tasks(job_id)] == ["long"]


def test_multi_instance_task_runs_on_every_node(client: BatchClient, pool_id: str) -> None:
    job_id = new_job(client, pool_id, "mpi")
    client.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="mpi",
            command_line=f"{SH} 'echo hosts=$AZ_BATCH_HOST_LIST master=$AZ_BATCH_IS_CURRENT_NODE_MASTER'",
            multi_instance_settings=m.MultiInstanceSettings(
                number_of_instances=2, coordination_command_line=f"{SH} 'echo coordinating'"
            ),
        ),
    )
    wait_for_tasks_completed(client, job_id)
    task = client.get_task(job_id, "mpi")
    assert task.execution_info.result == "success"
    output = stdout_of(client, job_id, "mpi")
    hosts = output.split("hosts=")[1].split()[0].split(",")
    assert len(hosts) == 2 and len(set(hosts)) == 2 and "master=true" in output
    subtasks = list(client.list_subtasks(job_id, "mpi"))
    assert len(subtasks) == 1 and subtasks[0].node_info.node_id != task.node_info.node_id


def test_start_task_failure_leaves_nodes_unusable(client: BatchClient) -> None:
    pool_id = unique("badstart")
    client.create_pool(
        m.BatchPoolCreateOptions(
            id=pool_id,
            vm_size="standard_d2s_v3",
            target_dedicated_nodes=1,
            start_task=m.BatchStartTask(command_line=f"{SH} 'exit 9'", wait_for_success=True),
        )
    )
    node = wait_for(
        lambda: next((n for n in client.list_nodes(pool_id) if n.state == "starttaskfailed"), None),
        what="start task failure",
    )
    assert node.start_task_info.exit_code == 9 and node.start_task_info.result == "failure"
    client.begin_delete_pool(pool_id, polling_interval=0.1).result()
    assert pool_id not in {p.id for p in client.list_pools()}


def test_resize_and_autoscale(client: BatchClient) -> None:
    pool_id = unique("scale")
    client.create_pool(m.BatchPoolCreateOptions(id=pool_id, vm_size="standard_d2s_v3", target_dedicated_nodes=1))
    wait_for_idle_nodes(client, pool_id, 1)
    client.begin_resize_pool(pool_id, m.BatchPoolResizeOptions(target_dedicated_nodes=3), polling_interval=0.1).result()
    wait_for_idle_nodes(client, pool_id, 3)
    client.begin_resize_pool(
        pool_id, m.BatchPoolResizeOptions(target_dedicated_nodes=0, target_low_priority_nodes=1), polling_interval=0.1
    ).result()
    nodes = wait_for_idle_nodes(client, pool_id, 1)
    assert not nodes[0].is_dedicated
    client.enable_pool_auto_scale(
        pool_id,
        m.BatchPoolEnableAutoScaleOptions(
            auto_scale_formula="$TargetDedicatedNodes = max(1, 4 / 2);\n$TargetLowPriorityNodes = 0;"
        ),
    )
    wait_for_idle_nodes(client, pool_id, 2)
    pool = client.get_pool(pool_id)
    assert pool.auto_scale_run.results.startswith("$TargetDedicatedNodes=2;$TargetLowPriorityNodes=0")
    run = client.evaluate_pool_auto_scale(
        pool_id,
        m.BatchPoolEvaluateAutoScaleOptions(auto_scale_formula="$TargetDedicatedNodes = $PendingTasks.GetSample(1);"),
    )
    assert run.error is not None  # a doubleVec is not a node count
    assert run.error.error_values[0].value == "Line 1, Col 1: $TargetDedicatedNodes must be a double, not a doubleVec"
    client.disable_pool_auto_scale(pool_id)
    assert client.get_pool(pool_id).enable_auto_scale is False
    client.begin_delete_pool(pool_id, polling_interval=0.1).result()


def test_retention_time_removes_task_files_and_job_wall_clock_ends_the_job(client: BatchClient, pool_id: str) -> None:
    job_id = new_job(
        client, pool_id, "retain", constraints=m.BatchJobConstraints(max_wall_clock_time=timedelta(seconds=3))
    )
    client.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="short-lived",
            command_line=f"{SH} 'echo bye'",
            constraints=m.BatchTaskConstraints(retention_time=timedelta(seconds=1)),
        ),
    )
    wait_for(lambda: client.get_task(job_id, "short-lived").state == "completed", what="task completed")
    wait_for(lambda: not list(client.list_task_files(job_id, "short-lived")), what="task files removed")
    wait_for(lambda: client.get_job(job_id).state == "completed", what="job ended by its wall clock")
    assert client.get_job(job_id).execution_info.termination_reason == "MaxWallClockTimeExpiry"
