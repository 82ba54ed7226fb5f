"""The pool guard's provider in the real provider host (``python -m pulumi.dynamic``), as the engine drives it."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator

import pulumi
import pytest
from azure.batch import models as m
from provider_host import (
    PROVIDER_KEY,
    REPO_ROOT,
    NotYetCreated,
    ProviderHost,
    Registration,
    host_environment,
    register_under_mocks,
)
from pulumi.runtime.proto import provider_pb2

from batchforge.localbatch.testing import LocalBatch
from batchforge.providers.pool_guard import LOCAL_BATCH_KEY_ENV, PoolGuard

GUARD_TYPE = "pulumi-python:dynamic/batchforge:PoolGuard"


@pytest.fixture(scope="module")
def host(local_batch: LocalBatch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderHost]:
    elsewhere = tmp_path_factory.mktemp("guard-host")
    assert not elsewhere.resolve().is_relative_to(REPO_ROOT)
    with ProviderHost(
        elsewhere, host_environment({LOCAL_BATCH_KEY_ENV: local_batch.account_key}), elsewhere / "h.log"
    ) as h:
        h.configure()
        yield h


def declare_guard(local_batch: LocalBatch, pool_id: str) -> Registration:
    def declare(platform: NotYetCreated) -> None:
        PoolGuard(
            "pool-cpu-guard",
            {
                "poolId": pool_id,
                "accountEndpoint": local_batch.endpoint,
                "authKind": "shared-key",
                "accountName": local_batch.account_name,
                "drainTimeoutSeconds": 60.0,
                "readyTimeoutSeconds": 60.0,
            },
            pulumi.ResourceOptions(depends_on=[platform]),
        )

    (registration,) = register_under_mocks(declare)
    assert registration.typ == GUARD_TYPE
    return registration


def test_pool_guard_lifecycle_in_the_host(host: ProviderHost, local_batch: LocalBatch) -> None:
    client = local_batch.batch_client()
    old_pool, new_pool = (f"{kind}-{uuid.uuid4().hex[:8]}" for kind in ("old", "new"))
    for pool_id in (old_pool, new_pool):
        client.create_pool(m.BatchPoolCreateOptions(id=pool_id, vm_size="standard_d2s_v3", target_dedicated_nodes=0))

    old = declare_guard(local_batch, old_pool)
    pickled = base64.b64decode(old.inputs[PROVIDER_KEY])
    assert b"batchforge.providers.pool_guard" in pickled and b"PoolGuardProvider" in pickled
    assert local_batch.account_key.encode() not in pickled

    checked = host.check(old, {}, old.inputs)
    assert checked.failures == []
    old_id, old_state = host.create(old, checked.inputs)
    assert old_id == old_pool and old_state["poolId"] == old_pool

    # The pool is replaced: another pool id replaces the guard, the new one created before the old one goes.
    new = declare_guard(local_batch, new_pool)
    checked = host.check(new, old.inputs, new.inputs)
    diff = host.diff(new, old_id, old.inputs, old_state, checked.inputs)
    assert diff.changes == provider_pb2.DiffResponse.DIFF_SOME
    assert list(diff.replaces) == ["poolId"] and not diff.deleteBeforeReplace
    new_id, _ = host.create(new, checked.inputs)
    assert new_id == new_pool

    host.delete(old, old_id, old_state, old.inputs)  # the drain: nothing runs on the old pool, so at once
    client.begin_delete_pool(old_pool, polling_interval=1)
    client.begin_delete_pool(new_pool, polling_interval=1)
