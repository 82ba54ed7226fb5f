"""Task failure information in the wire shape of the REST API's BatchTaskFailureInfo.

Codes are the ones the Batch service documents for task failures (TaskFailureInformationCodes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

USER_ERROR = "usererror"
SERVER_ERROR = "servererror"

FAILURE_EXIT_CODE = "FailureExitCode"
TASK_ENDED = "TaskEnded"
COMMAND_PROGRAM_NOT_FOUND = "CommandProgramNotFound"
COMMAND_LAUNCH_FAILED = "CommandLaunchFailed"
BLOB_ACCESS_DENIED = "BlobAccessDenied"
BLOB_NOT_FOUND = "BlobNotFound"
BLOB_DOWNLOAD_MISC_ERROR = "BlobDownloadMiscError"
BLOB_DOWNLOAD_TIMED_OUT = "BlobDownloadTimedOut"
RESOURCE_FILE_CREATE_FAILED = "ResourceFileCreateFailed"
RESOURCE_FILE_WRITE_FAILED = "ResourceFileWriteFailed"
FILE_UPLOAD_ACCESS_DENIED = "FileUploadAccessDenied"
FILE_UPLOAD_CONTAINER_NOT_FOUND = "FileUploadContainerNotFound"
FILE_UPLOAD_MISC_ERROR = "FileUploadMiscError"


class TaskFailure(Exception):
    """A failure that ends the run before or after the command: carries its failure info."""

    def __init__(self, code: str, message: str, *, category: str = USER_ERROR, **details: str) -> None:
        super().__init__(message)
        self.code = code
        self.category = category
        self.message = message
        self.details = details

    def failure_info(self) -> dict[str, Any]:
        return failure_info(self.code, self.message, category=self.category, **self.details)


def failure_info(code: str, message: str, *, category: str = USER_ERROR, **details: str) -> dict[str, Any]:
    info: dict[str, Any] = {"category": category, "code": code, "message": message}
    if details:
        info["details"] = [{"name": name, "value": value} for name, value in details.items()]
    return info


def exit_code_failure(exit_code: int) -> Mapping[str, Any]:
    return failure_info(
        FAILURE_EXIT_CODE, "The task exited with an exit code representing a failure", ExitCode=str(exit_code)
    )


def wall_clock_failure(limit_seconds: float) -> Mapping[str, Any]:
    return failure_info(
        TASK_ENDED,
        "The task ran longer than its maxWallClockTime constraint and was terminated",
        MaxWallClockTime=f"PT{limit_seconds:g}S",
    )
