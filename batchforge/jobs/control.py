"""Ending a job: terminate (tasks stop, the job stays) or delete (the job and its tasks go)."""

from __future__ import annotations

from typing import Any, Protocol

from azure.batch import models as batch_models
from azure.core.exceptions import ResourceNotFoundError

from batchforge.core.outcomes import CliError, ExitCode


class _Poller(Protocol):
    def wait(self, timeout: float | None = None) -> None: ...


class JobController(Protocol):
    def begin_terminate_job(self, job_id: str, *args: Any, **kwargs: Any) -> _Poller: ...

    def begin_delete_job(self, job_id: str, **kwargs: Any) -> _Poller: ...


def _not_found(job_id: str) -> CliError:
    return CliError(f"job '{job_id}' not found", ExitCode.NOT_FOUND)


# The service finishes a terminate or delete in the background; waiting a little lets the command report
# the job as gone or completed, and a slow service still returns control to the operator.
_SETTLE_S = 60.0


def terminate_job(client: JobController, job_id: str, reason: str) -> None:
    try:
        poller = client.begin_terminate_job(
            job_id, batch_models.BatchJobTerminateOptions(termination_reason=reason), polling_interval=1
        )
    except ResourceNotFoundError:
        raise _not_found(job_id) from None
    poller.wait(_SETTLE_S)


def delete_job(client: JobController, job_id: str) -> None:
    try:
        poller = client.begin_delete_job(job_id, polling_interval=1)
    except ResourceNotFoundError:
        raise _not_found(job_id) from None
    poller.wait(_SETTLE_S)
