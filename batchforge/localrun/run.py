"""``batchctl local up``: provision a stack's pools locally, submit its workloads, follow them, summarize.

Every input (stack config, workloads, planned jobs) is validated before a service starts, so a bad
file fails in a second with the one-message error format and nothing is created.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.batch import models as batch_models
from azure.core.exceptions import AzureError
from rich.console import Console

from batchforge.config.naming import pool_ids
from batchforge.core.outcomes import CliError, ExitCode
from batchforge.jobs.blocked import BlockedWatch, blocked_message
from batchforge.jobs.progress import JobProgress
from batchforge.jobs.status import JobStatus, read_statuses
from batchforge.jobs.summary import LogLocation, RunSummary, summarize_job
from batchforge.localbatch.launcher import JOB_FOLDER, STDERR_FILE, STDOUT_FILE
from batchforge.localrun.health import NodeRootLocator, blocking_problems, node_warnings
from batchforge.localrun.provision import provision_pools
from batchforge.submission.plan import PlannedJob
from batchforge.submission.result import SubmissionResult
from batchforge.workload.stack_inputs import StackInputs, load_stack_inputs, placeholder_target

DEFAULT_TIMEOUT_S = 900.0
# Pool health is read less often than task counts: it lists every node.
_HEALTH_EVERY_N_POLLS = 3
TIMED_OUT_PREFIX = "timed out after"


@dataclass(frozen=True)
class LocalRunSettings:
    stack: str
    repo_root: Path
    data_dir: Path
    keep: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S
    poll_interval_s: float = 1.0
    local_nodes: int = 2


def local_log_locator(node_root: NodeRootLocator) -> Callable[[str, batch_models.BatchTask], LogLocation]:
    """Task logs as paths on the local node's disk (the node folders live in the service's data dir)."""

    def locate(job_id: str, task: batch_models.BatchTask) -> LogLocation:
        info = task.node_info
        root = node_root(info.pool_id or "", info.node_id or "") if info is not None else None
        if root is None:
            return LogLocation(
                stdout=f"batchctl logs --local {job_id} {task.id}",
                stderr=f"batchctl logs --local {job_id} {task.id} --stderr",
            )
        relative = info.task_root_directory if info is not None and info.task_root_directory else None
        task_dir = root / relative if relative else root / "workitems" / job_id / JOB_FOLDER / task.id
        return LogLocation(stdout=str(task_dir / STDOUT_FILE), stderr=str(task_dir / STDERR_FILE))

    return locate


def _print_submission(console: Console, results: Sequence[SubmissionResult]) -> None:
    for result in results:
        console.print(f"submitted: {result.summary()}", markup=False, highlight=False)


def follow_jobs(
    client: Any,
    job_ids: Sequence[str],
    pools: Sequence[str],
    node_root: NodeRootLocator,
    console: Console,
    *,
    timeout_s: float,
    poll_interval_s: float,
) -> tuple[list[JobStatus], list[str]]:
    """Live progress until every job finished, a pool is unable to run anything, or the timeout passes."""
    deadline = time.monotonic() + timeout_s
    problems: list[str] = []
    statuses: list[JobStatus] = []
    polls = 0
    watch = BlockedWatch(client)
    with JobProgress(console) as progress:
        while True:
            statuses = read_statuses(client, job_ids)
            progress.update(statuses)
            if all(status.finished for status in statuses):
                break
            stuck = watch.check(statuses)
            stuck_ids = {job.job_id for job in stuck}
            if stuck and all(status.finished or status.job_id in stuck_ids for status in statuses):
                problems.extend("\n".join(blocked_message(job)) for job in stuck)
                break
            polls += 1
            if polls % _HEALTH_EVERY_N_POLLS == 0:
                busy_pools = sorted({status.pool_id for status in statuses if not status.finished} & set(pools))
                blocked = blocking_problems(client, busy_pools, node_root)
                if blocked:
                    problems.extend(str(problem) for problem in blocked)
                    break
            if time.monotonic() >= deadline:
                pending = ", ".join(status.job_id for status in statuses if not status.finished)
                problems.append(f"{TIMED_OUT_PREFIX} {timeout_s:g}s; still running: {pending}")
                break
            time.sleep(poll_interval_s)
    return statuses, problems


def _print_container_needs(inputs: StackInputs, data_dir: Path, console: Console) -> None:
    """The images each container pool needs and whether this machine can run them (nothing without containers)."""
    from batchforge.localbatch.launcher import read_service_file
    from batchforge.localrun.container_needs import container_lines
    from batchforge.localrun.state import find_running_service

    running = find_running_service(data_dir.resolve()) is not None
    info = read_service_file(data_dir.resolve()) if running else None
    for line in container_lines(inputs.config.pools, inputs.workloads, info):
        console.print(line, markup=False, highlight=False)


def run_stack(settings: LocalRunSettings, console: Console) -> RunSummary:
    """The whole local run; returns the summary (the caller renders it and picks the exit code)."""
    from batchforge.localrun.services import start_local_services
    from batchforge.submission.blob_uploads import upload_inputs
    from batchforge.submission.client import make_batch_client, make_resources_container_client
    from batchforge.submission.engine import submit

    inputs: StackInputs = load_stack_inputs(settings.repo_root, settings.stack)
    inputs.plan(placeholder_target(inputs.config))  # every workload problem surfaces before a service starts
    _print_container_needs(inputs, settings.data_dir, console)
    names = pool_ids(inputs.config)
    with start_local_services(settings.data_dir, keep=settings.keep, console=console) as services:
        storage = inputs.config.storage
        services.ensure_containers(storage.resources_container, storage.outputs_container)
        target = services.target(names, storage.resources_container, storage.outputs_container)
        planned: list[PlannedJob] = inputs.plan(target)
        client = make_batch_client(target)
        container = make_resources_container_client(target)

        def upload(uploads: Sequence[Any]) -> object:
            return upload_inputs(uploads, container)

        console.print(f"provisioning {len(inputs.config.pools)} pool(s) of stack '{settings.stack}'", highlight=False)
        for pool in provision_pools(
            client,
            inputs.config,
            settings.repo_root,
            target.resources_container_url,
            upload,
            local_nodes=settings.local_nodes,
        ):
            verb = "created" if pool.created else "already exists"
            console.print(f"  pool {pool.config_id} -> {pool.pool_id} ({verb})", highlight=False)
            if pool.local_scale_note:
                console.print(f"  note: pool {pool.config_id}: {pool.local_scale_note}", highlight=False)
        scheduled = {workload.id: workload for workload in inputs.workloads if workload.schedule is not None}
        results = [
            submit(job, client, upload_container=container) for job in planned if job.workload_name not in scheduled
        ]
        _print_submission(console, results)
        job_ids = [result.job_id for result in results]
        for workload in scheduled.values():
            job_ids.append(run_schedule_now(workload, target, inputs.repo_root, client, container, console))
        _, problems = follow_jobs(
            client,
            job_ids,
            list(names.values()),
            services.node_root,
            console,
            timeout_s=settings.timeout_s,
            poll_interval_s=settings.poll_interval_s,
        )
        problems = [
            *(f"{result.summary()}" for result in results if not result.complete),
            *problems,
        ]
        locate = local_log_locator(services.node_root)
        jobs = tuple(summarize_job(client, job_id, locate) for job_id in job_ids)
        reported = set(problems)
        warnings = [
            str(warning)
            for warning in node_warnings(client, list(names.values()), services.node_root)
            if str(warning) not in reported
        ]
        # Outputs are downloaded while the services still run: afterwards Azurite is stopped.
        downloads, failed_downloads = download_run_outputs(
            client, target, job_ids, settings.data_dir / OUTPUTS_FOLDER, console
        )
        warnings.extend(failed_downloads)
    return RunSummary(
        jobs=jobs,
        problems=tuple(problems),
        warnings=tuple(warnings),
        downloads=downloads,
        timed_out=any(problem.startswith(TIMED_OUT_PREFIX) for problem in problems),
    )


OUTPUTS_FOLDER = "outputs"


def run_schedule_now(workload: Any, target: Any, repo_root: Path, client: Any, container: Any, console: Console) -> str:
    """Creates the workload's job schedule with its first job due now (doNotRunUntil dropped, the recurrence
    kept), so ``local up`` runs it once at once; returns that job's id. A schedule left by an earlier run is
    brought up to date, and one job of its tasks is submitted now beside it."""
    from batchforge.submission.engine import submit
    from batchforge.workload.schedule_deploy import deploy_schedule
    from batchforge.workload.scheduling import plan_schedule

    planned = plan_schedule(workload, target, repo_root=repo_root)
    planned.body["schedule"].pop("doNotRunUntil", None)
    key = target.auth.account_key.get_secret_value()
    outcome = deploy_schedule(planned, client, container, local_key=key)
    every = planned.schedule.get("recurrenceInterval", "once")
    if outcome == "created":
        job_id = f"{planned.schedule_id}:job-1"
        console.print(
            f"schedule {planned.schedule_id} ({workload.id}, every {every}): created with its first run now "
            f"(locally doNotRunUntil is not waited for): job {job_id}; its job manager adds the tasks",
            highlight=False,
            markup=False,
        )
        return job_id
    result = submit(planned.job_plan, client, upload_container=container)
    console.print(
        f"schedule {planned.schedule_id} ({workload.id}, every {every}): existed, updated; run once now as "
        f"job {result.job_id}",
        highlight=False,
        markup=False,
    )
    return result.job_id


def download_run_outputs(
    client: Any, target: Any, job_ids: Sequence[str], dest: Path, console: Console
) -> tuple[dict[str, str], list[str]]:
    """Each job's outputs (and task logs) into ``dest/<job id>/``; a job without outputs is skipped."""
    from batchforge.jobs.downloads import download_outputs
    from batchforge.jobs.storage import AzureBlobStore

    store = AzureBlobStore(target.blob_auth)
    downloaded: dict[str, str] = {}
    failed: list[str] = []
    for job_id in job_ids:
        try:
            result = download_outputs(client, store, job_id, dest, container_url=target.outputs_container_url)
        except CliError as nothing:
            if nothing.exit_code != ExitCode.NOT_FOUND:
                failed.append(f"outputs of {job_id} not downloaded: {nothing.message}")
            continue
        except AzureError as error:
            failed.append(f"outputs of {job_id} not downloaded: {str(error).splitlines()[0]}")
            continue
        downloaded[job_id] = str(result.folder)
        console.print(f"downloaded {result.files} output file(s) of {job_id} to {result.folder}", highlight=False)
    return downloaded, failed
