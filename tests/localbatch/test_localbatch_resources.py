"""Updating pools and jobs, conditional requests, node files, job states, and the test handle itself."""

from __future__ import annotations

import uuid

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceModifiedError, ResourceNotFoundError

from batchforge.localbatch.testing import LocalBatch, wait_for, wait_for_idle_nodes


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def client(local_batch: LocalBatch) -> BatchClient:
    return local_batch.batch_client()


def test_pool_updates_and_conditional_requests(client: BatchClient) -> None:
    pool_id = unique("upd")
    client.create_pool(
        m.BatchPoolCreateOptions(
            id=pool_id, vm_size="standard_d2s_v3", metadata=[m.BatchMetadataItem(name="a", value="1")]
        )
    )
    first = client.get_pool(pool_id)
    client.update_pool(pool_id, m.BatchPoolUpdateOptions(metadata=[m.BatchMetadataItem(name="b", value="2")]))
    second = client.get_pool(pool_id)
    assert [(i.name, i.value) for i in second.metadata] == [("b", "2")]
    assert second.etag != first.etag and second.last_modified >= first.last_modified
    with pytest.raises(ResourceModifiedError) as stale:
        client.update_pool(
            pool_id,
            m.BatchPoolUpdateOptions(metadata=[]),
            etag=first.etag,
            match_condition=MatchConditions.IfNotModified,
        )
    assert stale.value.status_code == 412 and stale.value.error.code == "ConditionNotMet"
    client.replace_pool_properties(
        pool_id,
        m.BatchPoolReplaceOptions(
            start_task=m.BatchStartTask(command_line="true"), application_package_references=[], metadata=[]
        ),
    )
    replaced = client.get_pool(pool_id)
    assert replaced.start_task.command_line == "true" and not replaced.metadata
    selected = client.get_pool(pool_id, select=["id", "vmSize"])
    assert selected.id == pool_id and selected.state is None
    listed = list(client.list_pools(filter=f"id eq '{pool_id}'"))
    assert [p.id for p in listed] == [pool_id]
    client.begin_delete_pool(pool_id, polling_interval=0.1).result()
    with pytest.raises(ResourceNotFoundError):
        client.get_pool(pool_id)


def test_job_updates_disable_enable_and_delete(client: BatchClient) -> None:
    job_id = unique("jobops")
    client.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id="nowhere"), priority=5))
    client.update_job(job_id, m.BatchJobUpdateOptions(priority=100, max_parallel_tasks=2))
    job = client.get_job(job_id)
    assert (job.priority, job.max_parallel_tasks) == (100, 2)
    # Same pool: a pool change needs a disabled job (test_localbatch_job_rules); what PUT omits is reset.
    client.replace_job(job_id, m.BatchJob(pool_info=m.BatchPoolInfo(pool_id="nowhere")))
    job = client.get_job(job_id)
    assert job.pool_info.pool_id == "nowhere" and job.priority == 0
    client.begin_disable_job(job_id, m.BatchJobDisableOptions(disable_tasks="requeue"), polling_interval=0.1).result()
    assert client.get_job(job_id).state == "disabled"
    client.begin_enable_job(job_id, polling_interval=0.1).result()
    assert client.get_job(job_id).state == "active"
    client.create_task(job_id, m.BatchTaskCreateOptions(id="waiting", command_line="true"))
    client.replace_task(job_id, "waiting", m.BatchTask(constraints=m.BatchTaskConstraints(max_task_retry_count=4)))
    assert client.get_task(job_id, "waiting").constraints.max_task_retry_count == 4
    with pytest.raises(HttpResponseError) as no_prep:
        list(client.list_job_preparation_and_release_task_status(job_id))
    assert no_prep.value.error.code == "JobPreparationTaskOrReleaseTaskNotSpecified"
    client.begin_delete_job(job_id, polling_interval=0.1).result()
    with pytest.raises(ResourceNotFoundError):
        client.get_job(job_id)


def test_node_files_and_paging(client: BatchClient) -> None:
    pool_id = unique("files")
    client.create_pool(
        m.BatchPoolCreateOptions(
            id=pool_id,
            vm_size="standard_d2s_v3",
            target_dedicated_nodes=1,
            start_task=m.BatchStartTask(command_line="/bin/sh -c 'echo started; echo oops >&2'"),
        )
    )
    node = wait_for_idle_nodes(client, pool_id, 1)[0]
    names = {f.name for f in client.list_node_files(pool_id, node.id, recursive=True)}
    assert {"shared", "startup", "workitems", "startup/stdout.txt", "startup/stderr.txt"} <= names
    assert b"".join(client.download_node_file(pool_id, node.id, "startup/stdout.txt")) == b"started\n"
    props = client.get_node_file_properties(pool_id, node.id, "startup/stderr.txt")
    assert props.content_length == 5 and props.is_directory is False
    with pytest.raises(ResourceNotFoundError) as missing:
        client.get_node_file_properties(pool_id, node.id, "startup/nothing.txt")
    assert missing.value.status_code == 404
    with pytest.raises(ResourceNotFoundError):
        list(client.list_node_files(pool_id, "tvmps_missing_d"))
    pages = list(client.list_node_files(pool_id, node.id, recursive=True, max_results=2))
    assert {f.name for f in pages} == names
    client.begin_delete_pool(pool_id, polling_interval=0.1).result()


def test_handle_builds_a_batch_target(local_batch: LocalBatch) -> None:
    target = local_batch.target(pool_ids={"cpu": "cpu-pool"})
    assert target.account_endpoint == local_batch.endpoint
    assert target.auth.kind == "shared-key" and target.auth.account_name == local_batch.account_name
    assert target.pool_ids == {"cpu": "cpu-pool"}
    assert target.resources_container_url == f"{local_batch.blob_endpoint}/resources"
    containers = {c.name for c in local_batch.blob_service_client().list_containers()}
    assert {"resources", "outputs"} <= containers
    wait_for(lambda: local_batch.fault_counts() == {}, timeout=5, what="no faults configured")


def test_pool_node_counts(client: BatchClient) -> None:
    pool_id = unique("counts")
    client.create_pool(m.BatchPoolCreateOptions(id=pool_id, vm_size="standard_d2s_v3", target_dedicated_nodes=2))
    wait_for_idle_nodes(client, pool_id, 2)
    counts = {c.pool_id: c for c in client.list_pool_node_counts()}[pool_id]
    assert (counts.dedicated.idle, counts.dedicated.total, counts.low_priority.total) == (2, 2, 0)
    client.begin_delete_pool(pool_id, polling_interval=0.1).result()
