"""What Batch lets Job - Update (PUT) and Job - Patch (PATCH) change on a job, and the active-jobs quota.

From the REST reference (JobUpdateParameter / JobPatchParameter, `BatchJobUpdateOptions` in azure-batch 15):
- only priority, allowTaskPreemption, maxParallelTasks, constraints, poolInfo, onAllTasksComplete,
  metadata and networkConfiguration are part of either body; a create-only property (displayName,
  onTaskFailure, the job manager/preparation/release tasks, commonEnvironmentSettings,
  usesTaskDependencies) sent with another value than the job's is refused as ``UnsupportedProperty``
  (sent back unchanged, as a read-modify-write client does, it is accepted);
- poolInfo may change only while the job is disabled (an equal poolInfo is no change); of an auto pool
  specification only keepAlive may change;
- onAllTasksComplete cannot go from terminatejob back to noaction: 400 ``InvalidPropertyValue``; in a PUT an
  omitted onAllTasksComplete means noaction, so it is refused the same way.
The reference names no error code for a pool change on a job that is not disabled; this service answers
409 ``OperationInvalidForCurrentState`` ("not valid for the current state of the resource"), our choice.

The account's quota of active jobs and job schedules (Batch's default is 100-300 per account; completed ones
do not count) answers a Job - Add or Job Schedule - Add beyond it with 409 ``ActiveJobAndScheduleQuotaReached``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from batchforge.localbatch.errors import BatchApiError, invalid_property

DEFAULT_ACTIVE_JOB_AND_SCHEDULE_QUOTA = 100
# Job states that count against the quota: everything but completed (and a job on its way out).
ACTIVE_JOB_STATES = frozenset({"active", "disabling", "disabled", "enabling", "terminating"})
CREATE_ONLY_PROPERTIES = (
    "displayName",
    "onTaskFailure",
    "jobManagerTask",
    "jobPreparationTask",
    "jobReleaseTask",
    "commonEnvironmentSettings",
    "usesTaskDependencies",
)


def quota_reached() -> BatchApiError:
    return BatchApiError(
        409, "ActiveJobAndScheduleQuotaReached", "The account has reached its quota of active jobs and job schedules."
    )


class ActiveQuota:
    """The quota and what counts against it: the account's active jobs plus whatever registers a counter
    (the job schedules: ``account.quota.count_also(lambda: <active schedules>)``)."""

    def __init__(self, limit: int, count_jobs: Callable[[], int]) -> None:
        self.limit = limit
        self._counters: list[Callable[[], int]] = [count_jobs]

    def count_also(self, counter: Callable[[], int]) -> None:
        self._counters.append(counter)

    def in_use(self) -> int:
        return sum(counter() for counter in self._counters)

    def check_room(self) -> None:
        """Raises the service's 409 when one more active job or schedule would exceed the quota."""
        if self.in_use() >= self.limit:
            raise quota_reached()


def count_active_jobs(states: Iterable[str]) -> int:
    return sum(1 for state in states if state in ACTIVE_JOB_STATES)


def _without_keep_alive(pool_info: Any) -> Any:
    if not isinstance(pool_info, dict) or not isinstance(pool_info.get("autoPoolSpecification"), dict):
        return pool_info
    spec = {key: value for key, value in pool_info["autoPoolSpecification"].items() if key != "keepAlive"}
    return {**pool_info, "autoPoolSpecification": spec}


def check_update(job_body: dict[str, Any], state: str, body: dict[str, Any], *, replace: bool) -> None:
    """Raises what Batch answers for an update the job's state or its properties do not allow."""
    for name in CREATE_ONLY_PROPERTIES:
        if name in body and body[name] is not None and body[name] != job_body.get(name):
            raise BatchApiError(
                400,
                "UnsupportedProperty",
                "One of the properties specified in the request body is not supported.",
                {"PropertyName": name, "Reason": "The property cannot be updated on an existing job."},
            )
    wanted_mode = body.get("onAllTasksComplete")
    if wanted_mode is None and replace:
        wanted_mode = "noaction"
    if job_body.get("onAllTasksComplete") == "terminatejob" and wanted_mode == "noaction":
        raise invalid_property(
            "onAllTasksComplete",
            "noaction",
            "A job's completion behavior cannot be changed from terminatejob to noaction.",
        )
    pool_info = body.get("poolInfo")
    if pool_info is None:
        return
    current = job_body.get("poolInfo")
    if _without_keep_alive(pool_info) == _without_keep_alive(current):
        return
    if state != "disabled":
        raise BatchApiError(
            409,
            "OperationInvalidForCurrentState",
            "The specified operation is not valid for the current state of the resource.",
            {"PropertyName": "poolInfo", "Reason": "The pool of a job can be changed only while the job is disabled."},
        )
    if isinstance(current, dict) and current.get("autoPoolSpecification") is not None:
        raise BatchApiError(
            400,
            "PropertyCannotBeUpdated",
            "A property that cannot be updated was specified as part of the request.",
            {"PropertyName": "poolInfo", "Reason": "Of an auto pool specification only keepAlive can be updated."},
        )
