"""Auto pools (Job - Add with poolInfo.autoPoolSpecification) through the unmodified SDK: the pool is
created with the job as `<prefix>_<guid>`, the job's tasks run there, and with the `job` lifetime the pool
goes when the job completes, is terminated or is deleted, unless keepAlive."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.batch.models import _models  # BatchJobTerminateOptions is not exported in 15.1.0
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from batchforge.localbatch.testing import LocalBatch, wait_for, wait_for_tasks_completed

GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def client(local_batch: LocalBatch) -> BatchClient:
    return local_batch.batch_client()


def auto_pool(
    prefix: str | None = "ap", *, keep_alive: bool | None = None, nodes: int = 1, **pool: Any
) -> m.BatchPoolInfo:
    return m.BatchPoolInfo(
        auto_pool_specification=m.BatchAutoPoolSpecification(
            auto_pool_id_prefix=prefix,
            pool_lifetime_option=m.BatchPoolLifetimeOption.JOB,
            keep_alive=keep_alive,
            pool=m.BatchPoolSpecification(vm_size="standard_d2s_v3", target_dedicated_nodes=nodes, **pool),
        )
    )


def pool_exists(client: BatchClient, pool_id: str) -> bool:
    try:
        client.get_pool(pool_id)
    except ResourceNotFoundError:
        return False
    return True


def terminate(client: BatchClient, job_id: str) -> None:
    client.begin_terminate_job(
        job_id, _models.BatchJobTerminateOptions(termination_reason="test"), polling_interval=0.1
    ).result()


def test_job_runs_on_its_auto_pool_which_goes_when_the_job_completes(client: BatchClient) -> None:
    job_id = unique("auto")
    client.create_job(
        m.BatchJobCreateOptions(
            id=job_id,
            pool_info=auto_pool("mine", task_slots_per_node=2),
            all_tasks_complete_mode=m.BatchAllTasksCompleteMode.TERMINATE_JOB,
        )
    )
    job = client.get_job(job_id)
    pool_id = job.execution_info.pool_id
    # poolInfo stays as given (no poolId); executionInfo.poolId names the pool Batch made.
    assert job.pool_info.pool_id is None
    spec = job.pool_info.auto_pool_specification
    assert (spec.auto_pool_id_prefix, spec.pool_lifetime_option, spec.pool.vm_size) == (
        "mine",
        "job",
        "standard_d2s_v3",
    )
    assert re.fullmatch(f"mine_{GUID}", pool_id), pool_id
    pool = client.get_pool(pool_id)
    assert (pool.vm_size, pool.task_slots_per_node, pool.target_dedicated_nodes) == ("standard_d2s_v3", 2, 1)

    client.create_tasks(job_id, [m.BatchTaskCreateOptions(id=f"t{i}", command_line="true") for i in range(3)])
    wait_for_tasks_completed(client, job_id)
    assert {t.node_info.pool_id for t in client.list_tasks(job_id)} == {pool_id}
    wait_for(lambda: client.get_job(job_id).state == "completed", what="job completed by its tasks")
    wait_for(lambda: not pool_exists(client, pool_id), what="auto pool deleted with its job")
    assert client.get_job(job_id).execution_info.pool_id == pool_id


def test_terminated_job_deletes_its_pool_and_keep_alive_keeps_it(client: BatchClient) -> None:
    ended, kept = unique("auto-end"), unique("auto-kept")
    client.create_job(m.BatchJobCreateOptions(id=ended, pool_info=auto_pool(None)))
    client.create_job(m.BatchJobCreateOptions(id=kept, pool_info=auto_pool("kept", keep_alive=True)))
    ended_pool = client.get_job(ended).execution_info.pool_id
    kept_pool = client.get_job(kept).execution_info.pool_id
    assert re.fullmatch(GUID, ended_pool), ended_pool  # no prefix: the GUID alone
    assert ended_pool != kept_pool and kept_pool.startswith("kept_")
    terminate(client, ended)
    terminate(client, kept)
    wait_for(lambda: not pool_exists(client, ended_pool), what="terminated job's pool deleted")
    assert client.get_job(ended).state == "completed"
    wait_for(lambda: client.get_job(kept).state == "completed", what="kept job completed")
    time.sleep(1.5)  # several scheduler passes after the job completed
    assert client.get_pool(kept_pool).state == "active"
    client.begin_delete_pool(kept_pool, polling_interval=0.1).result()  # keepAlive: up to the user


def test_deleted_job_deletes_its_pool(client: BatchClient) -> None:
    job_id = unique("auto-del")
    client.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=auto_pool("del")))
    pool_id = client.get_job(job_id).execution_info.pool_id
    client.create_task(job_id, m.BatchTaskCreateOptions(id="long", command_line="/bin/sh -c 'sleep 60'"))
    wait_for(lambda: client.get_task(job_id, "long").state == "running", what="task running on the auto pool")
    client.begin_delete_job(job_id, polling_interval=0.1).result()
    wait_for(lambda: not pool_exists(client, pool_id), what="deleted job's pool deleted")


def refusal_of_job_add(local_batch: LocalBatch, body: dict[str, Any]) -> tuple[int, str, dict[str, str]]:
    """Job - Add with a raw body (the SDK's models would not build some of these); the error's parts."""
    from azure.core.rest import HttpRequest

    request = HttpRequest(
        "POST",
        f"{local_batch.endpoint}/jobs?api-version=2025-06-01",
        json=body,
        headers={"Content-Type": "application/json; odata=minimalmetadata"},
    )
    with pytest.raises(HttpResponseError) as refused:
        local_batch.batch_client().send_request(request)
    err = refused.value
    assert err.error is not None and err.status_code is not None
    return err.status_code, str(err.error.code), {str(d.code): str(d.message) for d in err.error.details or []}


def test_malformed_auto_pool_specifications_are_refused(local_batch: LocalBatch) -> None:
    spec = {"poolLifetimeOption": "job", "pool": {"vmSize": "standard_d2s_v3"}}
    pools_before = {p.id for p in local_batch.batch_client().list_pools()}

    def add(pool_info: dict[str, Any]) -> tuple[int, str, dict[str, str]]:
        return refusal_of_job_add(local_batch, {"id": unique("bad"), "poolInfo": pool_info})

    status, code, values = add({"poolId": "p", "autoPoolSpecification": spec})
    assert (status, code, values["PropertyName"]) == (400, "InvalidPropertyValue", "poolInfo")
    status, code, values = add({"autoPoolSpecification": {**spec, "poolLifetimeOption": "jobschedule"}})
    assert (status, code) == (400, "InvalidPropertyValue")
    assert values["PropertyName"] == "poolInfo.autoPoolSpecification.poolLifetimeOption"
    status, code, values = add({"autoPoolSpecification": {"pool": spec["pool"]}})
    assert (status, code) == (400, "MissingRequiredProperty")
    assert values["PropertyName"] == "poolInfo.autoPoolSpecification.poolLifetimeOption"
    status, code, values = add({"autoPoolSpecification": {**spec, "pool": {}}})
    assert (status, code) == (400, "MissingRequiredProperty")
    assert values["PropertyName"] == "poolInfo.autoPoolSpecification.pool.vmSize"
    status, code, values = add({"autoPoolSpecification": {**spec, "autoPoolIdPrefix": "x" * 21}})
    assert (status, code, values["PropertyName"]) == (
        400,
        "InvalidPropertyValue",
        "poolInfo.autoPoolSpecification.autoPoolIdPrefix",
    )
    status, code, values = add(
        {"autoPoolSpecification": {**spec, "pool": {**spec["pool"], "cloudServiceConfiguration": {"osFamily": "6"}}}}
    )
    assert (status, code) == (400, "FeatureNotSupported")
    # A refused job leaves no pool behind.
    assert {p.id for p in local_batch.batch_client().list_pools()} <= pools_before


def test_a_pool_that_cannot_be_created_completes_the_job_with_a_scheduling_error(client: BatchClient) -> None:
    job_id = unique("auto-fail")
    # Autoscale without a formula: the job is taken, the pool's creation fails.
    client.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=auto_pool("fail", nodes=0, enable_auto_scale=True)))
    job = client.get_job(job_id)
    assert job.state == "completed" and job.execution_info.end_time is not None
    error = job.execution_info.scheduling_error
    assert (error.category, error.code) == ("usererror", "MissingRequiredProperty")
    assert {d.name: d.value for d in error.details}["PropertyName"] == "autoScaleFormula"
    assert job.execution_info.pool_id is None
    assert not [p for p in client.list_pools() if p.id.startswith("fail_")]


def test_auto_pool_job_survives_a_restart_and_still_takes_its_pool_with_it(
    local_batch_factory: Callable[[], LocalBatch],
) -> None:
    batch = local_batch_factory()
    client = batch.batch_client()
    job_id = unique("auto-restart")
    client.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=auto_pool("rs")))
    pool_id = client.get_job(job_id).execution_info.pool_id
    batch.restart()
    client = batch.batch_client()
    client.create_task(job_id, m.BatchTaskCreateOptions(id="after", command_line="true"))
    wait_for_tasks_completed(client, job_id)
    assert client.get_task(job_id, "after").node_info.pool_id == pool_id
    terminate(client, job_id)
    wait_for(lambda: not pool_exists(client, pool_id), what="auto pool deleted after the restart")
