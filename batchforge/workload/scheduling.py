"""A scheduled workload as a Batch job schedule: the schedule, its job specification, and the task plan its job
manager adds to every job.

A schedule's jobs exist only once the schedule creates them, so their tasks cannot be submitted at deploy
time. Instead the workload is planned as a one-off job would be (``plan_job``: same tasks, same checks), its
tasks are written to one content-addressed JSON blob in the resources container, and the job specification
carries batchforge's job manager task, which downloads that blob and adds the tasks to its own job
(``batchforge.submission.job_manager``) with the submission engine.

What a change does (``SCHEDULE_KEY_EFFECTS``): Job Schedule - Update/Patch accepts ``schedule``,
``jobSpecification`` and ``metadata``, so every key that ends up in one of them is an update of the live
schedule; only the schedule's id and display name (not fields of the update operation) replace it. Batch
applies a new job specification only to jobs created after the update; the active job, if any, finishes with
the one it was created from ("job-specification" below).
"""

from __future__ import annotations

import hashlib
import json
import shlex
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from azure.batch import models as bm

from batchforge.submission.plan import PlannedJob
from batchforge.submission.target import BatchTarget, SharedKeyAuth
from batchforge.workload.checks import SCHEDULE_MANAGER_ID
from batchforge.workload.identity import _digest
from batchforge.workload.model import HASH_LENGTH, Workload
from batchforge.workload.planning import STACK_METADATA_KEY, WORKLOAD_METADATA_KEY, BlobLister, plan_job

ScheduleEffect = Literal["replace", "schedule", "job-specification", "metadata", "none"]

# Every workload key of a scheduled workload and what changing it does to the deployed job schedule:
# "schedule": the live schedule changes now (Job Schedule - Patch, `schedule`); "job-specification": the job
# specification is replaced in place (Patch, `jobSpecification`), taking effect from the next job on;
# "metadata": the schedule's metadata (Patch, `metadata`) and the job specification's; "replace": a new schedule.
SCHEDULE_KEY_EFFECTS: dict[str, ScheduleEffect] = {
    "id": "replace",
    # The schedule's displayName is not a field of the job schedule update operation.
    "displayName": "replace",
    "schedule": "schedule",
    "pool": "job-specification",
    "priority": "job-specification",
    "maxParallelTasks": "job-specification",
    "constraints": "job-specification",
    "environment": "job-specification",
    "metadata": "metadata",
    "jobPreparationTask": "job-specification",
    "jobReleaseTask": "job-specification",
    "onAllTasksComplete": "job-specification",
    "onTaskFailure": "job-specification",
    "uploadLogs": "job-specification",
    # The tasks live in the plan blob the job manager reads: a new blob name is a new job specification.
    "tasks": "job-specification",
    # Refused on a scheduled workload (checks._job_manager_problems): nothing to change.
    "supersede": "none",
    "jobManagerTask": "none",
}


def schedule_effect(key: str) -> ScheduleEffect:
    """What changing a workload key does to its job schedule. A key not named above is part of the job or its
    tasks, which all live in the job specification (or in the plan blob it names)."""
    return SCHEDULE_KEY_EFFECTS.get(key, "job-specification")


# Job Schedule - Update/Patch fields (snake_case, as ``BatchJobScheduleUpdateOptions`` names them).
UPDATABLE_SCHEDULE_FIELDS = ("schedule", "job_specification", "metadata")

PLAN_FORMAT = 1
PLAN_FILE = "batchforge-tasks.json"
JOB_MANAGER_MODULE = "batchforge.submission.job_manager"
# The job manager of a local schedule reads the local account's key from here (the local service only).
LOCAL_KEY_ENV = "BATCHFORGE_LOCAL_BATCH_KEY"


def _iso_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    time = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (secs, "S")) if n)
    if not (days or time):
        return "PT0S"
    return (f"P{days}D" if days else "P") + (f"T{time}" if time else "")


@dataclass(frozen=True)
class PlannedSchedule:
    """One scheduled workload, ready to create or update as a Batch job schedule."""

    workload_name: str
    schedule_id: str
    # Job Schedule - Add's body (the job manager's local key, if any, is added only when it is sent).
    body: dict[str, Any]
    plan_blob_name: str
    plan_document: bytes
    job_plan: PlannedJob

    @property
    def schedule(self) -> dict[str, Any]:
        return dict(self.body.get("schedule") or {})

    @property
    def job_specification(self) -> dict[str, Any]:
        return dict(self.body["jobSpecification"])

    def fingerprint(self, part: str) -> str:
        """A short hash of one part of the body ('schedule', 'jobSpecification', 'metadata'): what diffs compare."""
        text = json.dumps(self.body.get(part), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:HASH_LENGTH]


def schedule_id(workload: Workload, target: BatchTarget) -> str:
    """``<workload id>-<hash>``: the hash covers only what replaces the schedule (id, display name) and the
    account and stack it belongs to, so every update-in-place keeps the id."""
    parts = {
        "id": workload.id,
        "displayName": workload.display_name,
        "stack": target.stack,
        "account": target.account_endpoint,
    }
    return f"{workload.id}-{_digest(parts)}"


def _manager_command(target: BatchTarget) -> str:
    # The local service runs nodes on this machine: its manager runs with this interpreter (batchforge is
    # installed there). On Azure the pool's nodes need python3 with batchforge installed (its start task).
    python = sys.executable if isinstance(target.auth, SharedKeyAuth) else "python3"
    return f"{shlex.quote(python)} -m {JOB_MANAGER_MODULE} {PLAN_FILE}"


def _manager_elevation(target: BatchTarget) -> str:
    # Locally the interpreter is the service user's own (e.g. under a home directory other users cannot enter),
    # so the manager runs as that user: a local node's admin is the service's user without its capabilities.
    return "admin" if isinstance(target.auth, SharedKeyAuth) else "nonadmin"


def _plan_document(planned: PlannedJob, target: BatchTarget) -> bytes:
    document = {
        "format": PLAN_FORMAT,
        "workload": planned.workload_name,
        "contentHash": planned.content_hash,
        "plannedJobId": planned.job_id,
        "outputsContainerUrl": target.outputs_container_url,
        "allTasksCompleteMode": str(planned.all_tasks_complete_mode.value)
        if planned.all_tasks_complete_mode is not None
        else None,
        "tasks": [task.as_dict() for task in planned.tasks],
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def plan_schedule(
    workload: Workload, target: BatchTarget, *, repo_root: Path, blob_lister: BlobLister | None = None
) -> PlannedSchedule:
    """The job schedule of a workload with ``schedule:``; raises ``InvalidInput`` as ``plan_job`` does."""
    if workload.schedule is None:
        raise ValueError(f"workload {workload.id} has no schedule")
    target = target.for_pool(workload.pool)
    planned = plan_job(workload, target, repo_root=repo_root, blob_lister=blob_lister)
    document = _plan_document(planned, target)
    digest = hashlib.sha256(document).hexdigest()
    blob_name = f"schedules/{workload.id}/{digest}.json"
    resource_file: dict[str, Any] = {
        "httpUrl": f"{target.resources_container_url.rstrip('/')}/{blob_name}",
        "filePath": PLAN_FILE,
    }
    if target.identity_resource_id:
        resource_file["identityReference"] = {"resourceId": target.identity_resource_id}
    manager: dict[str, Any] = {
        "id": SCHEDULE_MANAGER_ID,
        "displayName": f"batchforge: adds the tasks of {workload.id}",
        "commandLine": _manager_command(target),
        "resourceFiles": [resource_file],
        # The job goes on after the manager has added the tasks; it ends through onAllTasksComplete.
        "killJobOnCompletion": False,
        "runExclusive": False,
        "userIdentity": {"autoUser": {"scope": "task", "elevationLevel": _manager_elevation(target)}},
        "constraints": {"maxTaskRetryCount": 3},
        # A token for the operations on its own job (AZ_BATCH_AUTHENTICATION_TOKEN). azure-batch 15.x has no
        # model field for it, so it is written as the REST API names it.
        "authenticationTokenSettings": {"access": ["job"]},
    }
    job = planned.job.as_dict()
    job.pop("id", None)
    # A job must not complete before its manager added every task: the manager sets the planned mode last.
    job["onAllTasksComplete"] = "noaction"
    job["jobManagerTask"] = manager
    config = workload.schedule
    schedule: dict[str, Any] = {}
    if config.do_not_run_until is not None:
        schedule["doNotRunUntil"] = config.do_not_run_until.isoformat().replace("+00:00", "Z")
    if config.do_not_run_after is not None:
        schedule["doNotRunAfter"] = config.do_not_run_after.isoformat().replace("+00:00", "Z")
    if config.start_window is not None:
        schedule["startWindow"] = _iso_duration(config.start_window)
    if config.recurrence_interval is not None:
        schedule["recurrenceInterval"] = _iso_duration(config.recurrence_interval)
    metadata = {**workload.metadata, WORKLOAD_METADATA_KEY: workload.id}
    if target.stack:
        metadata[STACK_METADATA_KEY] = target.stack
    body: dict[str, Any] = {
        "id": schedule_id(workload, target),
        "schedule": schedule,
        "jobSpecification": job,
        "metadata": [{"name": name, "value": value} for name, value in metadata.items()],
    }
    if workload.display_name is not None:
        body["displayName"] = workload.display_name
    return PlannedSchedule(
        workload_name=workload.id,
        schedule_id=str(body["id"]),
        body=body,
        plan_blob_name=blob_name,
        plan_document=document,
        job_plan=planned,
    )


def schedule_create_options(
    planned: PlannedSchedule, *, local_key: str | None = None
) -> bm.BatchJobScheduleCreateOptions:
    """Job Schedule - Add's body; ``local_key`` (local service only) is given to the job manager's environment."""
    body = json.loads(json.dumps(planned.body))
    if local_key is not None:
        _with_local_key(body["jobSpecification"], local_key)
    return bm.BatchJobScheduleCreateOptions(body)


def schedule_update_options(
    planned: PlannedSchedule, *, local_key: str | None = None
) -> bm.BatchJobScheduleUpdateOptions:
    """Job Schedule - Patch's body: schedule, job specification and metadata, each complete."""
    body = json.loads(json.dumps({key: planned.body[key] for key in ("schedule", "jobSpecification", "metadata")}))
    if local_key is not None:
        _with_local_key(body["jobSpecification"], local_key)
    return bm.BatchJobScheduleUpdateOptions(body)


def _with_local_key(job_specification: dict[str, Any], key: str) -> None:
    manager = job_specification["jobManagerTask"]
    settings = [item for item in manager.get("environmentSettings") or [] if item.get("name") != LOCAL_KEY_ENV]
    settings.append({"name": LOCAL_KEY_ENV, "value": key})
    manager["environmentSettings"] = settings


__all__ = [
    "SCHEDULE_KEY_EFFECTS",
    "PlannedSchedule",
    "plan_schedule",
    "schedule_create_options",
    "schedule_id",
    "schedule_update_options",
]
