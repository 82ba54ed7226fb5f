"""What a submission did, as plain typed values: the engine returns these, the CLI and the Pulumi hook render them."""

from __future__ import annotations

from dataclasses import dataclass, field

from azure.batch import models as batch_models


@dataclass(frozen=True)
class TaskFailure:
    """A task the service refused for a reason retrying cannot fix (or that ran out of retries)."""

    task_id: str
    code: str
    message: str


@dataclass(frozen=True)
class UploadResult:
    """Input files put into the resources container before the tasks that read them."""

    uploaded: int = 0
    already_present: int = 0


@dataclass(frozen=True)
class TaskCounts:
    """A job's tasks by state, as the service counts them (approximate while tasks are moving)."""

    active: int = 0
    running: int = 0
    completed: int = 0
    succeeded: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.active + self.running + self.completed

    @classmethod
    def from_service(cls, counts: batch_models.BatchTaskCounts) -> TaskCounts:
        return cls(
            active=counts.active,
            running=counts.running,
            completed=counts.completed,
            succeeded=counts.succeeded,
            failed=counts.failed,
        )


@dataclass(frozen=True)
class SubmissionResult:
    """The outcome of submitting one planned job.

    Every planned task ends up in exactly one of: ``tasks_added`` (this run created it),
    ``tasks_already_present`` (it existed before, or an earlier ambiguous attempt of this run created it),
    ``failed`` (refused, with the service's reason) or ``tasks_pending`` (not confirmed when the deadline ran out;
    a re-run adds exactly those).
    """

    workload_name: str
    job_id: str
    content_hash: str
    job_created: bool
    tasks_total: int
    tasks_added: int
    tasks_already_present: int
    failed: tuple[TaskFailure, ...] = ()
    tasks_pending: int = 0
    completion_mode_set: bool = False
    # The job existed with other settings (priority, maxParallelTasks, constraints, metadata): patched in place.
    settings_updated: bool = False
    deadline_exceeded: bool = False
    requests: int = 0
    retries: int = 0
    uploads: UploadResult = field(default_factory=UploadResult)
    duration_s: float = 0.0
    # False when the submission stopped before creating the job (the service would refuse a task).
    job_exists: bool = True
    # What was done about a job the service refused tasks of: deleted, or the command that removes it.
    cleanup: str = ""
    # How many of ``failed`` the service refused for good (the rest ran out of retries: a re-run may add them).
    refused_tasks: int = 0

    @property
    def complete(self) -> bool:
        """Every planned task is on the service (added now or before) and nothing failed."""
        return (
            not self.failed
            and self.tasks_pending == 0
            and self.tasks_added + self.tasks_already_present == self.tasks_total
        )

    @property
    def refused(self) -> bool:
        """The service refused (or would refuse) a task for good: submitting again cannot fix it."""
        return self.refused_tasks > 0

    def summary(self) -> str:
        """One line for logs and error messages."""
        created = "not created" if not self.job_exists else "created" if self.job_created else "already existed"
        if self.settings_updated:
            created += ", settings updated"
        line = (
            f"job {self.job_id} ({created}): {self.tasks_added} tasks added, "
            f"{self.tasks_already_present} already present, {len(self.failed)} failed"
        )
        if self.tasks_pending:
            line += f", {self.tasks_pending} pending (deadline passed)"
        if self.failed:
            first = self.failed[0]
            line += f"; first failure: task {first.task_id}: {first.code}: {first.message}"
        line += f" in {self.duration_s:.1f}s"
        return f"{line}; {self.cleanup}" if self.cleanup else line
