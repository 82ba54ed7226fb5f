"""Injected faults, as a client meets them: 503 ServerBusy, 429 with Retry-After, delays, dropped connections.

Faults are scoped by path to one job, so other tests sharing the session's service are not affected.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.exceptions import AzureError, HttpResponseError

from batchforge.localbatch.testing import LocalBatch


@pytest.fixture
def job_id(local_batch: LocalBatch) -> Iterator[str]:
    job_id = f"faults-{uuid.uuid4().hex[:8]}"
    local_batch.batch_client().create_job(
        m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id="no-pool-needed"))
    )
    yield job_id
    local_batch.set_faults()


def fast_client(local_batch: LocalBatch, **retry: int) -> BatchClient:
    return local_batch.batch_client(retry_backoff_factor=0.01, **retry)


def test_server_busy_is_retried_by_the_sdk(local_batch: LocalBatch, job_id: str) -> None:
    local_batch.set_faults(server_busy_rate=1.0, max_faults=2, path_pattern=f"/jobs/{job_id}$")
    assert fast_client(local_batch).get_job(job_id).id == job_id
    assert local_batch.fault_counts() == {"server_busy": 2}

    local_batch.set_faults(server_busy_rate=1.0, max_faults=1, path_pattern=f"/jobs/{job_id}$")
    with pytest.raises(HttpResponseError) as caught:
        fast_client(local_batch, retry_total=0).get_job(job_id)
    assert caught.value.status_code == 503 and caught.value.error.code == "ServerBusy"


def test_throttling_answers_429_with_retry_after(local_batch: LocalBatch, job_id: str) -> None:
    local_batch.set_faults(throttle_rate=1.0, retry_after_seconds=1, max_faults=1, path_pattern=f"/jobs/{job_id}$")
    with pytest.raises(HttpResponseError) as caught:
        fast_client(local_batch, retry_total=0).get_job(job_id)
    assert caught.value.status_code == 429
    assert caught.value.response.headers["Retry-After"] == "1"

    local_batch.set_faults(throttle_rate=1.0, retry_after_seconds=1, max_faults=1, path_pattern=f"/jobs/{job_id}$")
    started = time.monotonic()
    assert fast_client(local_batch).get_job(job_id).id == job_id
    assert time.monotonic() - started >= 1.0  # the SDK honoured Retry-After


def test_delay(local_batch: LocalBatch, job_id: str) -> None:
    local_batch.set_faults(delay_rate=1.0, delay_seconds=0.6, max_faults=1, path_pattern=f"/jobs/{job_id}$")
    started = time.monotonic()
    fast_client(local_batch).get_job(job_id)
    assert time.monotonic() - started >= 0.6
    assert local_batch.fault_counts() == {"delay": 1}


def test_dropped_connection_after_the_request_was_processed(local_batch: LocalBatch, job_id: str) -> None:
    local_batch.set_faults(drop_rate=1.0, max_faults=1, methods=["POST"], path_pattern=f"/jobs/{job_id}/tasks$")
    client = fast_client(local_batch, retry_total=0)
    with pytest.raises(AzureError):
        client.create_task(job_id, m.BatchTaskCreateOptions(id="sent-once", command_line="true"))
    # The client saw a broken connection, yet the service had already added the task.
    assert client.get_task(job_id, "sent-once").id == "sent-once"
    assert local_batch.fault_counts() == {"drop": 1}


def test_same_seed_gives_the_same_faults(local_batch: LocalBatch, job_id: str) -> None:
    client = fast_client(local_batch, retry_total=0)

    def pattern() -> list[bool]:
        local_batch.set_faults(server_busy_rate=0.5, seed=1234, path_pattern=f"/jobs/{job_id}$")
        outcome = []
        for _ in range(16):
            try:
                client.get_job(job_id)
                outcome.append(True)
            except HttpResponseError:
                outcome.append(False)
        return outcome

    first = pattern()
    assert first == pattern()
    assert True in first and False in first
