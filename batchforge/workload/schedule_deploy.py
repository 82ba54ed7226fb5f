"""Putting a planned job schedule into a Batch account: its files first, then Job Schedule - Add, or Patch when it
exists (the id holds only what replaces a schedule, so an existing one is this workload's, to be brought up to
date). Ending one: terminate (its active job is terminated, the record stays) or delete (with all its jobs).
"""

from __future__ import annotations

import contextlib
from typing import Any, Literal

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from batchforge.submission.blob_uploads import upload_inputs
from batchforge.submission.retrying import error_code
from batchforge.workload.scheduling import PlannedSchedule, schedule_create_options, schedule_update_options

Outcome = Literal["created", "updated"]
_GONE = frozenset(
    {"JobScheduleNotFound", "JobScheduleBeingDeleted", "JobScheduleCompleted", "JobScheduleBeingTerminated"}
)


def upload_schedule_files(planned: PlannedSchedule, container: Any) -> None:
    """The task inputs and the task plan, content-addressed: an unchanged file is not uploaded again."""
    upload_inputs(planned.job_plan.uploads, container)
    with contextlib.suppress(ResourceExistsError):
        container.upload_blob(planned.plan_blob_name, planned.plan_document, overwrite=False)


def deploy_schedule(planned: PlannedSchedule, client: Any, container: Any, *, local_key: str | None = None) -> Outcome:
    """Creates the schedule, or patches schedule, job specification and metadata of the existing one."""
    upload_schedule_files(planned, container)
    try:
        client.create_job_schedule(schedule_create_options(planned, local_key=local_key))
        return "created"
    except HttpResponseError as error:
        if error_code(error) != "JobScheduleExists":
            raise
    client.update_job_schedule(planned.schedule_id, schedule_update_options(planned, local_key=local_key))
    return "updated"


def end_schedule(client: Any, schedule_id: str, mode: str) -> bool:
    """``terminate`` or ``delete`` the schedule; False when it was already gone or ending."""
    try:
        if mode == "delete":
            client.begin_delete_job_schedule(schedule_id, polling_interval=1)
        else:
            client.begin_terminate_job_schedule(schedule_id, polling_interval=1)
    except ResourceNotFoundError:
        return False
    except HttpResponseError as error:
        if error_code(error) in _GONE:
            return False
        raise
    return True
