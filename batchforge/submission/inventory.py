"""Finding batchforge's jobs on an account by their metadata, and retiring the ones a newer job superseded.

Every job the planner builds names its workload, content hash and (when known) stack in metadata, so a job
left by a failed or interrupted create, which Pulumi never recorded, is still found here. A job without
that metadata was not created by batchforge and is never returned, so nothing here can touch it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Literal

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from batchforge.submission.retrying import error_code

WORKLOAD_METADATA_KEY = "batchforge-workload"
CONTENT_HASH_METADATA_KEY = "batchforge-content-hash"
STACK_METADATA_KEY = "batchforge-stack"
SUPERSEDED_BY_METADATA_KEY = "batchforge-superseded-by"

SupersedeMode = Literal["drain", "terminate", "keep"]
SUPERSEDE_MODES: tuple[SupersedeMode, ...] = ("drain", "terminate", "keep")
# States of a job that still holds (or may start) tasks: what counts against the active-jobs quota.
OPEN_STATES = frozenset({"active", "disabling", "disabled", "enabling", "terminating"})


def _text(value: object) -> str:
    return str(value.value if isinstance(value, Enum) else value).lower()


@dataclass(frozen=True)
class ForgeJob:
    """One job batchforge created, as its metadata describes it."""

    id: str
    workload: str
    content_hash: str
    stack: str | None
    state: str
    creation_time: datetime | None
    superseded_by: str | None
    pool_id: str | None

    @property
    def open(self) -> bool:
        return self.state in OPEN_STATES


def _from_service(job: Any) -> ForgeJob | None:
    metadata = {item.name: item.value for item in job.metadata or []}
    workload = metadata.get(WORKLOAD_METADATA_KEY)
    content_hash = metadata.get(CONTENT_HASH_METADATA_KEY)
    if not workload or not content_hash:
        return None
    pool_info = getattr(job, "pool_info", None)
    return ForgeJob(
        id=str(job.id),
        workload=workload,
        content_hash=content_hash,
        stack=metadata.get(STACK_METADATA_KEY),
        state=_text(job.state),
        creation_time=getattr(job, "creation_time", None),
        superseded_by=metadata.get(SUPERSEDED_BY_METADATA_KEY),
        pool_id=getattr(pool_info, "pool_id", None) if pool_info is not None else None,
    )


def forge_jobs(
    client: Any, *, stack: str | None = None, workload: str | None = None, all_stacks: bool = False
) -> list[ForgeJob]:
    """batchforge's jobs on the account (oldest first): of ``stack`` (None: jobs that name no stack) unless
    ``all_stacks``, and of ``workload`` when given.

    The service cannot filter on metadata, so the listing selects only the few fields needed.
    """
    found: list[ForgeJob] = []
    for job in client.list_jobs(select=["id", "state", "metadata", "creationTime", "poolInfo"]):
        forge = _from_service(job)
        if forge is None:
            continue
        if not all_stacks and forge.stack != stack:
            continue
        if workload is not None and forge.workload != workload:
            continue
        found.append(forge)
    return sorted(found, key=lambda job: (job.creation_time or datetime.min, job.id))


@dataclass(frozen=True)
class Retirement:
    job_id: str
    mode: SupersedeMode
    outcome: str  # what happened, one phrase: "drained and terminated", "terminated", "kept", ...

    def describe(self) -> str:
        return f"{self.job_id}: {self.outcome}"


def superseded_jobs(client: Any, *, stack: str | None, workload: str, current_job_id: str) -> list[ForgeJob]:
    """The other open jobs of this workload (and stack): the ones the current job supersedes."""
    return [job for job in forge_jobs(client, stack=stack, workload=workload) if job.id != current_job_id and job.open]


def _ignoring_gone(action: Callable[[], Any]) -> bool:
    try:
        action()
    except ResourceNotFoundError:
        return False
    except HttpResponseError as error:
        if error_code(error) in ("JobCompleted", "JobBeingDeleted", "JobBeingTerminated", "JobNotFound"):
            return False
        raise
    return True


def _mark_superseded(client: Any, job_id: str, by: str) -> None:
    from azure.batch import models as batch_models

    job = client.get_job(job_id, select=["metadata"])
    items = [item for item in job.metadata or [] if item.name != SUPERSEDED_BY_METADATA_KEY]
    items.append(batch_models.BatchMetadataItem(name=SUPERSEDED_BY_METADATA_KEY, value=by))
    # Only metadata is sent: the rest of the job is left as it is.
    _ignoring_gone(lambda: client.update_job(job_id, batch_models.BatchJobUpdateOptions(metadata=items)))


def retire(
    client: Any,
    job: ForgeJob,
    mode: SupersedeMode,
    *,
    superseded_by: str,
    drain_timeout_s: float = 1800.0,
    poll_s: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Retirement:
    """Retires a superseded job: drain (disable with ``wait``: no task starts, running ones finish; then
    terminate), terminate (running tasks are stopped), or keep (left running, only marked)."""
    if job.superseded_by is None:
        _mark_superseded(client, job.id, superseded_by)
    if mode == "keep":
        return Retirement(job.id, mode, f"kept (superseded by {superseded_by})")
    reason = {"terminateReason": f"superseded by {superseded_by}"[:64]}
    if mode == "drain" and job.state in ("active", "enabling", "disabling", "disabled"):
        if job.state in ("active", "enabling"):
            from azure.batch import models as batch_models

            # wait: running tasks finish, queued ones never start (requeue would rerun them, terminate kill them).
            options = batch_models.BatchJobDisableOptions(disable_tasks=batch_models.DisableBatchJobOption.WAIT)
            _ignoring_gone(lambda: client.begin_disable_job(job.id, options, polling_interval=1))
        give_up_at = clock() + drain_timeout_s
        while True:
            state = _text(client.get_job(job.id, select=["state"]).state)
            if state != "disabling":
                break
            if clock() + poll_s > give_up_at:
                return Retirement(
                    job.id,
                    mode,
                    f"draining (running tasks still running after {drain_timeout_s:.0f}s; no new task starts)",
                )
            sleep(poll_s)
        _ignoring_gone(lambda: client.begin_terminate_job(job.id, reason, polling_interval=1))
        return Retirement(job.id, mode, "drained (running tasks finished, no queued task started) and terminated")
    stopped = _ignoring_gone(lambda: client.begin_terminate_job(job.id, reason, polling_interval=1))
    return Retirement(job.id, mode, "terminated (running tasks stopped)" if stopped else "already ended")


def iter_retirements(
    client: Any,
    *,
    stack: str | None,
    workload: str,
    current_job_id: str,
    mode: SupersedeMode,
    drain_timeout_s: float = 1800.0,
) -> Iterator[Retirement]:
    for job in superseded_jobs(client, stack=stack, workload=workload, current_job_id=current_job_id):
        yield retire(client, job, mode, superseded_by=current_job_id, drain_timeout_s=drain_timeout_s)
