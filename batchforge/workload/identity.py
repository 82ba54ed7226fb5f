"""What makes a job *that* job, and what may change on it in place.

A job's id carries a hash of what its tasks are built from; anything else is a setting the Batch job update
operation (PATCH /jobs/{id}, ``BatchJobUpdateOptions``) changes on a live job. Hashing a setting would make a
new job and rerun every task for a change Batch applies in place; leaving out something the tasks are built
from would add tasks with new bodies to a job that holds the old ones.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from batchforge.submission.target import BatchTarget
from batchforge.workload.model import HASH_LENGTH, Workload

# Bumped whenever the planner builds different tasks from the same workload (a new default, another
# rendering): jobs planned by an older planner must not receive tasks planned by this one.
PLANNER_FORMAT_VERSION = "2"

Effect = Literal["replace", "update", "none"]

# Every workload key and what changing it does to a deployed job. "update": a field of the Batch job update
# operation (the test checks each against ``BatchJobUpdateOptions``); "none": read only by batchforge.
WORKLOAD_KEY_EFFECTS: dict[str, Effect] = {
    "id": "replace",
    # Not a field of the job update operation: a live job keeps the display name it was created with.
    "displayName": "replace",
    "pool": "replace",
    "priority": "update",
    "maxParallelTasks": "update",
    "constraints": "update",
    # Job-level environment is copied into every task when it runs: it is part of the task bodies.
    "environment": "replace",
    "metadata": "update",
    "jobPreparationTask": "replace",
    "jobReleaseTask": "replace",
    # Patchable from noaction to terminatejob only; the engine sets it after the last task in any case.
    "onAllTasksComplete": "update",
    # taskFailureMode is not a field of the job update operation.
    "onTaskFailure": "replace",
    "uploadLogs": "replace",
    "tasks": "replace",
    "supersede": "none",
    # jobManagerTask is not a field of the job update operation.
    "jobManagerTask": "replace",
    # The recurrence is the job schedule's, not the job's: it never changes the job a workload plans into
    # (the schedule's own table, schedule_identity.SCHEDULE_KEY_EFFECTS, says what it changes there).
    "schedule": "none",
    # Job-level container settings are every task's default: part of the task bodies, not a job field.
    "containerSettings": "replace",
}

# Workload key -> the job update operation's field (snake_case, as ``BatchJobUpdateOptions`` names it).
UPDATE_FIELDS: dict[str, str] = {
    "priority": "priority",
    "maxParallelTasks": "max_parallel_tasks",
    "constraints": "constraints",
    "metadata": "metadata",
    "onAllTasksComplete": "all_tasks_complete_mode",
}


def _canonical(workload: Workload) -> dict[str, Any]:
    return dict(workload.model_dump(mode="json", by_alias=True, exclude_none=True))


def _digest(parts: Mapping[str, Any], extra: Iterable[tuple[str, str]] = ()) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps(parts, sort_keys=True, separators=(",", ":")).encode())
    for name, value in sorted(extra):
        digest.update(b"\0" + name.encode() + b"\0" + value.encode())
    return digest.hexdigest()[:HASH_LENGTH]


def target_identity(target: BatchTarget, pool_key: str) -> dict[str, str | None]:
    """What of the target the tasks refer to: the pool, the container URLs they read and write, the identity."""
    return {
        "pool": target.pool_ids.get(pool_key),
        "resourcesContainerUrl": target.resources_container_url,
        "outputsContainerUrl": target.outputs_container_url,
        "identityResourceId": target.identity_resource_id,
    }


def identity_hash(workload: Workload, target: BatchTarget, input_digests: Iterable[tuple[str, str]]) -> str:
    """The job's content hash: the keys that define its tasks, the target they refer to, the planner version.

    Computed from the model and the resolved inputs, never from expanded tasks, so a sweep of a million tasks
    costs what a single task does.
    """
    canonical = _canonical(workload)
    parts = {key: value for key, value in canonical.items() if WORKLOAD_KEY_EFFECTS.get(key, "replace") == "replace"}
    parts["__target"] = target_identity(target, workload.pool)
    parts["__planner"] = PLANNER_FORMAT_VERSION
    return _digest(parts, input_digests)


def settings_hash(workload: Workload) -> str:
    """A hash of the settings the job update operation changes in place (a differing one means: patch)."""
    canonical = _canonical(workload)
    return _digest({key: canonical.get(key) for key, effect in WORKLOAD_KEY_EFFECTS.items() if effect == "update"})
