"""Downloading a job's outputs from the outputs container to a local folder, as ``<dest>/<job id>/...``.

Tasks upload under ``<job id>/`` (their output files, and their logs under ``<job id>/logs/<task id>/``);
the local layout mirrors the blob names, so ``<job id>/results/a.json`` lands at
``<dest>/<job id>/results/a.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from azure.batch import models as batch_models
from azure.core.paging import ItemPaged

from batchforge.core.outcomes import CliError, ExitCode
from batchforge.jobs.reading import listed
from batchforge.jobs.storage import BlobStore, confined_path, without_query
from batchforge.workload.task_logs import log_blob_prefix


class TaskReader(Protocol):
    def get_task(self, job_id: str, task_id: str, **kwargs: Any) -> batch_models.BatchTask: ...

    def list_tasks(self, job_id: str, **kwargs: Any) -> ItemPaged[batch_models.BatchTask]: ...


@dataclass(frozen=True)
class DownloadResult:
    job_id: str
    folder: Path
    files: int
    bytes: int


def _destinations(task: batch_models.BatchTask) -> list[tuple[str, str]]:
    """(container URL, blob path) of each output file of the task."""
    found = []
    for output in task.output_files or []:
        container = output.destination.container if output.destination else None
        if container is not None and container.path:
            found.append((without_query(container.container_url), container.path.strip("/")))
    return found


def outputs_container_of(client: TaskReader, job_id: str) -> str | None:
    """The outputs container the job's tasks upload to, read from the first task that has output files."""
    for task in listed(client.list_tasks, job_id, select=["id", "outputFiles"]):
        destinations = _destinations(task)
        if destinations:
            return destinations[0][0]
    return None


def _task_prefixes(client: TaskReader, job_id: str, task_id: str) -> tuple[str | None, list[str]]:
    from batchforge.jobs.logs import get_task_or_fail

    task = get_task_or_fail(client, job_id, task_id)  # type: ignore[arg-type]
    destinations = _destinations(task)
    paths = [path for _, path in destinations] or [f"{job_id}/{task_id}", log_blob_prefix(job_id, task_id)]
    return (destinations[0][0] if destinations else None), paths


def _matches(name: str, paths: list[str]) -> bool:
    return any(name == path or name.startswith(path + "/") for path in paths)


def download_outputs(
    client: TaskReader,
    store: BlobStore,
    job_id: str,
    dest: Path,
    *,
    task_id: str | None = None,
    prefix: str | None = None,
    container_url: str | None = None,
) -> DownloadResult:
    """Downloads the job's blobs (or one task's, or those under ``prefix`` inside the job's folder)."""
    paths: list[str] | None = None
    url = container_url
    if task_id is not None:
        found_url, paths = _task_prefixes(client, job_id, task_id)
        url = url or found_url
    if url is None:
        from batchforge.jobs.status import get_job_or_fail

        get_job_or_fail(client, job_id)  # type: ignore[arg-type]
        url = outputs_container_of(client, job_id)
    if url is None:
        raise CliError(f"job '{job_id}' has no output files to download (no task uploads any)", ExitCode.NOT_FOUND)
    listing_prefix = f"{job_id}/{prefix.lstrip('/')}" if prefix else f"{job_id}/"
    files = 0
    size = 0
    for name in store.names(url, listing_prefix):
        if paths is not None and not _matches(name, paths):
            continue
        size += store.download(url, name, confined_path(dest, name))
        files += 1
    if files == 0:
        what = f"task '{task_id}' of job '{job_id}'" if task_id else f"job '{job_id}'"
        under = f" under '{listing_prefix}'" if prefix else ""
        raise CliError(f"nothing to download for {what}{under} in {url}", ExitCode.NOT_FOUND)
    return DownloadResult(job_id=job_id, folder=dest / job_id, files=files, bytes=size)
