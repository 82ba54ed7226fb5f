"""A job ready to submit: what the workload builder produces and the submission engine consumes."""

from __future__ import annotations

from dataclasses import dataclass, field

from azure.batch import models as batch_models

from batchforge.assets.uploads import BlobUpload

__all__ = ["BlobUpload", "PlannedJob"]


@dataclass(frozen=True)
class PlannedJob:
    """One workload, expanded: the job, its tasks, and the files they need uploaded first.

    ``job.all_tasks_complete_mode`` is left unset on purpose: the engine sets it
    (onAllTasksComplete on the wire) only after the last task is added, so a
    half-submitted job never completes early.
    """

    workload_name: str
    content_hash: str
    job: batch_models.BatchJobCreateOptions
    tasks: list[batch_models.BatchTaskCreateOptions]
    all_tasks_complete_mode: batch_models.BatchAllTasksCompleteMode | None = None
    uploads: list[BlobUpload] = field(default_factory=list)
    # Hash of what the job update operation changes in place (priority, constraints, ...): a job found with
    # another one is patched rather than replaced.
    settings_hash: str = ""
    # What becomes of this workload's earlier jobs once this one is complete (inventory.retire).
    supersede: str = "drain"
    # The job exists already and is not this run's to create (a job schedule created it; its job manager adds
    # the tasks): the engine only finds it, checks its content hash and adds what is missing.
    created_elsewhere: bool = False

    @property
    def job_id(self) -> str:
        return str(self.job.id)
