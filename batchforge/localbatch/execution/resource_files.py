"""Downloads a task's resource files into its working directory, as the node agent does before the
command runs. Runs in a worker thread (blocking IO); any failure raises ``TaskFailure`` with the
code the Batch service uses, and the task's command is then not run.
"""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import ContainerClient

from batchforge.localbatch.execution import failures
from batchforge.localbatch.execution.failures import TaskFailure
from batchforge.localbatch.execution.model import StorageAccess
from batchforge.localbatch.execution.storage import (
    auto_storage_container,
    blob_client,
    container_client,
    is_blob_url,
    without_query,
)

DEFAULT_FILE_MODE = "0770"
_HTTP_TIMEOUT_SECONDS = 60


def download_resource_files(
    resource_files: Iterable[Mapping[str, Any]], target_dir: Path, storage: StorageAccess
) -> None:
    """Downloads every resource file below ``target_dir`` (the task working dir, or the task dir
    for a multi-instance task's common resource files)."""
    for resource_file in resource_files:
        _download_one(resource_file, target_dir, storage)


def _download_one(resource_file: Mapping[str, Any], target_dir: Path, storage: StorageAccess) -> None:
    file_mode = str(resource_file.get("fileMode") or DEFAULT_FILE_MODE)
    file_path = resource_file.get("filePath")
    if resource_file.get("httpUrl"):
        url = str(resource_file["httpUrl"])
        name = str(file_path) if file_path else PurePosixPath(without_query(url)).name
        destination = _inside(target_dir, name)
        _fetch_url(url, destination, storage)
        _apply_mode(destination, file_mode)
        return
    if resource_file.get("storageContainerUrl"):
        url = str(resource_file["storageContainerUrl"])
        container = container_client(url, storage)
    elif resource_file.get("autoStorageContainerName"):
        url = f"{storage.blob_endpoint}/{resource_file['autoStorageContainerName']}"
        container = auto_storage_container(str(resource_file["autoStorageContainerName"]), storage)
    else:
        raise TaskFailure(failures.BLOB_DOWNLOAD_MISC_ERROR, "The resource file names no source to download from")
    directory = _inside(target_dir, str(file_path)) if file_path else target_dir
    with container:
        for blob_name in _list_blobs(container, resource_file.get("blobPrefix"), url):
            # The blob's full name, folders included, is kept below the filePath directory.
            destination = _inside(directory, blob_name)
            _fetch_blob(container, blob_name, destination, url)
            _apply_mode(destination, file_mode)


def _inside(base: Path, relative: str) -> Path:
    """``base/relative``, refusing paths that would leave ``base`` (absolute paths, '..')."""
    candidate = (base / relative.lstrip("/")).resolve()
    root = base.resolve()
    if candidate != root and root not in candidate.parents:
        raise TaskFailure(
            failures.RESOURCE_FILE_CREATE_FAILED,
            "The resource file path leaves the task's working directory",
            FilePath=relative,
        )
    return candidate


def _prepare_destination(destination: Path) -> None:
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise TaskFailure(
            failures.RESOURCE_FILE_CREATE_FAILED,
            f"Could not create the folder for a resource file: {error.strerror}",
            FilePath=str(destination),
        ) from error


def _list_blobs(container: ContainerClient, prefix: Any, url: str) -> list[str]:
    try:
        return [blob.name for blob in container.list_blobs(name_starts_with=str(prefix) if prefix else None)]
    except Exception as error:  # translated to the task failure code
        raise _blob_failure(error, without_query(url)) from error


def _fetch_blob(container: ContainerClient, blob_name: str, destination: Path, url: str) -> None:
    _prepare_destination(destination)
    try:
        with open(destination, "wb") as file:
            container.download_blob(blob_name).readinto(file)
    except OSError as error:
        raise _write_failure(error, destination) from error
    except Exception as error:  # translated to the task failure code
        raise _blob_failure(error, f"{without_query(url)}/{blob_name}") from error


def _fetch_url(url: str, destination: Path, storage: StorageAccess) -> None:
    _prepare_destination(destination)
    if is_blob_url(url, storage):
        try:
            with blob_client(url, storage) as client, open(destination, "wb") as file:
                client.download_blob().readinto(file)
        except OSError as error:
            raise _write_failure(error, destination) from error
        except Exception as error:  # translated to the task failure code
            raise _blob_failure(error, without_query(url)) from error
        return
    try:
        with urllib.request.urlopen(url, timeout=_HTTP_TIMEOUT_SECONDS) as response, open(destination, "wb") as file:
            shutil.copyfileobj(response, file)
    except urllib.error.HTTPError as error:
        raise _http_failure(error.code, without_query(url), str(error.reason)) from error
    except TimeoutError as error:
        raise TaskFailure(
            failures.BLOB_DOWNLOAD_TIMED_OUT, "Downloading a resource file timed out", ResourceUrl=without_query(url)
        ) from error
    except urllib.error.URLError as error:
        raise TaskFailure(
            failures.BLOB_DOWNLOAD_MISC_ERROR,
            f"Could not download a resource file: {error.reason}",
            ResourceUrl=without_query(url),
        ) from error
    except OSError as error:
        raise _write_failure(error, destination) from error


def _apply_mode(destination: Path, file_mode: str) -> None:
    try:
        destination.chmod(int(file_mode, 8))
    except ValueError as error:
        raise TaskFailure(
            failures.RESOURCE_FILE_WRITE_FAILED, f"fileMode {file_mode!r} is not an octal permission mode"
        ) from error


def _write_failure(error: OSError, destination: Path) -> TaskFailure:
    return TaskFailure(
        failures.RESOURCE_FILE_WRITE_FAILED,
        f"Could not write a resource file: {error.strerror or error}",
        FilePath=str(destination),
    )


def _http_failure(status: int | None, url: str, reason: str) -> TaskFailure:
    if status == 404:
        return TaskFailure(
            failures.BLOB_NOT_FOUND, "A resource file required for the task does not exist", ResourceUrl=url
        )
    if status in (401, 403):
        return TaskFailure(
            failures.BLOB_ACCESS_DENIED, "Access was denied when downloading a resource file", ResourceUrl=url
        )
    return TaskFailure(
        failures.BLOB_DOWNLOAD_MISC_ERROR, f"Could not download a resource file: {status} {reason}", ResourceUrl=url
    )


def _blob_failure(error: Exception, url: str) -> TaskFailure:
    if isinstance(error, TaskFailure):
        return error
    if isinstance(error, ResourceNotFoundError):
        return _http_failure(404, url, "not found")
    if isinstance(error, ClientAuthenticationError):
        return _http_failure(403, url, "access denied")
    if isinstance(error, HttpResponseError) and error.status_code is not None:
        return _http_failure(error.status_code, url, str(error.reason))
    if isinstance(error, ServiceResponseError | ServiceRequestError) and "timed out" in str(error).lower():
        return TaskFailure(failures.BLOB_DOWNLOAD_TIMED_OUT, "Downloading a resource file timed out", ResourceUrl=url)
    return TaskFailure(
        failures.BLOB_DOWNLOAD_MISC_ERROR,
        f"Could not download a resource file: {type(error).__name__}",
        ResourceUrl=url,
    )


__all__ = ["DEFAULT_FILE_MODE", "download_resource_files"]
