"""The REST surface as the unmodified azure-batch SDK sees it: auth, errors, add-collection limits, OData."""

from __future__ import annotations

import json
import uuid

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.core.rest import HttpRequest

from batchforge.localbatch.config import generate_key
from batchforge.localbatch.testing import LocalBatch, wait_for_idle_nodes, wait_for_tasks_completed


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def client(local_batch: LocalBatch) -> BatchClient:
    return local_batch.batch_client()


@pytest.fixture(scope="module")
def pool_id(client: BatchClient) -> str:
    pool_id = unique("api-pool")
    client.create_pool(
        m.BatchPoolCreateOptions(
            id=pool_id,
            vm_size="standard_d2s_v3",
            target_dedicated_nodes=2,
            task_slots_per_node=4,
            start_task=m.BatchStartTask(command_line="/bin/sh -c 'echo ready > $AZ_BATCH_NODE_SHARED_DIR/ready'"),
        )
    )
    wait_for_idle_nodes(client, pool_id, 2)
    return pool_id


def test_pool_with_start_task_reaches_idle_nodes(client: BatchClient, pool_id: str) -> None:
    pool = client.get_pool(pool_id)
    assert pool.allocation_state == "steady"
    assert pool.current_dedicated_nodes == 2
    assert pool.etag and pool.last_modified and pool.url.endswith(f"/pools/{pool_id}")
    for node in client.list_nodes(pool_id):
        assert node.state == "idle"
        assert node.start_task_info.state == "completed"
        assert node.start_task_info.exit_code == 0
        assert node.is_dedicated
        ready = b"".join(client.download_node_file(pool_id, node.id, "shared/ready"))
        assert ready == b"ready\n"


def test_wrong_key_is_rejected_with_the_service_error(local_batch: LocalBatch) -> None:
    intruder = BatchClient(local_batch.endpoint, AzureNamedKeyCredential(local_batch.account_name, generate_key()))
    with pytest.raises(HttpResponseError) as caught:
        intruder.get_pool("anything")
    assert caught.value.status_code == 403
    assert caught.value.error.code == "AuthenticationFailed"
    body = caught.value.response.json()
    assert body["message"]["lang"] == "en-US"
    assert "odata.metadata" in body


def test_missing_signature_is_rejected(local_batch: LocalBatch) -> None:
    import requests

    response = requests.get(f"{local_batch.endpoint}/pools?api-version=2025-06-01", timeout=10)
    assert response.status_code == 403
    assert response.json()["code"] == "AuthenticationFailed"
    assert response.headers["request-id"]


def test_duplicates_and_missing_entities_use_the_service_codes(client: BatchClient, pool_id: str) -> None:
    with pytest.raises(ResourceExistsError) as pool_exists:
        client.create_pool(m.BatchPoolCreateOptions(id=pool_id.upper(), vm_size="standard_d2s_v3"))
    assert pool_exists.value.error.code == "PoolExists"
    job_id = unique("api-job")
    client.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id)))
    with pytest.raises(ResourceExistsError) as job_exists:
        client.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id)))
    assert job_exists.value.error.code == "JobExists"
    with pytest.raises(ResourceNotFoundError) as no_pool:
        client.get_pool("no-such-pool")
    assert no_pool.value.error.code == "PoolNotFound"
    with pytest.raises(ResourceNotFoundError) as no_job:
        client.get_job("no-such-job")
    assert no_job.value.error.code == "JobNotFound"
    with pytest.raises(ResourceNotFoundError) as no_task:
        client.get_task(job_id, "no-such-task")
    assert no_task.value.error.code == "TaskNotFound"
    assert client.pool_exists(pool_id)
    with pytest.raises(HttpResponseError) as bad_task:
        client.create_task(job_id, m.BatchTaskCreateOptions(id="has space", command_line="true"))
    assert bad_task.value.status_code == 400
    assert bad_task.value.error.code == "InvalidPropertyValue"


def _raw(client: BatchClient, method: str, path: str, body: object) -> tuple[int, dict]:
    request = HttpRequest(
        method,
        f"{{endpoint}}{path}?api-version=2025-06-01",
        content=json.dumps(body),
        headers={"content-type": "application/json; odata=minimalmetadata"},
    )
    try:
        response = client.send_request(request)
    except HttpResponseError as err:  # the SDK's own policy raises on any error status
        response = err.response
    return response.status_code, response.json() if response.content else {}


def test_add_collection_limits_and_per_task_results(client: BatchClient, pool_id: str) -> None:
    job_id = unique("collection")
    client.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id)))
    too_many = {"value": [{"id": f"t{i}", "commandLine": "true"} for i in range(101)]}
    status, body = _raw(client, "POST", f"/jobs/{job_id}/addtaskcollection", too_many)
    assert (status, body["code"]) == (413, "RequestBodyTooLarge")
    huge = {"value": [{"id": f"t{i}", "commandLine": "echo " + "x" * 20_000} for i in range(60)]}
    status, body = _raw(client, "POST", f"/jobs/{job_id}/addtaskcollection", huge)
    assert (status, body["code"]) == (413, "RequestBodyTooLarge")
    status, body = _raw(client, "POST", f"/jobs/{job_id}/addtaskcollection", "not an object")
    assert (status, body["code"]) == (400, "InvalidRequestBody")

    client.create_task(job_id, m.BatchTaskCreateOptions(id="t1", command_line="true"))
    result = client.create_task_collection(
        job_id,
        m.BatchTaskGroup(task_values=[m.BatchTaskCreateOptions(id=f"t{i}", command_line="true") for i in range(3)]),
    )
    by_id = {r.task_id: r for r in result.result_values}
    assert by_id["t0"].status == "success" and by_id["t2"].status == "success"
    assert by_id["t1"].status == "clienterror" and by_id["t1"].error.code == "TaskExists"
    assert by_id["t0"].location.endswith(f"/jobs/{job_id}/tasks/t0")


def test_create_tasks_splits_1000_tasks_and_all_run(client: BatchClient, pool_id: str) -> None:
    job_id = unique("thousand")
    client.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id)))
    tasks = [m.BatchTaskCreateOptions(id=f"task-{i:04d}", command_line="true") for i in range(1000)]
    result = client.create_tasks(job_id, tasks, max_concurrency=4)
    assert len(result.result_values) == 1000
    assert all(r.status == "success" for r in result.result_values)
    counts = wait_for_tasks_completed(client, job_id, timeout=120)
    assert counts.completed == 1000 and counts.succeeded == 1000
    listed = list(client.list_tasks(job_id, max_results=300, select=["id", "state"]))
    assert sorted(t.id for t in listed) == sorted(t.id for t in tasks)
    assert all(t.command_line is None for t in listed)


def test_filter_select_and_paging(client: BatchClient, pool_id: str) -> None:
    job_id = unique("filter")
    client.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id)))
    client.create_tasks(
        job_id,
        [m.BatchTaskCreateOptions(id=f"ok-{i}", command_line="true") for i in range(5)]
        + [m.BatchTaskCreateOptions(id=f"bad-{i}", command_line="/bin/sh -c 'exit 3'") for i in range(3)],
    )
    wait_for_tasks_completed(client, job_id)
    failed = list(client.list_tasks(job_id, filter="executionInfo/result eq 'failure'", max_results=2))
    assert sorted(t.id for t in failed) == ["bad-0", "bad-1", "bad-2"]
    assert all(t.execution_info.exit_code == 3 for t in failed)
    one = list(client.list_tasks(job_id, filter="id eq 'ok-3'"))
    assert [t.id for t in one] == ["ok-3"]
    jobs = list(client.list_jobs(filter=f"id eq '{job_id}' and state eq 'active'", select=["id"]))
    assert [j.id for j in jobs] == [job_id]
    with pytest.raises(HttpResponseError) as bad_filter:
        list(client.list_tasks(job_id, filter="state eq"))
    assert bad_filter.value.error.code == "InvalidQueryParameterValue"


def test_unknown_paths_answer_with_an_odata_error(client: BatchClient) -> None:
    status, body = _raw(client, "GET", "/no/such/resource", None)
    assert (status, body["code"]) == (404, "InvalidUri")
    status, body = _raw(client, "PATCH", "/jobs", {})
    assert (status, body["code"]) == (405, "UnsupportedHttpVerb")
    assert list(client.list_applications()) == []


def test_create_tasks_halves_chunks_the_service_finds_too_large(client: BatchClient) -> None:
    job_id = unique("bigbodies")
    client.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id="not-created")))
    padding = "x" * 15_000  # 100 such tasks make a body over the 1 MiB limit; 50 do not
    tasks = [m.BatchTaskCreateOptions(id=f"big-{i}", command_line=f"echo {padding}") for i in range(150)]
    result = client.create_tasks(job_id, tasks)
    assert sorted(r.task_id for r in result.result_values) == sorted(t.id for t in tasks)
    assert client.get_job_task_counts(job_id).task_counts.active == 150
