"""The ``batchctl`` command line: one typer app, thin commands over the modules that do the work."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from batchctl.errors import CliError, ExitCode, reported_errors
from batchctl.targets import TargetOptions, resolve_target

app = typer.Typer(
    name="batchctl",
    help="Operate batchforge stacks: validate config, submit workloads, watch jobs and read task logs, "
    "on Azure Batch or on the local Batch service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
local_app = typer.Typer(help="Run a stack end to end on the local Batch service and Azurite.", no_args_is_help=True)
app.add_typer(local_app, name="local")

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LOCAL_DATA_DIR = Path(".localbatch")


def _stdout() -> Console:
    return Console(soft_wrap=False)


def _stderr() -> Console:
    return Console(stderr=True, soft_wrap=True)


StackOutputsOption = Annotated[
    Path | None,
    typer.Option(
        "--stack-outputs",
        help="JSON from `pulumi stack output --json --show-secrets` (uses its batchTarget output). "
        "Auth: DefaultAzureCredential.",
        dir_okay=False,
    ),
]
EndpointOption = Annotated[str | None, typer.Option("--endpoint", help="Batch account URL (Azure, Entra ID auth).")]
PoolOption = Annotated[
    list[str] | None, typer.Option("--pool", help="CONFIG_ID=POOL_ID: the account's id of a stack pool; repeatable.")
]
ResourcesUrlOption = Annotated[str | None, typer.Option("--resources-url", help="Resources blob container URL.")]
OutputsUrlOption = Annotated[str | None, typer.Option("--outputs-url", help="Outputs blob container URL.")]
LocalOption = Annotated[
    bool, typer.Option("--local", help="Use the local Batch service (started by `local up --keep`).")
]
DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory of the local service (default: .localbatch in the repo)."),
]


def _target_options(
    stack_outputs: Path | None,
    endpoint: str | None,
    pool: list[str] | None,
    resources_url: str | None,
    outputs_url: str | None,
    local: bool,
    data_dir: Path | None,
) -> TargetOptions:
    return TargetOptions(
        outputs_file=stack_outputs,
        endpoint=endpoint,
        pools=tuple(pool or ()),
        resources_url=resources_url,
        outputs_url=outputs_url,
        local=local,
        data_dir=data_dir or REPO_ROOT / DEFAULT_LOCAL_DATA_DIR,
    )


def _client_for(options: TargetOptions):  # noqa: ANN202 - BatchClient comes from the SDK, imported lazily
    from submission import make_batch_client

    return make_batch_client(resolve_target(options))


@app.command()
def validate(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Stack files (Pulumi.<stack>.yaml) or workload files; default: every stack in the repo."),
    ] = None,
    repo_root: Annotated[Path, typer.Option(help="Repository root (stack files, workloads/).")] = REPO_ROOT,
) -> None:
    """Check stack configs and the workloads they reference, offline. Exit 2 and one line per problem."""
    from batchctl.offline_check import check

    stdout, stderr = _stdout(), _stderr()
    with reported_errors(stderr):
        report = check(repo_root, files or ())
        for problem in report.problems:
            stderr.print(str(problem), markup=False, highlight=False)
        if report.problems:
            raise typer.Exit(ExitCode.INVALID_INPUT)
        stdout.print(f"ok: {len(report.checked)} file(s) valid: {', '.join(report.checked)}", highlight=False)


@app.command()
def status(
    jobs: Annotated[list[str] | None, typer.Argument(help="Job ids; default: every job in the account.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    stack_outputs: StackOutputsOption = None,
    endpoint: EndpointOption = None,
    pool: PoolOption = None,
    resources_url: ResourcesUrlOption = None,
    outputs_url: OutputsUrlOption = None,
    local: LocalOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Jobs with their state and task counts (active, running, completed, succeeded, failed)."""
    from batchctl.job_status import read_statuses
    from batchctl.render import status_table, statuses_json

    stdout, stderr = _stdout(), _stderr()
    with reported_errors(stderr):
        options = _target_options(stack_outputs, endpoint, pool, resources_url, outputs_url, local, data_dir)
        statuses = read_statuses(_client_for(options), jobs or ())
        if as_json:
            sys.stdout.write(statuses_json(statuses) + "\n")
        else:
            stdout.print(status_table(statuses))


@app.command()
def wait(
    jobs: Annotated[list[str], typer.Argument(help="Job ids to wait for.")],
    timeout: Annotated[float | None, typer.Option(help="Give up after this many seconds (exit 5).")] = None,
    poll: Annotated[float, typer.Option(help="Seconds between polls.")] = 2.0,
    stack_outputs: StackOutputsOption = None,
    endpoint: EndpointOption = None,
    pool: PoolOption = None,
    resources_url: ResourcesUrlOption = None,
    outputs_url: OutputsUrlOption = None,
    local: LocalOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Show progress until the jobs finish; exit 1 when any task failed."""
    from batchctl.render import JobProgress, status_table
    from batchctl.waiting import wait_for_jobs

    stdout, stderr = _stdout(), _stderr()
    with reported_errors(stderr):
        options = _target_options(stack_outputs, endpoint, pool, resources_url, outputs_url, local, data_dir)
        client = _client_for(options)
        with JobProgress(stdout) as progress:
            final = wait_for_jobs(client, jobs, timeout=timeout, poll_interval=poll, on_update=progress.update)
        stdout.print(status_table(final))
        failed = [status.job_id for status in final if status.has_failures]
        if failed:
            raise CliError(f"tasks failed in: {', '.join(failed)}", ExitCode.TASKS_FAILED)


@app.command()
def logs(
    job: Annotated[str, typer.Argument(help="Job id.")],
    task: Annotated[str, typer.Argument(help="Task id.")],
    stderr_stream: Annotated[bool, typer.Option("--stderr", help="Show stderr.txt instead of stdout.txt.")] = False,
    tail: Annotated[int | None, typer.Option(help="Only the last N lines.", min=0)] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the task completes.")] = False,
    poll: Annotated[float, typer.Option(help="Seconds between reads with --follow.")] = 1.0,
    stack_outputs: StackOutputsOption = None,
    endpoint: EndpointOption = None,
    pool: PoolOption = None,
    resources_url: ResourcesUrlOption = None,
    outputs_url: OutputsUrlOption = None,
    local: LocalOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Print a task's stdout (or stderr) through the Batch API."""
    from batchctl.task_logs import follow_log, read_log

    stderr = _stderr()
    with reported_errors(stderr):
        options = _target_options(stack_outputs, endpoint, pool, resources_url, outputs_url, local, data_dir)
        client = _client_for(options)
        out = sys.stdout.buffer
        if follow:
            for chunk in follow_log(client, job, task, stderr=stderr_stream, tail=tail, poll_interval=poll):
                out.write(chunk)
                out.flush()
        else:
            out.write(read_log(client, job, task, stderr=stderr_stream, tail=tail))
            out.flush()


def main() -> None:
    app()
