"""Auto pools: the pool a job's `poolInfo.autoPoolSpecification` asks for, created with the job and
deleted when the job ends (pool lifetime `job`, unless `keepAlive`).

The checks take a `poolInfo` as Job - Add and a job schedule's job specification carry it, so that job
schedules can create their jobs' pools with the same code (`schedule=True` allows the `jobschedule`
lifetime, which belongs to the schedule, not to one job).
"""

from __future__ import annotations

import copy
import re
import uuid
from typing import TYPE_CHECKING, Any

from batchforge.localbatch.errors import BatchApiError, invalid_property, missing_property

if TYPE_CHECKING:
    from batchforge.localbatch.account import Account
    from batchforge.localbatch.entities import Job, Pool

LIFETIME_JOB = "job"
LIFETIME_JOB_SCHEDULE = "jobschedule"
MAX_PREFIX_LENGTH = 20
PREFIX_PATTERN = re.compile(r"^[A-Za-z0-9_-]*$")
SPEC = "poolInfo.autoPoolSpecification"
# The job's private record of the pool made for it: poolInfo and executionInfo.poolId can be changed
# by a job update, the pool it owns cannot.
AUTO_POOL_KEY = "_autoPool"


def auto_pool_spec(pool_info: object, *, schedule: bool = False) -> dict[str, Any] | None:
    """Check `poolInfo` (exactly one of `poolId` and `autoPoolSpecification`); the auto pool spec, if any.

    Raises the 400s Batch answers a malformed specification with; a pool the service then fails to create
    is not a 400 but the job's scheduling error (`create_for`).
    """
    if not isinstance(pool_info, dict):
        raise missing_property("poolInfo")
    spec = pool_info.get("autoPoolSpecification")
    if pool_info.get("poolId") and spec is not None:
        raise invalid_property(
            "poolInfo", "poolId and autoPoolSpecification", "Specify either poolId or autoPoolSpecification, not both."
        )
    if spec is None:
        if not pool_info.get("poolId"):
            raise missing_property("poolInfo.poolId")
        return None
    if not isinstance(spec, dict):
        raise invalid_property(SPEC, spec, "Must be an object.")
    lifetime = spec.get("poolLifetimeOption")
    if lifetime is None:
        raise missing_property(f"{SPEC}.poolLifetimeOption")
    allowed = (LIFETIME_JOB, LIFETIME_JOB_SCHEDULE) if schedule else (LIFETIME_JOB,)
    if not isinstance(lifetime, str) or lifetime.lower() not in allowed:
        reason = (
            "Must be job or jobSchedule."
            if schedule
            else "A job that is not created by a job schedule takes only the job pool lifetime."
        )
        raise invalid_property(f"{SPEC}.poolLifetimeOption", lifetime, reason)
    prefix = spec.get("autoPoolIdPrefix")
    if prefix is not None and (
        not isinstance(prefix, str) or len(prefix) > MAX_PREFIX_LENGTH or not PREFIX_PATTERN.match(prefix)
    ):
        raise invalid_property(
            f"{SPEC}.autoPoolIdPrefix",
            prefix,
            f"Letters, digits, hyphens and underscores, at most {MAX_PREFIX_LENGTH} characters.",
        )
    keep_alive = spec.get("keepAlive")
    if keep_alive is not None and not isinstance(keep_alive, bool):
        raise invalid_property(f"{SPEC}.keepAlive", keep_alive, "Must be true or false.")
    pool = spec.get("pool")
    if pool is None:
        raise missing_property(f"{SPEC}.pool")
    if not isinstance(pool, dict):
        raise invalid_property(f"{SPEC}.pool", pool, "Must be an object.")
    if not pool.get("vmSize"):
        raise missing_property(f"{SPEC}.pool.vmSize")
    return spec


def new_pool_id(spec: dict[str, Any]) -> str:
    """A unique id as Batch assigns one: the prefix, if given, then a GUID (at most 20 + 1 + 36 characters)."""
    guid = str(uuid.uuid4())
    prefix = spec.get("autoPoolIdPrefix")
    return f"{prefix}_{guid}" if prefix else guid


def create_for(account: Account, spec: dict[str, Any], job_schedule: dict[str, Any] | None = None) -> Pool:
    """Create the auto pool; raises the `BatchApiError` the pool's creation met.

    For a job of a schedule (`job_schedule` is the schedule's body) with the `jobSchedule` lifetime, the pool
    made for the schedule's first job is reused while it lives, and recorded on the schedule.
    """
    shared = job_schedule is not None and str(spec.get("poolLifetimeOption", "")).lower() == LIFETIME_JOB_SCHEDULE
    if shared:
        assert job_schedule is not None
        owned = job_schedule.get(AUTO_POOL_KEY)
        pool = account.pools.get(str(owned["poolId"]).lower()) if isinstance(owned, dict) else None
        if pool is not None and pool.state != "deleting":
            return pool
    body = copy.deepcopy(spec["pool"])
    body["id"] = new_pool_id(spec)
    pool = account.create_pool(body)
    if shared:
        assert job_schedule is not None
        job_schedule[AUTO_POOL_KEY] = {"poolId": pool.id, "keepAlive": spec.get("keepAlive") is True}
    return pool


def scheduling_error(err: BatchApiError) -> dict[str, Any]:
    """`executionInfo.schedulingError` of a job whose auto pool could not be created."""
    error: dict[str, Any] = {
        "category": "usererror" if err.status < 500 else "servererror",
        "code": err.code,
        "message": f"The auto pool could not be created: {err.message}",
    }
    if err.values:
        error["details"] = [{"name": name, "value": value} for name, value in err.values.items()]
    return error


def record(spec: dict[str, Any], pool: Pool) -> dict[str, Any]:
    """What the job keeps about the pool made for it (`AUTO_POOL_KEY`)."""
    lifetime = str(spec.get("poolLifetimeOption", "")).lower()
    return {"poolId": pool.id, "deleteWithJob": lifetime == LIFETIME_JOB and spec.get("keepAlive") is not True}


def job_ended(account: Account, job: Job) -> None:
    """The job completed or is being removed: delete its auto pool if the pool's lifetime was the job's.

    Called for every job that ends; jobs on ordinary pools and auto pools kept alive are left alone.
    """
    owned = job.body.get(AUTO_POOL_KEY)
    if not isinstance(owned, dict) or not owned.get("deleteWithJob"):
        return
    pool = account.pools.get(str(owned["poolId"]).lower())
    if pool is not None and pool.state != "deleting":
        account.delete_pool(pool.id)


def schedule_ended(account: Account, job_schedule: dict[str, Any]) -> None:
    """The schedule completed or was deleted: delete the pool its jobs shared (lifetime `jobSchedule`),
    unless it was to be kept alive."""
    owned = job_schedule.get(AUTO_POOL_KEY)
    if not isinstance(owned, dict) or owned.get("keepAlive"):
        return
    pool = account.pools.get(str(owned["poolId"]).lower())
    if pool is not None and pool.state != "deleting":
        account.delete_pool(pool.id)
