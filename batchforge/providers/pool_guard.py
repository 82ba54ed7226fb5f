"""PoolGuard: one dynamic resource per Batch pool that makes a pool replacement safe for running work.

- create (a new pool, first deploy or replacement): waits until the pool's allocation is steady and fails
  on resize errors. The workloads and the engine's deletion of a replaced pool come after it, so a new pool
  that cannot get its nodes fails the ``up`` while the old pool still runs.
- delete (the pool is being replaced or removed): drains the pool first: every job bound to it is disabled
  with ``wait`` (no task starts there any more, running ones finish), then it waits, up to ``drainTimeout``,
  until no task runs on the pool. On timeout the delete fails with what still runs, so the pool (and its
  work) stays until the next ``up``: nothing is killed without the operator deciding it.

Why the delete runs before the pool's: the guard depends on its pool, and the Pulumi engine deletes condemned
resources (a create-before-delete replacement's old pool included) in reverse dependency order, dependents
first (pulumi/pulumi pkg/resource/deploy/step_generator.go, ScheduleDeletes).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import pulumi
import pulumi.dynamic

LOCAL_BATCH_KEY_ENV = "BATCHFORGE_LOCAL_BATCH_KEY"
# Batch's resize timeout when the pool sets none, and the margin past it before the guard stops waiting.
DEFAULT_RESIZE_TIMEOUT_S = 15 * 60.0
READY_MARGIN_S = 10 * 60.0
POLL_S = 15.0

# Another pool id is another pool (the id carries the replacement hash): another guard.
REPLACE_KEYS = ("poolId", "accountEndpoint")
INPUT_KEYS = ("poolId", "accountEndpoint", "authKind", "accountName", "drainTimeoutSeconds", "readyTimeoutSeconds")
# Job states in which tasks may still start (disable them) or still run (wait for them).
SCHEDULING_STATES = frozenset({"active", "enabling"})
WINDING_DOWN_STATES = frozenset({"disabling", "terminating"})

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class PoolNotReady(RuntimeError):
    """The new pool reports resize errors or did not settle: the old pool is kept."""


class PoolStillBusy(RuntimeError):
    """Tasks still run on the pool after the drain timeout: the pool is kept."""


def _text(value: object) -> str:
    return str(value.value if isinstance(value, Enum) else value).lower()


def batch_client_from_props(props: Mapping[str, Any]) -> Any:
    """A Batch client with credentials resolved now (Entra ID on Azure, the local key from the environment)."""
    from azure.batch import BatchClient
    from azure.core.credentials import AzureNamedKeyCredential

    from batchforge.submission.client import pooled_transport
    from batchforge.submission.credentials import azure_credential

    credential: Any
    if props.get("authKind", "entra-id") == "shared-key":
        key = os.environ.get(LOCAL_BATCH_KEY_ENV)
        if not key or not props.get("accountName"):
            raise RuntimeError(
                f"shared-key auth (local Batch service only) needs accountName and ${LOCAL_BATCH_KEY_ENV}"
            )
        credential = AzureNamedKeyCredential(str(props["accountName"]), key)
    else:
        credential = azure_credential()
    return BatchClient(endpoint=str(props["accountEndpoint"]), credential=credential, transport=pooled_transport(4))


def ready_timeout_s(resize_timeout_s: float | None) -> float:
    """How long a new pool may take to settle: its resize timeout (after which Batch itself stops) plus a margin."""
    return (resize_timeout_s or DEFAULT_RESIZE_TIMEOUT_S) + READY_MARGIN_S


def _short_of_target(pool: Any) -> bool:
    return any(
        int(getattr(pool, current) or 0) < int(getattr(pool, target) or 0)
        for current, target in (
            ("current_dedicated_nodes", "target_dedicated_nodes"),
            ("current_low_priority_nodes", "target_low_priority_nodes"),
        )
    )


def wait_until_ready(
    client: Any,
    pool_id: str,
    timeout_s: float,
    *,
    poll_s: float = POLL_S,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
) -> None:
    """Returns once the pool's allocation is steady; raises PoolNotReady when it settled short of its target
    with resize errors, or did not settle in time.

    A pool that reached its target nodes is ready even if it still lists the errors of an earlier resize
    (Batch keeps them until the next one): an existing pool gaining its guard is not failed for old news.
    """
    give_up_at = clock() + timeout_s
    fields = ["id", "allocationState", "resizeErrors", "currentDedicatedNodes", "targetDedicatedNodes"]
    fields += ["currentLowPriorityNodes", "targetLowPriorityNodes"]
    while True:
        pool = client.get_pool(pool_id, select=fields)
        if _text(pool.allocation_state) == "steady":
            errors = list(pool.resize_errors or [])
            if errors and _short_of_target(pool):
                from batchforge.submission.quota import quota_hint

                described = "; ".join(
                    f"{error.code}: {error.message}" + (f" ({hint})" if (hint := quota_hint(error.code)) else "")
                    for error in errors
                )
                raise PoolNotReady(
                    f"pool {pool_id} reports resize errors ({described}); the pool it replaces is kept and still "
                    "runs its work. Fix the cause (core quota, VM size, image, subnet) and run pulumi up again"
                )
            return
        if clock() + poll_s > give_up_at:
            raise PoolNotReady(
                f"pool {pool_id} is still resizing after {timeout_s:.0f}s; the pool it replaces is kept. "
                "Run pulumi up again once it is steady"
            )
        sleep(poll_s)


@dataclass(frozen=True)
class Drain:
    pool_id: str
    disabled_jobs: tuple[str, ...]
    waited_s: float

    def describe(self) -> str:
        jobs = ", ".join(self.disabled_jobs) or "none"
        return f"pool {self.pool_id} drained in {self.waited_s:.0f}s (jobs disabled so no task starts: {jobs})"


def _jobs_on_pool(client: Any, pool_id: str) -> list[tuple[str, str]]:
    jobs = []
    for job in client.list_jobs(select=["id", "state", "poolInfo", "executionInfo"]):
        execution = getattr(job, "execution_info", None)
        bound = getattr(execution, "pool_id", None) or getattr(getattr(job, "pool_info", None), "pool_id", None)
        if bound == pool_id:
            jobs.append((str(job.id), _text(job.state)))
    return jobs


def _disable_waiting(client: Any, job_id: str) -> bool:
    from azure.batch import models as batch_models
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    # wait: running tasks finish; requeue would restart them elsewhere later, terminate would kill them.
    options = batch_models.BatchJobDisableOptions(disable_tasks=batch_models.DisableBatchJobOption.WAIT)
    try:
        client.begin_disable_job(job_id, options, polling_interval=1)
    except ResourceNotFoundError:
        return False
    except HttpResponseError as error:
        # The job changed state since it was listed (completed, being terminated or deleted, disabled already).
        if error.status_code == 409:
            return False
        raise
    return True


def _running_tasks(client: Any, pool_id: str) -> int:
    return sum(
        int(node.running_tasks_count or 0) for node in client.list_nodes(pool_id, select=["id", "runningTasksCount"])
    )


def drain_pool(
    client: Any,
    pool_id: str,
    timeout_s: float,
    *,
    poll_s: float = POLL_S,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
) -> Drain:
    """Stops new tasks from starting on the pool and waits until none runs; raises PoolStillBusy on timeout."""
    from azure.core.exceptions import ResourceNotFoundError

    started = clock()
    try:
        client.get_pool(pool_id, select=["id"])
    except ResourceNotFoundError:
        return Drain(pool_id, (), 0.0)
    disabled = tuple(
        job_id
        for job_id, state in _jobs_on_pool(client, pool_id)
        if state in SCHEDULING_STATES and _disable_waiting(client, job_id)
    )
    while True:
        winding = [job_id for job_id, state in _jobs_on_pool(client, pool_id) if state in WINDING_DOWN_STATES]
        running = _running_tasks(client, pool_id)
        if not winding and not running:
            return Drain(pool_id, disabled, clock() - started)
        if clock() + poll_s > started + timeout_s:
            raise PoolStillBusy(
                f"pool {pool_id} still runs {running} task(s) after the drain timeout ({timeout_s:.0f}s; jobs still "
                f"winding down: {', '.join(winding) or 'none'}). Its jobs are disabled, so no new task starts there. "
                "The pool is kept: run pulumi up again to wait longer, raise the pool's drainTimeout, or end the "
                "tasks yourself (batchctl job terminate) and run pulumi up again"
            )
        sleep(poll_s)


def _poll_s(props: Mapping[str, Any]) -> float:
    # Not an input the program sets: tests against the local service poll faster than Azure needs.
    return float(props.get("pollSeconds") or POLL_S)


def replacement_warning(olds: Mapping[str, Any], news: Mapping[str, Any]) -> str | None:
    """What a preview says when the guard's pool is replaced (another pool id: the pool's replacement hash moved).

    None when the pool stays, or when the new pool id is not known yet (unknown in a preview of new inputs).
    """
    old_pool, new_pool = olds.get("poolId"), news.get("poolId")
    if not isinstance(old_pool, str) or not isinstance(new_pool, str) or old_pool == new_pool:
        return None
    drain = float(olds.get("drainTimeoutSeconds") or 0.0)
    return (
        f"pool {old_pool} will be replaced by {new_pool} (create before delete): until {old_pool} is drained "
        f"(its running tasks finish, up to its drainTimeout of {drain:.0f}s) and deleted, both pools hold nodes, so "
        "the Batch account needs the dedicated and Spot cores of both pools for a while; without that quota the "
        f"new pool's resize fails and {old_pool} is kept"
    )


class PoolGuardProvider(pulumi.dynamic.ResourceProvider):
    """Create waits for the new pool to be ready; delete drains the pool before the engine deletes it."""

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        replaces = [key for key in REPLACE_KEYS if olds.get(key) != news.get(key)]
        warning = replacement_warning(olds, news)
        if warning is not None:
            # Diff runs in every preview (and up): the one place that sees the old pool and the new one.
            pulumi.log.warn(warning)
        return pulumi.dynamic.DiffResult(
            changes=any(olds.get(key) != news.get(key) for key in INPUT_KEYS),
            replaces=replaces,
            stables=[],
            delete_before_replace=False,
        )

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        client = batch_client_from_props(props)
        wait_until_ready(
            client,
            str(props["poolId"]),
            float(props.get("readyTimeoutSeconds") or ready_timeout_s(None)),
            poll_s=_poll_s(props),
        )
        return pulumi.dynamic.CreateResult(id_=str(props["poolId"]), outs={key: props.get(key) for key in INPUT_KEYS})

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        # Only the timeouts can change in place (another pool id is a replacement): nothing to do on Batch.
        return pulumi.dynamic.UpdateResult(outs={key: news.get(key) for key in INPUT_KEYS})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        drain_pool(
            batch_client_from_props(props), id_, float(props.get("drainTimeoutSeconds") or 0.0), poll_s=_poll_s(props)
        )


class PoolGuard(pulumi.dynamic.Resource, module="batchforge", name="PoolGuard"):
    """The guard of one pool; declare it with ``depends_on=[pool]`` and make the pool's users depend on it."""

    def __init__(
        self, name: str, inputs: Mapping[str, pulumi.Input[Any]], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(PoolGuardProvider(), name, {key: inputs.get(key) for key in INPUT_KEYS}, opts)
