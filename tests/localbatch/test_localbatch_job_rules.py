"""The local service enforces Batch's job rules: what Job - Update (PUT) and Job - Patch change, a pool change
only while disabled, no way back from terminatejob, and the active-jobs-and-schedules quota (real 409 body)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest

from batchforge.localbatch.testing import LocalBatch, wait_for

API = "api-version=2024-07-01.20.0"


@pytest.fixture
def client(local_batch: LocalBatch) -> Iterator[BatchClient]:
    client = local_batch.batch_client()
    yield client
    for job in client.list_jobs(select=["id"]):
        if job.id.startswith("rules-"):
            client.begin_delete_job(job.id, polling_interval=0.1)


def _job(client: BatchClient, **extra: object) -> str:
    job_id = f"rules-{uuid.uuid4().hex[:8]}"
    client.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id="p1"), **extra))
    return job_id


def _send(client: BatchClient, method: str, path: str, body: object) -> Any:
    """The raw answer to a request (this SDK's send_request raises on an error status)."""
    try:
        return client.send_request(HttpRequest(method, f"{path}?{API}", json=body))
    except HttpResponseError as error:
        return error.response


def test_patch_changes_only_what_it_names_and_put_resets_what_it_omits(client: BatchClient) -> None:
    job_id = _job(client, priority=3, metadata=[m.BatchMetadataItem(name="a", value="1")])
    client.update_job(job_id, m.BatchJobUpdateOptions(max_parallel_tasks=2))
    job = client.get_job(job_id)
    assert (job.priority, job.max_parallel_tasks, [i.name for i in job.metadata]) == (3, 2, ["a"])
    answer = _send(client, "PUT", f"/jobs/{job_id}", {"poolInfo": {"poolId": "p1"}})
    assert answer.status_code == 200, answer.text()
    job = client.get_job(job_id)
    assert (job.priority, job.max_parallel_tasks, job.metadata) == (0, -1, None)


def test_a_pool_change_is_refused_unless_the_job_is_disabled(client: BatchClient) -> None:
    job_id = _job(client)
    with pytest.raises(HttpResponseError) as refused:
        client.update_job(job_id, m.BatchJobUpdateOptions(pool_info=m.BatchPoolInfo(pool_id="p2")))
    assert refused.value.status_code == 409 and refused.value.error.code == "OperationInvalidForCurrentState"
    # The same pool is no change: a read-modify-write client may send it back.
    client.update_job(job_id, m.BatchJobUpdateOptions(pool_info=m.BatchPoolInfo(pool_id="p1"), priority=1))
    client.begin_disable_job(job_id, m.BatchJobDisableOptions(disable_tasks="requeue"), polling_interval=0.1).result()
    client.update_job(job_id, m.BatchJobUpdateOptions(pool_info=m.BatchPoolInfo(pool_id="p2")))
    assert client.get_job(job_id).pool_info.pool_id == "p2"


def test_on_all_tasks_complete_cannot_go_back_from_terminatejob(client: BatchClient) -> None:
    job_id = _job(client)
    # A task that never runs (no pool p1): the job stays active once terminatejob is set.
    client.create_task(job_id, m.BatchTaskCreateOptions(id="t", command_line="true"))
    client.update_job(job_id, m.BatchJobUpdateOptions(all_tasks_complete_mode="terminatejob"))
    with pytest.raises(HttpResponseError) as refused:
        client.update_job(job_id, m.BatchJobUpdateOptions(all_tasks_complete_mode="noaction"))
    assert refused.value.status_code == 400 and refused.value.error.code == "InvalidPropertyValue"
    # A PUT that omits it means noaction: refused the same way.
    answer = _send(client, "PUT", f"/jobs/{job_id}", {"poolInfo": {"poolId": "p1"}})
    assert answer.status_code == 400 and answer.json()["code"] == "InvalidPropertyValue"
    mode = client.get_job(job_id).all_tasks_complete_mode
    assert str(getattr(mode, "value", mode)).lower() == "terminatejob"


def test_create_only_properties_are_refused_in_an_update_unless_unchanged(client: BatchClient) -> None:
    job_id = _job(client, display_name="first")
    answer = _send(client, "PATCH", f"/jobs/{job_id}", {"displayName": "second"})
    assert answer.status_code == 400 and answer.json()["code"] == "UnsupportedProperty"
    answer = _send(client, "PATCH", f"/jobs/{job_id}", {"onTaskFailure": "performexitoptionsjobaction"})
    assert answer.status_code == 400 and answer.json()["code"] == "UnsupportedProperty"
    assert _send(client, "PATCH", f"/jobs/{job_id}", {"displayName": "first", "priority": 2}).status_code == 200
    assert client.get_job(job_id).priority == 2


def test_completed_and_deleting_jobs_answer_their_codes(client: BatchClient) -> None:
    job_id = _job(client)
    client.begin_terminate_job(job_id, {"terminateReason": "test"}, polling_interval=0.1).result()
    wait_for(lambda: str(client.get_job(job_id).state).lower().endswith("completed"), what="job completed")
    with pytest.raises(HttpResponseError) as refused:
        client.update_job(job_id, m.BatchJobUpdateOptions(priority=1))
    assert refused.value.error.code == "JobCompleted"


def test_disable_with_terminate_wait_and_requeue_are_accepted_and_others_refused(client: BatchClient) -> None:
    for option in ("requeue", "terminate", "wait"):
        job_id = _job(client)
        client.begin_disable_job(job_id, m.BatchJobDisableOptions(disable_tasks=option), polling_interval=0.1).result()
        assert str(client.get_job(job_id).state).lower().endswith("disabled")
    answer = _send(client, "POST", f"/jobs/{_job(client)}/disable", {"disableTasks": "later"})
    assert answer.status_code == 400


def test_the_active_job_quota_answers_409_with_batch_error_body_and_completed_jobs_do_not_count(
    local_batch_factory,
) -> None:
    batch = local_batch_factory()
    client = batch.batch_client()
    assert batch.active_job_quota()["activeJobAndJobScheduleQuota"] == 100
    batch.set_active_job_quota(2)
    first, _second = _job(client), _job(client)
    answer = _send(client, "POST", "/jobs", {"id": "rules-third", "poolInfo": {"poolId": "p1"}})
    assert answer.status_code == 409
    body = answer.json()
    assert body["code"] == "ActiveJobAndScheduleQuotaReached"
    assert body["message"]["value"].startswith("The account has reached its quota of active jobs and job schedules.")
    # A job schedule counts too.
    schedule = {"id": "rules-sched", "schedule": {}, "jobSpecification": {"poolInfo": {"poolId": "p1"}}}
    assert _send(client, "POST", "/jobschedules", schedule).json()["code"] == "ActiveJobAndScheduleQuotaReached"
    client.begin_terminate_job(first, {"terminateReason": "test"}, polling_interval=0.1).result()
    wait_for(lambda: str(client.get_job(first).state).lower().endswith("completed"), what="job completed")
    assert batch.active_job_quota()["activeJobsAndJobSchedules"] == 1
    _job(client)
    assert batch.active_job_quota()["activeJobsAndJobSchedules"] == 2
