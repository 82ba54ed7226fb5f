"""The pool guard sits between each pool and what uses it, in the edges the Pulumi engine orders steps by.

The engine creates a resource after what it depends on and deletes condemned resources (the old pool of a
create-before-delete replacement included) in reverse dependency order, dependents first (pulumi/pulumi
pkg/resource/deploy/step_generator.go, ScheduleDeletes). So, with these edges: the new pool's guard (ready
check) runs before the workloads and before the old pool is deleted; the old guard's delete (the drain) runs
before the old pool's delete.
"""

from __future__ import annotations

from components_mocks import REPO_ROOT, RecordingMocks

from batchforge.config import load_stack_file
from batchforge.contract.engine import run_under_engine_contract
from batchforge.providers.pool_guard import PoolGuardProvider
from components.stack import build_stack

GUARD_TYPE = "pulumi-python:dynamic/batchforge:PoolGuard"


def _registrations(stack: str, with_workloads: bool):
    config = load_stack_file(REPO_ROOT / f"Pulumi.{stack}.yaml")
    if not with_workloads:
        config = config.model_copy(update={"workloads": []})
    result = run_under_engine_contract(RecordingMocks, lambda: build_stack(config, stack, REPO_ROOT), stack=stack)
    return config, result


def test_every_pool_has_a_guard_that_depends_on_it() -> None:
    config, result = _registrations("prod", with_workloads=False)
    pools = {r.name: r for r in result.registrations.values() if r.type == "azure-native:batch:Pool"}
    guards = {r.name: r for r in result.registrations.values() if r.name.endswith("-guard")}
    assert sorted(guards) == sorted(f"pool-{pool.id}-guard" for pool in config.pools)
    for pool in config.pools:
        guard, pool_resource = guards[f"pool-{pool.id}-guard"], pools[f"pool-{pool.id}-pool"]
        assert guard.type == GUARD_TYPE
        assert pool_resource.urn in guard.dependencies
    inputs = {d.name: d.inputs for d in result.mocks.resources if d.name.endswith("-guard")}
    assert inputs["pool-cpu-guard"]["poolId"] == result.outputs["poolIds"]["cpu"]
    assert inputs["pool-cpu-guard"]["drainTimeoutSeconds"] == 3600
    # prod's cpu pool sets resizeTimeout PT20M: the ready check waits that long plus ten minutes.
    assert inputs["pool-cpu-guard"]["readyTimeoutSeconds"] == 30 * 60


def test_workloads_wait_for_the_guard_of_their_pools() -> None:
    _, result = _registrations("dev", with_workloads=True)
    guard = next(r for r in result.registrations.values() if r.name == "pool-cpu-guard")
    workloads = [r for r in result.registrations.values() if r.name.startswith("workload-")]
    assert workloads
    for workload in workloads:
        assert guard.urn in workload.dependencies


def test_another_pool_id_replaces_the_guard_creating_the_new_one_first() -> None:
    old = {"poolId": "cpu-aaaaaaaa", "accountEndpoint": "https://a", "drainTimeoutSeconds": 3600.0}
    replaced = PoolGuardProvider().diff("cpu-aaaaaaaa", old, {**old, "poolId": "cpu-bbbbbbbb"})
    assert replaced.replaces == ["poolId"] and replaced.delete_before_replace is False
    longer = PoolGuardProvider().diff("cpu-aaaaaaaa", old, {**old, "drainTimeoutSeconds": 7200.0})
    assert longer.changes and not longer.replaces
    same = PoolGuardProvider().diff("cpu-aaaaaaaa", old, dict(old))
    assert not same.changes
