"""Uploads a task's output files after its process exits, as the node agent does.

File patterns are relative to the working directory (``../std*.txt`` reaches stdout/stderr in the
task directory) or absolute, with $VAR expanded from the task's environment first. A pattern
without wildcards names one file and ``path`` is its blob name; a pattern with wildcards uploads
every match below ``path`` as a virtual folder, keeping each match's path relative to the
pattern's fixed leading folders. Progress goes to fileuploadout.txt / fileuploaderr.txt in the
task directory, as on a node. Runs in a worker thread (blocking IO).
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
from azure.storage.blob import ContentSettings

from batchforge.localbatch.execution import failures
from batchforge.localbatch.execution.failures import TaskFailure
from batchforge.localbatch.execution.model import StorageAccess
from batchforge.localbatch.execution.storage import container_client, without_query

UPLOAD_LOG = "fileuploadout.txt"
UPLOAD_ERROR_LOG = "fileuploaderr.txt"
_WILDCARD = re.compile(r"[*?\[]")
_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
_CONTENT_HEADERS = {
    "content-type": "content_type",
    "content-encoding": "content_encoding",
    "content-language": "content_language",
    "content-disposition": "content_disposition",
    "cache-control": "cache_control",
    "x-ms-blob-content-type": "content_type",
    "x-ms-blob-content-encoding": "content_encoding",
    "x-ms-blob-content-language": "content_language",
    "x-ms-blob-content-disposition": "content_disposition",
    "x-ms-blob-cache-control": "cache_control",
}


def should_upload(output_file: Mapping[str, Any], exit_code: int) -> bool:
    condition = str((output_file.get("uploadOptions") or {}).get("uploadCondition") or "taskcompletion").lower()
    if condition == "tasksuccess":
        return exit_code == 0
    if condition == "taskfailure":
        return exit_code != 0
    return True


@dataclass(frozen=True)
class PlannedUpload:
    local_path: Path
    blob_name: str


def expand_variables(pattern: str, environment: Mapping[str, str]) -> str:
    """$VAR and ${VAR} from the task environment; unknown variables are left as written."""
    return _VARIABLE.sub(lambda match: environment.get(match.group(1) or match.group(2), match.group(0)), pattern)


def _fixed_prefix(pattern: str) -> str:
    """The leading folders of a pattern that contain no wildcard."""
    parts = pattern.split("/")
    fixed: list[str] = []
    for part in parts[:-1]:
        if _WILDCARD.search(part):
            break
        fixed.append(part)
    return "/".join(fixed) or ("/" if pattern.startswith("/") else "")


def plan_uploads(
    file_pattern: str, path: str | None, working_dir: Path, environment: Mapping[str, str]
) -> list[PlannedUpload]:
    pattern = expand_variables(file_pattern, environment)
    base = "" if pattern.startswith("/") else glob.escape(str(working_dir)) + "/"
    if not _WILDCARD.search(pattern):
        local = Path(os.path.normpath(os.path.join(working_dir, pattern)))
        if not local.is_file():
            return []
        return [PlannedUpload(local, path.strip("/") if path else local.name)]
    root = Path(os.path.normpath(os.path.join(working_dir, _fixed_prefix(pattern))))
    uploads = []
    for match in sorted(glob.glob(base + pattern, recursive=True)):
        local = Path(os.path.normpath(match))
        if not local.is_file():
            continue
        relative = local.relative_to(root).as_posix() if local.is_relative_to(root) else local.name
        uploads.append(PlannedUpload(local, f"{path.strip('/')}/{relative}" if path else relative))
    return uploads


def _content_options(headers: Iterable[Mapping[str, Any]] | None) -> dict[str, Any]:
    settings: dict[str, str] = {}
    metadata: dict[str, str] = {}
    extra: dict[str, str] = {}
    for header in headers or ():
        name, value = str(header["name"]), str(header.get("value") or "")
        lowered = name.lower()
        if lowered in _CONTENT_HEADERS:
            settings[_CONTENT_HEADERS[lowered]] = value
        elif lowered.startswith("x-ms-meta-"):
            metadata[name[len("x-ms-meta-") :]] = value
        else:
            extra[name] = value
    options: dict[str, Any] = {}
    if settings:
        options["content_settings"] = ContentSettings(**settings)
    if metadata:
        options["metadata"] = metadata
    if extra:
        options["headers"] = extra
    return options


def upload_output_files(
    output_files: Iterable[Mapping[str, Any]],
    *,
    exit_code: int,
    working_dir: Path,
    task_dir: Path,
    environment: Mapping[str, str],
    storage: StorageAccess,
) -> None:
    """Uploads the output files whose condition the exit code meets; raises ``TaskFailure`` on the first error."""
    chosen = [output_file for output_file in output_files if should_upload(output_file, exit_code)]
    if not chosen:
        return
    with open(task_dir / UPLOAD_LOG, "a") as log, open(task_dir / UPLOAD_ERROR_LOG, "a") as error_log:
        for output_file in chosen:
            destination = (output_file.get("destination") or {}).get("container") or {}
            container_url = str(destination.get("containerUrl") or "")
            pattern = str(output_file.get("filePattern") or "")
            uploads = plan_uploads(pattern, destination.get("path"), working_dir, environment)
            if not uploads:
                log.write(f"No file matches {pattern!r}\n")
                continue
            try:
                _upload_all(uploads, container_url, destination.get("uploadHeaders"), storage, log)
            except TaskFailure as failure:
                error_log.write(f"{failure.code}: {failure.message} ({without_query(container_url)})\n")
                raise


def _upload_all(
    uploads: list[PlannedUpload],
    container_url: str,
    headers: Iterable[Mapping[str, Any]] | None,
    storage: StorageAccess,
    log: Any,
) -> None:
    options = _content_options(headers)
    try:
        with container_client(container_url, storage) as container:
            for upload in uploads:
                with open(upload.local_path, "rb") as data:
                    container.upload_blob(upload.blob_name, data, overwrite=True, **options)
                log.write(f"Uploaded {upload.local_path} to {without_query(container_url)}/{upload.blob_name}\n")
    except ResourceNotFoundError as error:
        raise TaskFailure(
            failures.FILE_UPLOAD_CONTAINER_NOT_FOUND,
            "The container for uploading output files was not found",
            ContainerUrl=without_query(container_url),
        ) from error
    except ClientAuthenticationError as error:
        raise _access_denied(container_url) from error
    except HttpResponseError as error:
        if error.status_code in (401, 403):
            raise _access_denied(container_url) from error
        raise _misc_error(container_url, f"{error.status_code} {error.reason}") from error
    except Exception as error:  # translated to the task failure code
        raise _misc_error(container_url, f"{type(error).__name__}: {error}") from error


def _access_denied(container_url: str) -> TaskFailure:
    return TaskFailure(
        failures.FILE_UPLOAD_ACCESS_DENIED,
        "Access to the container for uploading output files was denied",
        ContainerUrl=without_query(container_url),
    )


def _misc_error(container_url: str, reason: str) -> TaskFailure:
    return TaskFailure(
        failures.FILE_UPLOAD_MISC_ERROR,
        f"Uploading output files failed: {reason}",
        ContainerUrl=without_query(container_url),
    )
