"""The ``batchctl`` command line: one typer app, thin commands over the modules that do the work."""

from __future__ import annotations

import logging
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from batchforge.cli.errors import CliError, ExitCode, reported_errors
from batchforge.cli.help_format import PlainCommand, PlainGroup
from batchforge.cli.options import (
    DEFAULT_LOCAL_DATA_DIR,
    REPO_ROOT,
    DataDirOption,
    EndpointOption,
    LocalOption,
    OutputsUrlOption,
    PoolOption,
    RepoRootOption,
    ResourcesUrlOption,
    StackOutputsOption,
    VerboseOption,
    blob_store_for,
    client_for,
    hint_command,
    stderr_console,
    stdout_console,
    target_options,
)
from batchforge.cli.targets import check_single_source, resolve_target

_SETTINGS = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(
    name="batchctl",
    cls=PlainGroup,
    help="Operate batchforge stacks: validate config, submit workloads, watch jobs and read task logs, "
    "on Azure Batch or on the local Batch service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings=_SETTINGS,
)
local_app = typer.Typer(
    cls=PlainGroup,
    help="Run a stack end to end on the local Batch service and Azurite.",
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings=_SETTINGS,
)
app.add_typer(local_app, name="local")


def _print_version(value: bool) -> None:
    if value:
        from batchforge import __version__

        typer.echo(f"batchctl (batchforge) {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_print_version, help="Print the version and exit."),
    ] = False,
) -> None:
    """Operate batchforge stacks: validate config, submit workloads, watch jobs and read task logs, on Azure
    Batch or on the local Batch service."""
    from batchforge.core.sdk_logs import default_log_file, route_library_logs

    # SDK log lines (retried faults, failsafe deserialization tracebacks) go to the log file, not the terminal.
    route_library_logs(default_log_file())


config_app = typer.Typer(
    cls=PlainGroup,
    help="Compare stack configs.",
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings=_SETTINGS,
)
app.add_typer(config_app, name="config")

_stdout = stdout_console
_stderr = stderr_console


@app.command(cls=PlainCommand)
def validate(
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="FILE",
            help="Stack files (Pulumi.<stack>.yaml) or workload files; default: every stack in the repo.",
        ),
    ] = None,
    repo_root: RepoRootOption = REPO_ROOT,
) -> None:
    """Check stack configs and the workloads they reference, offline. Exit 2 and one line per problem.

    Warnings (e.g. a node agent near its end of support) are printed as 'warning: ...' lines and do not fail.
    """
    from batchforge.cli.offline_check import check

    stdout, stderr = _stdout(), _stderr()
    with reported_errors(stderr):
        report = check(repo_root, files or ())
        for warning in report.warnings:
            stderr.print(f"warning: {warning}", markup=False, highlight=False, style="yellow")
        for problem in report.problems:
            stderr.print(str(problem), markup=False, highlight=False)
        if report.problems:
            raise typer.Exit(ExitCode.INVALID_INPUT)
        stdout.print(f"ok: {len(report.checked)} file(s) valid: {', '.join(report.checked)}", highlight=False)


@app.command(cls=PlainCommand)
def status(
    jobs: Annotated[
        list[str] | None, typer.Argument(metavar="JOB", help="Job ids; default: every job in the account.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    stack_outputs: StackOutputsOption = None,
    endpoint: EndpointOption = None,
    local: LocalOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Jobs with their state and task counts (active, running, completed, succeeded, failed)."""
    from batchforge.cli.render import status_table, statuses_json
    from batchforge.jobs.status import read_statuses

    stdout, stderr = _stdout(), _stderr()
    with reported_errors(stderr):
        options = target_options(stack_outputs, endpoint, local, data_dir)
        client = client_for(options)
        statuses = read_statuses(client, jobs or ())
        # Named jobs are asked about alone; the whole account also has its job schedules.
        schedules = None
        if not jobs:
            from batchforge.jobs.schedules import read_schedules

            schedules = read_schedules(client)
        if as_json:
            sys.stdout.write(statuses_json(statuses, schedules) + "\n")
        else:
            stdout.print(status_table(statuses))
            if schedules:
                from batchforge.cli.schedule_table import schedule_table

                stdout.print(schedule_table(schedules))


@app.command(cls=PlainCommand)
def wait(
    jobs: Annotated[list[str], typer.Argument(metavar="JOB", help="Job ids to wait for.")],
    timeout: Annotated[
        float,
        typer.Option(metavar="SECONDS", help="Give up after this many seconds (exit 5); 0: no limit."),
    ] = 3600.0,
    poll: Annotated[float, typer.Option(metavar="SECONDS", help="Seconds between polls.")] = 2.0,
    stack_outputs: StackOutputsOption = None,
    endpoint: EndpointOption = None,
    local: LocalOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Show progress until the jobs finish; exit 1 when a task failed or the remaining tasks can never run."""
    from batchforge.cli.render import status_table
    from batchforge.jobs.blocked import BlockedWatch
    from batchforge.jobs.progress import JobProgress
    from batchforge.jobs.status import failed_task_ids
    from batchforge.jobs.waiting import wait_for_jobs

    stdout, stderr = _stdout(), _stderr()
    with reported_errors(stderr):
        options = target_options(stack_outputs, endpoint, local, data_dir)
        client = client_for(options)
        with JobProgress(stdout) as progress:
            final = wait_for_jobs(
                client,
                jobs,
                timeout=timeout,
                poll_interval=poll,
                on_update=progress.update,
                blocked=BlockedWatch(client),
            )
        stdout.print(status_table(final))
        failed = [status for status in final if status.has_failures]
        for status in failed:
            examples = failed_task_ids(client, status.job_id)
            stdout.print(
                f"{status.job_id}: {status.counts.failed} task(s) failed, e.g. {', '.join(examples)}; read one with: "
                f"{hint_command('logs', options, status.job_id, examples[0] if examples else '<task>')} --stderr\n"
                f"  list them all with: {hint_command('tasks', options, status.job_id)} --state failed",
                highlight=False,
            )
        if failed:
            raise CliError(f"tasks failed in: {', '.join(s.job_id for s in failed)}", ExitCode.TASKS_FAILED)


@app.command(cls=PlainCommand)
def logs(
    job: Annotated[str, typer.Argument(metavar="JOB", help="Job id.")],
    task: Annotated[str, typer.Argument(metavar="TASK", help="Task id.")],
    stderr_stream: Annotated[bool, typer.Option("--stderr", help="Show stderr.txt instead of stdout.txt.")] = False,
    tail: Annotated[int | None, typer.Option(metavar="N", help="Only the last N lines.", min=0)] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the task completes.")] = False,
    poll: Annotated[float, typer.Option(metavar="SECONDS", help="Seconds between reads with --follow.")] = 1.0,
    stack_outputs: StackOutputsOption = None,
    endpoint: EndpointOption = None,
    local: LocalOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Print a task's stdout (or stderr): from its node while it runs, from the outputs container afterwards."""
    from batchforge.jobs.logs import follow_log, read_log

    stderr = _stderr()
    with reported_errors(stderr):
        options = target_options(stack_outputs, endpoint, local, data_dir)
        client = client_for(options)
        store = blob_store_for(options)
        out = sys.stdout.buffer
        if follow:
            for chunk in follow_log(
                client, job, task, stderr=stderr_stream, tail=tail, poll_interval=poll, store=store
            ):
                out.write(chunk)
                out.flush()
        else:
            out.write(read_log(client, job, task, stderr=stderr_stream, tail=tail, store=store))
            out.flush()


def _submit_explaining_quota(submit_job: Any, planned: Any, client: Any, container: Any, stack: str) -> Any:
    """One submission; an active-jobs quota refusal becomes the message that says what is active and what frees it."""
    from azure.core.exceptions import HttpResponseError

    from batchforge.submission.quota import is_active_job_quota, quota_reached

    try:
        return submit_job(planned, client, upload_container=container)
    except HttpResponseError as error:
        if not is_active_job_quota(error):
            raise
        raise quota_reached(client, error, workload=planned.workload_name, job_id=planned.job_id, stack=stack) from None


@app.command(cls=PlainCommand)
def submit(
    stack: Annotated[
        str, typer.Option(metavar="STACK", help="Stack whose config (Pulumi.<stack>.yaml) lists the workloads.")
    ] = "dev",
    workload: Annotated[
        list[str] | None,
        typer.Option(
            "--workload", "-w", metavar="FILE", help="Only these workload files (names under workloads/); repeatable."
        ),
    ] = None,
    wait_for_jobs: Annotated[
        bool, typer.Option("--wait", help="Follow the jobs until they finish, then summarize.")
    ] = False,
    timeout: Annotated[
        float, typer.Option(metavar="SECONDS", help="With --wait: give up after this many seconds (exit 5); 0: none.")
    ] = 3600.0,
    verbose: VerboseOption = False,
    repo_root: RepoRootOption = REPO_ROOT,
    stack_outputs: StackOutputsOption = None,
    endpoint: EndpointOption = None,
    pool: PoolOption = None,
    resources_url: ResourcesUrlOption = None,
    outputs_url: OutputsUrlOption = None,
    local: LocalOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Submit a stack's workloads outside Pulumi (the same engine as the deploy hook); exactly once, resumable."""
    from batchforge.cli.render import print_run_summary
    from batchforge.config.naming import pool_ids
    from batchforge.jobs.blocked import BlockedWatch
    from batchforge.jobs.progress import JobProgress
    from batchforge.jobs.summary import RunSummary, logs_command_locator, summarize_job
    from batchforge.jobs.waiting import wait_for_jobs as wait_until_finished
    from batchforge.localrun.run import local_log_locator
    from batchforge.localrun.state import running_service_or_fail
    from batchforge.submission.client import make_batch_client, make_resources_container_client
    from batchforge.submission.engine import submit as submit_job
    from batchforge.workload.stack_inputs import load_stack_inputs

    stdout, stderr = _stdout(), _stderr()
    with reported_errors(stderr):
        inputs = load_stack_inputs(repo_root, stack, only=workload or ())
        options = target_options(
            stack_outputs,
            endpoint,
            local,
            data_dir,
            pool=pool,
            resources_url=resources_url,
            outputs_url=outputs_url,
        )
        names = pool_ids(inputs.config)
        locate_logs = logs_command_locator(options.as_flags())
        check_single_source(options)
        if local:
            # Locally the account is ours: the stack's own pool and container names, as `local up` uses them.
            service = running_service_or_fail(options.data_dir)
            storage = inputs.config.storage
            service.ensure_containers(storage.resources_container, storage.outputs_container)
            target = service.target(names, storage.resources_container, storage.outputs_container)
            locate_logs = local_log_locator(service.node_root)
        else:
            target = resolve_target(options)
            if not target.pool_ids:
                target = target.model_copy(update={"pool_ids": names})
        if target.stack is None:
            # The stack in the jobs' metadata is what `batchctl prune --stack` and quota messages go by.
            target = target.model_copy(update={"stack": stack})
        planned = inputs.plan(target)
        client = make_batch_client(target)
        # One upload client per pool: a pool with its own identity reads only its own resources container.
        containers = {
            pool_id: make_resources_container_client(target, pool_id)
            for pool_id in dict.fromkeys(job.job.pool_info.pool_id for job in planned)
        }
        results = [
            _submit_explaining_quota(submit_job, job, client, containers[job.job.pool_info.pool_id], stack)
            for job in planned
        ]
        for result in results:
            stdout.print(result.summary(), markup=False, highlight=False)
        incomplete = [result.job_id for result in results if not result.complete]
        if incomplete:
            raise CliError(f"not every task was submitted: {', '.join(incomplete)}", ExitCode.SERVICE_ERROR)
        if not wait_for_jobs:
            return
        job_ids = [result.job_id for result in results]
        with JobProgress(stdout) as progress:
            wait_until_finished(
                client, job_ids, timeout=timeout, on_update=progress.update, blocked=BlockedWatch(client)
            )
        summary = RunSummary(jobs=tuple(summarize_job(client, job_id, locate_logs) for job_id in job_ids))
        print_run_summary(
            stdout,
            summary,
            verbose=verbose,
            list_failed=lambda job_id: hint_command("tasks", options, job_id) + " --state failed",
        )
        if not summary.ok:
            raise typer.Exit(ExitCode.TASKS_FAILED)


@local_app.command("up", cls=PlainCommand)
def local_up(
    stack: Annotated[str, typer.Option(metavar="STACK", help="Stack to run (Pulumi.<stack>.yaml).")] = "dev",
    keep: Annotated[
        bool, typer.Option("--keep", help="Leave the local services running (stop: `local down`).")
    ] = False,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR", help="Where the services keep state, node folders and logs (default: .localbatch)."
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(metavar="SECONDS", help="Give up waiting for the jobs after this many seconds (exit 5).")
    ] = 900.0,
    local_nodes: Annotated[
        int,
        typer.Option(metavar="N", help="Nodes for an autoscale pool whose formula cannot size it locally.", min=1),
    ] = 2,
    verbose: VerboseOption = False,
    repo_root: RepoRootOption = REPO_ROOT,
) -> None:
    """Run a stack end to end locally: pools, start tasks, workloads, progress, summary.

    Exit 0 only when every task succeeded.
    """
    from batchforge.cli.render import print_run_summary
    from batchforge.localrun.run import LocalRunSettings, run_stack

    stdout, stderr = _stdout(), _stderr()
    with reported_errors(stderr):
        settings = LocalRunSettings(
            stack=stack,
            repo_root=repo_root,
            data_dir=(data_dir or repo_root / DEFAULT_LOCAL_DATA_DIR).resolve(),
            keep=keep,
            timeout_s=timeout,
            local_nodes=local_nodes,
        )
        try:
            summary = run_stack(settings, stdout)
        except KeyboardInterrupt:
            raise CliError(
                "interrupted; services this run started are stopped (unless --keep), "
                f"state and logs stay in {settings.data_dir}",
                ExitCode.INTERRUPTED,
            ) from None
        data_flag = f" --data-dir {shlex.quote(str(settings.data_dir))}" if data_dir is not None else ""
        print_run_summary(
            stdout,
            summary,
            verbose=verbose,
            list_failed=lambda job_id: (
                f"batchctl tasks {shlex.quote(job_id)} --local{data_flag} --state failed"
                + ("" if keep else " (after `local up --keep`)")
            ),
        )
        if keep:
            stdout.print(
                f"services kept running (data dir {settings.data_dir}); try `batchctl status --local{data_flag}`, "
                f"stop them with `batchctl local down{data_flag}`",
                highlight=False,
            )
        if summary.timed_out:
            raise typer.Exit(ExitCode.TIMED_OUT)
        if not summary.ok:
            raise typer.Exit(ExitCode.TASKS_FAILED)


@local_app.command("down", cls=PlainCommand)
def local_down(
    data_dir: Annotated[
        Path | None,
        typer.Option(metavar="DIR", help="Data directory of the services to stop (default: .localbatch)."),
    ] = None,
) -> None:
    """Stop the local services that `local up --keep` left running. State stays in the data directory."""
    from batchforge.localrun.services import stop_kept_services

    stdout, stderr = _stdout(), _stderr()
    with reported_errors(stderr):
        directory = (data_dir or REPO_ROOT / DEFAULT_LOCAL_DATA_DIR).resolve()
        stopped = stop_kept_services(directory)
        stdout.print(f"stopped the local services of {directory}" if stopped else f"nothing running in {directory}")


@config_app.command("diff", cls=PlainCommand)
def config_diff(
    stack_a: Annotated[
        str, typer.Argument(metavar="STACK_A", help="First stack (name, e.g. dev, or a Pulumi.<stack>.yaml path).")
    ],
    stack_b: Annotated[str, typer.Argument(metavar="STACK_B", help="Second stack.")],
    show_all: Annotated[bool, typer.Option("--all", help="Show equal keys too, not only differences.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the differences as JSON.")] = False,
    exit_code: Annotated[bool, typer.Option("--exit-code", help="Exit 1 when the configs differ.")] = False,
    repo_root: RepoRootOption = REPO_ROOT,
) -> None:
    """Two stacks' validated effective config side by side, differences highlighted."""
    import json

    from batchforge.promotion import diff_stack_configs

    stdout, stderr = _stdout(), _stderr()
    with reported_errors(stderr):
        diff = diff_stack_configs(stack_a, stack_b, repo_root)
        if as_json:
            sys.stdout.write(json.dumps(diff.to_json(), indent=2, default=str) + "\n")
        else:
            stdout.print(diff.render(only_differences=not show_all))
        if exit_code and not diff.identical:
            raise typer.Exit(ExitCode.TASKS_FAILED)


@app.command(cls=PlainCommand)
def promote(
    target: Annotated[
        str, typer.Argument(metavar="STACK", help="Stack to promote to (name or Pulumi.<stack>.yaml path).")
    ],
    source: Annotated[
        str | None, typer.Option("--from", metavar="STACK", help="Stack promoted from; adds its config differences.")
    ] = None,
    text: Annotated[bool, typer.Option("--text", help="Plain text instead of tables (for CI logs).")] = False,
    repo_root: RepoRootOption = REPO_ROOT,
) -> None:
    """Check a stack is ready for promotion: config valid, workloads exist and validate, policy pack passes.

    Exit 1 when any check fails.
    """
    from batchforge.promotion import check_promotion

    stdout, stderr = _stdout(), _stderr()
    with reported_errors(stderr):
        report = check_promotion(target, repo_root, source=source)
        if text:
            sys.stdout.write(report.to_text() + "\n")
        else:
            stdout.print(report.render())
        if not report.ok:
            raise typer.Exit(ExitCode.TASKS_FAILED)


from batchforge.cli import job_commands  # noqa: E402 - registers its commands on `app`

job_commands.register(app)

from batchforge.cli import prune_command  # noqa: E402 - registers `prune` on `app`

prune_command.register(app)


def main() -> None:
    # azure-identity logs every credential it tried as a warning; the CLI reports one message instead.
    logging.getLogger("azure.identity").setLevel(logging.CRITICAL)
    app(prog_name="batchctl")
