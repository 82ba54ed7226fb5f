"""The pool guard against the local Batch service, driven through its provider as the engine would call it.

Replacing a pool: the engine creates the new pool, then the new guard (ready check), and at the end deletes the
old guard (drain) before the old pool (see tests/components/test_components_pool_guard.py for the order).
"""

from __future__ import annotations

import time
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from azure.batch import BatchClient
from azure.batch import models as m

from batchforge.localbatch.testing import LocalBatch, wait_for, wait_for_idle_nodes
from batchforge.providers.pool_guard import (
    LOCAL_BATCH_KEY_ENV,
    PoolGuardProvider,
    PoolNotReady,
    PoolStillBusy,
    wait_until_ready,
)


@pytest.fixture
def client(local_batch: LocalBatch, monkeypatch: pytest.MonkeyPatch) -> BatchClient:
    monkeypatch.setenv(LOCAL_BATCH_KEY_ENV, local_batch.account_key)
    return local_batch.batch_client()


def _props(local_batch: LocalBatch, pool_id: str, drain_timeout_s: float) -> dict[str, Any]:
    return {
        "poolId": pool_id,
        "accountEndpoint": local_batch.endpoint,
        "authKind": "shared-key",
        "accountName": local_batch.account_name,
        "drainTimeoutSeconds": drain_timeout_s,
        "readyTimeoutSeconds": 30.0,
        "pollSeconds": 0.2,
    }


def _pool(client: BatchClient, prefix: str) -> str:
    pool_id = f"{prefix}-{uuid.uuid4().hex[:8]}"
    client.create_pool(m.BatchPoolCreateOptions(id=pool_id, vm_size="standard_d2s_v3", target_dedicated_nodes=1))
    return pool_id


def _job_with_a_running_task(client: BatchClient, pool_id: str, seconds: int) -> str:
    job_id = f"guarded-{uuid.uuid4().hex[:8]}"
    client.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id)))
    client.create_task(job_id, m.BatchTaskCreateOptions(id="running", command_line=f"/bin/sh -c 'sleep {seconds}'"))
    wait_for(lambda: client.get_task(job_id, "running").state == "running", what="task running", timeout=30)
    # One slot per node: this one is queued behind the running task.
    client.create_task(job_id, m.BatchTaskCreateOptions(id="queued", command_line="/bin/true"))
    return job_id


def test_replacing_a_pool_with_a_running_task_lets_the_task_finish_before_the_old_pool_goes(
    local_batch: LocalBatch, client: BatchClient
) -> None:
    old_pool = _pool(client, "old")
    wait_for_idle_nodes(client, old_pool, 1)
    job_id = _job_with_a_running_task(client, old_pool, seconds=3)
    provider = PoolGuardProvider()

    new_pool = _pool(client, "new")
    created = provider.create(_props(local_batch, new_pool, drain_timeout_s=60))
    assert created.id == new_pool and client.get_pool(new_pool).allocation_state == "steady"

    provider.delete(old_pool, _props(local_batch, old_pool, drain_timeout_s=60))
    drained_at = time.time()
    client.begin_delete_pool(old_pool, polling_interval=1)  # what the engine does next

    running = client.get_task(job_id, "running")
    assert running.state == "completed" and running.execution_info.exit_code == 0
    assert running.execution_info.end_time.timestamp() <= drained_at
    # Disabled with wait: the queued task of the old pool's job never started.
    assert client.get_task(job_id, "queued").state == "active"
    assert client.get_job(job_id).state == "disabled"


def test_a_drain_that_outlasts_its_timeout_fails_and_keeps_the_pool_and_its_task(
    local_batch: LocalBatch, client: BatchClient
) -> None:
    pool_id = _pool(client, "busy")
    wait_for_idle_nodes(client, pool_id, 1)
    job_id = _job_with_a_running_task(client, pool_id, seconds=30)
    with pytest.raises(PoolStillBusy, match=r"still runs 1 task"):
        PoolGuardProvider().delete(pool_id, _props(local_batch, pool_id, drain_timeout_s=1))
    assert client.get_task(job_id, "running").state == "running"
    assert client.get_pool(pool_id).state == "active"
    client.begin_terminate_job(job_id, {"terminateReason": "test over"}, polling_interval=1)
    client.begin_delete_pool(pool_id, polling_interval=1)


def test_deleting_the_guard_of_a_pool_already_gone_is_done(local_batch: LocalBatch, client: BatchClient) -> None:
    PoolGuardProvider().delete("never-there", _props(local_batch, "never-there", drain_timeout_s=1))


class _Pools:
    """A pool whose reads are scripted (the local service does not fail allocations)."""

    def __init__(self, *answers: SimpleNamespace) -> None:
        self.answers = list(answers)

    def get_pool(self, pool_id: str, select: list[str]) -> SimpleNamespace:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def _pool_state(state: str, errors: list[SimpleNamespace] | None, current: int, target: int) -> SimpleNamespace:
    return SimpleNamespace(
        allocation_state=state,
        resize_errors=errors,
        current_dedicated_nodes=current,
        target_dedicated_nodes=target,
        current_low_priority_nodes=0,
        target_low_priority_nodes=0,
    )


QUOTA = SimpleNamespace(code="AccountCoreQuotaReached", message="The core quota of the account is reached")


def test_a_new_pool_with_resize_errors_fails_the_ready_check() -> None:
    pools = _Pools(_pool_state("resizing", None, 0, 2), _pool_state("steady", [QUOTA], 1, 2))
    with pytest.raises(PoolNotReady, match=r"AccountCoreQuotaReached.*the pool it replaces is kept"):
        wait_until_ready(pools, "cpu-new", 60, poll_s=0, sleep=lambda _s: None)


def test_a_pool_at_its_target_is_ready_despite_errors_of_an_earlier_resize() -> None:
    wait_until_ready(_Pools(_pool_state("steady", [QUOTA], 2, 2)), "cpu", 1, poll_s=0)


def test_a_new_pool_still_resizing_at_the_timeout_fails_the_ready_check() -> None:
    now = iter(range(0, 1000, 10))
    pools = _Pools(_pool_state("resizing", None, 0, 2))
    with pytest.raises(PoolNotReady, match="still resizing"):
        wait_until_ready(pools, "cpu-new", 30, poll_s=10, clock=lambda: float(next(now)), sleep=lambda _s: None)


def test_a_steady_pool_without_errors_is_ready() -> None:
    wait_until_ready(_Pools(_pool_state("steady", [], 0, 0)), "cpu", 1, poll_s=0)
