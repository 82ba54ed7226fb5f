"""Where a task's stdout.txt and stderr.txt are kept once it completed: blobs in the outputs container.

Nodes keep task logs only until the pool scales down or the retention time passes, so every task also
uploads them (a Batch output file for ``../std*.txt``) to ``<job id>/logs/<task id>/``. Readers (``batchctl
logs``, ``download``) find them from the job and task id alone, without asking the node.
"""

from __future__ import annotations

from typing import Any

from azure.batch import models as bm

from batchforge.submission.sdk_adapter import model_from_wire as fast_model

LOGS_FOLDER = "logs"
# Relative to the task's working directory; both files sit one level up, in the task directory.
LOG_FILES_PATTERN = "../std*.txt"


def log_blob_prefix(job_id: str, task_id: str) -> str:
    """The blob folder (no trailing slash) a task's logs upload to, relative to the outputs container."""
    return f"{job_id}/{LOGS_FOLDER}/{task_id}"


def log_blob_name(job_id: str, task_id: str, file_name: str) -> str:
    return f"{log_blob_prefix(job_id, task_id)}/{file_name}"


def log_output_file(
    outputs_container_url: str, job_id: str, task_id: str, identity: bm.BatchNodeIdentityReference | None
) -> bm.OutputFile:
    """The output file that uploads the task's stdout.txt and stderr.txt when it completes (success or not)."""
    container: dict[str, Any] = {"containerUrl": outputs_container_url, "path": log_blob_prefix(job_id, task_id)}
    if identity is not None:
        container["identityReference"] = identity
    return fast_model(
        bm.OutputFile,
        {
            "filePattern": LOG_FILES_PATTERN,
            "destination": fast_model(
                bm.OutputFileDestination, {"container": fast_model(bm.OutputFileBlobContainerDestination, container)}
            ),
            "uploadOptions": bm.OutputFileUploadConfiguration(upload_condition="taskcompletion"),
        },
    )
