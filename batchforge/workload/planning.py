"""From a validated workload and a deployed target to a :class:`PlannedJob` the submission engine submits."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from azure.batch import models as bm

from batchforge.assets import LocalAsset
from batchforge.core import InvalidInput, Problem
from batchforge.submission.plan import BlobUpload, PlannedJob
from batchforge.submission.target import BatchTarget, SharedKeyAuth
from batchforge.workload.building import BuildContext, TaskBuilder, job_options
from batchforge.workload.checks import graph_problems, template_problems
from batchforge.workload.expansion import PerFileInput, TaskGroup, collector_paused, task_groups
from batchforge.workload.identity import identity_hash, settings_hash
from batchforge.workload.local_inputs import local_assets, local_input_problems, per_file_local_inputs
from batchforge.workload.model import BlobPrefixSource, Workload
from batchforge.workload.output_collisions import output_collision_problems
from batchforge.workload.secret_scan import planned_secret_problems, workload_secret_problems
from batchforge.workload.service_rules import job_request_problems, rendered_task_problems

# Lists blob names under a prefix of a container URL (injected in tests; default: azure-storage-blob).
BlobLister = Callable[[str, str], Iterable[str]]

CONTENT_HASH_METADATA_KEY = "batchforge-content-hash"
WORKLOAD_METADATA_KEY = "batchforge-workload"
SETTINGS_HASH_METADATA_KEY = "batchforge-settings-hash"
STACK_METADATA_KEY = "batchforge-stack"


def storage_blob_lister(target: BatchTarget) -> BlobLister:
    """Lists blobs with the submitter's own storage credentials (Shared Key locally, Entra ID on Azure)."""

    def list_names(container_url: str, prefix: str) -> Iterable[str]:
        from azure.storage.blob import ContainerClient

        credential: object
        if isinstance(target.blob_auth, SharedKeyAuth):
            credential = {
                "account_name": target.blob_auth.account_name,
                "account_key": target.blob_auth.account_key.get_secret_value(),
            }
        else:
            from batchforge.submission.credentials import azure_credential

            credential = azure_credential()
        client = ContainerClient.from_container_url(container_url, credential=credential)
        return list(client.list_blob_names(name_starts_with=prefix))

    return list_names


def _blob_prefix_inputs(
    workload: Workload, source: BlobPrefixSource, target: BatchTarget, lister: BlobLister
) -> tuple[list[PerFileInput], list[Problem]]:
    inputs = []
    for name in sorted(lister(target.resources_container_url, source.blob_prefix)):
        relative = name[len(source.blob_prefix) :].lstrip("/")
        if relative and fnmatchcase(relative, source.pattern):
            inputs.append(PerFileInput(relative, name))
    if inputs:
        return inputs, []
    return [], [
        Problem(
            workload.source,
            "tasks.perFile.source.blobPrefix",
            f"no blob in the resources container starts with '{source.blob_prefix}' and matches '{source.pattern}'",
        )
    ]


def _per_file_inputs(
    workload: Workload, target: BatchTarget, repo_root: Path, lister: BlobLister | None
) -> tuple[list[PerFileInput] | None, list[Problem]]:
    per_file = workload.tasks.per_file
    if per_file is None:
        return None, []
    if isinstance(per_file.source, BlobPrefixSource):
        return _blob_prefix_inputs(workload, per_file.source, target, lister or storage_blob_lister(target))
    found = per_file_local_inputs(workload, repo_root)
    assert found is not None
    return found


def _pool_problem(workload: Workload, target: BatchTarget) -> list[Problem]:
    if workload.pool in target.pool_ids:
        return []
    known = ", ".join(sorted(target.pool_ids)) or "none"
    return [Problem(workload.source, "pool", f"unknown pool '{workload.pool}'; the stack's pools are: {known}")]


def iter_tasks(groups: Sequence[TaskGroup], context: BuildContext) -> Iterator[bm.BatchTaskCreateOptions]:
    """Every task's create options, built one at a time: groups without dependencies first (so a reduce task
    comes after its map tasks), otherwise listed tasks, then the sweep, then per-file tasks."""
    ordered = sorted(groups, key=lambda group: group.template.depends_on is not None)
    for group in ordered:
        build = TaskBuilder(group, context).build
        for row in group.rows():
            yield build(row)


def _built_groups(
    groups: Sequence[TaskGroup], context: BuildContext
) -> list[tuple[TaskGroup, list[bm.BatchTaskCreateOptions]]]:
    """Every group with its built tasks, in :func:`iter_tasks` order (checks need to know each task's group)."""
    ordered = sorted(groups, key=lambda group: group.template.depends_on is not None)
    with collector_paused():
        built = []
        for group in ordered:
            build = TaskBuilder(group, context).build
            built.append((group, [build(row) for row in group.rows()]))
        return built


@dataclass(frozen=True)
class JobIdentity:
    """What a workload's job is for a target, known without building a single task."""

    workload_name: str
    job_id: str
    content_hash: str
    settings_hash: str


@dataclass(frozen=True)
class _ResolvedInputs:
    per_file_inputs: list[PerFileInput] | None
    assets: dict[str, list[LocalAsset]]
    folders: frozenset[str]
    uploads: dict[str, BlobUpload]
    identity: JobIdentity


def _resolve(
    workload: Workload,
    target: BatchTarget,
    repo_root: Path,
    blob_lister: BlobLister | None,
    *,
    check_tasks: bool,
) -> _ResolvedInputs:
    """The workload's inputs (local files hashed, a blob prefix listed) and the job identity they give.

    ``check_tasks`` also runs the per-task checks (placeholders, ids, dependencies) a loader left to
    planning; the program skips them, since they cost a pass over every task (the provider runs them).
    """
    problems = _pool_problem(workload, target)
    problems.extend(local_input_problems(workload, repo_root))
    problems.extend(workload_secret_problems(workload))
    per_file_inputs, found = _per_file_inputs(workload, target, repo_root, blob_lister)
    problems.extend(found)
    if check_tasks and not (workload._tasks_checked and per_file_inputs is None):
        groups = task_groups(workload, per_file_inputs)
        placeholder_found = template_problems(groups, workload.source)
        problems.extend(placeholder_found)
        if not placeholder_found:
            problems.extend(graph_problems(groups, workload, workload.source))
    if problems:
        raise InvalidInput(problems)

    assets, folders = local_assets(workload, repo_root)
    uploads: dict[str, BlobUpload] = {}
    digests: list[tuple[str, str]] = []
    for source, items in assets.items():
        for asset in items:
            uploads.setdefault(asset.blob_name, asset.to_upload())
            digests.append((f"file:{source}:{asset.node_path}", asset.sha256))
    for item in per_file_inputs or ():
        if item.local_path is not None and item.sha256 is not None:
            uploads.setdefault(item.blob_name, BlobUpload(item.local_path, item.blob_name, item.sha256))
            digests.append((f"per-file:{item.relative_path}", item.sha256))
        else:
            digests.append((f"per-file-blob:{item.blob_name}", ""))
    # The pool, the containers and the identity are part of what a job is (identity.target_identity): a
    # replaced pool (new name) must get a new job, since a job's poolInfo cannot follow the pool.
    short_hash = identity_hash(workload, target, digests)
    identity = JobIdentity(workload.id, f"{workload.id}-{short_hash}", short_hash, settings_hash(workload))
    return _ResolvedInputs(per_file_inputs, assets, folders, uploads, identity)


def job_identity(
    workload: Workload, target: BatchTarget, *, repo_root: Path, blob_lister: BlobLister | None = None
) -> JobIdentity:
    """The job id and hashes :func:`plan_job` gives, from the workload model and its resolved inputs only.

    No task is built or expanded, so a million-task sweep costs what one task does; the checks that need
    every task are :func:`plan_job`'s.
    """
    return _resolve(workload, target.for_pool(workload.pool), repo_root, blob_lister, check_tasks=False).identity


def plan_job(
    workload: Workload, target: BatchTarget, *, repo_root: Path, blob_lister: BlobLister | None = None
) -> PlannedJob:
    """The job, its tasks and the uploads they need; raises :class:`InvalidInput` naming the file and key.

    ``blob_lister`` lists the resources container for a per-file factory over a blob prefix (default:
    azure-storage-blob with ``target.blob_auth``).
    """
    # A pool with a node identity of its own has its own containers: the job reads and writes only those.
    target = target.for_pool(workload.pool)
    resolved = _resolve(workload, target, repo_root, blob_lister, check_tasks=True)
    per_file_inputs, assets, folders, uploads = (
        resolved.per_file_inputs,
        resolved.assets,
        resolved.folders,
        resolved.uploads,
    )
    groups = task_groups(workload, per_file_inputs)
    short_hash = resolved.identity.content_hash
    job_id = resolved.identity.job_id
    context = BuildContext(
        job_id=job_id,
        target=target,
        local_assets=assets,
        local_folders=folders,
        upload_logs=workload.upload_logs is not False,
        container_settings=workload.container_settings,
    )
    # What the service would refuse in the rendered tasks is refused before they are built (and before any job).
    refused = rendered_task_problems(groups, context, workload.source)
    if refused:
        raise InvalidInput(refused)
    built = _built_groups(groups, context)
    collisions = output_collision_problems(built, job_id, workload.source)
    if collisions:
        raise InvalidInput(collisions)
    uses_dependencies = any(
        group.template.depends_on is not None and (group.template.depends_on.ids or group.template.depends_on.ranges)
        for group in groups
    )
    metadata = {
        **workload.metadata,
        WORKLOAD_METADATA_KEY: workload.id,
        CONTENT_HASH_METADATA_KEY: short_hash,
        SETTINGS_HASH_METADATA_KEY: resolved.identity.settings_hash,
        **({STACK_METADATA_KEY: target.stack} if target.stack else {}),
    }
    job = job_options(workload, context, target.pool_ids[workload.pool], metadata, uses_dependencies)
    # Credentials assembled from a template and its values show only in the rendered tasks.
    secrets = planned_secret_problems(job, (task for _, tasks in built for task in tasks), workload.source)
    if secrets:
        raise InvalidInput(secrets)
    refused_job = job_request_problems(job, workload.source)
    if refused_job:
        raise InvalidInput(refused_job)
    return PlannedJob(
        workload_name=workload.id,
        content_hash=short_hash,
        settings_hash=metadata[SETTINGS_HASH_METADATA_KEY],
        supersede=workload.supersede,
        job=job,
        tasks=[task for _, tasks in built for task in tasks],
        all_tasks_complete_mode=bm.BatchAllTasksCompleteMode(workload.on_all_tasks_complete),
        uploads=sorted(uploads.values(), key=lambda upload: upload.blob_name),
    )
