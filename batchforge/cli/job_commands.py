"""``batchctl tasks``, ``batchctl job terminate|delete`` and ``batchctl download``: one job at a time."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from batchforge.cli.errors import reported_errors
from batchforge.cli.help_format import PlainCommand, PlainGroup
from batchforge.cli.options import (
    DataDirOption,
    EndpointOption,
    LocalOption,
    OutputsUrlOption,
    StackOutputsOption,
    blob_store_for,
    client_for,
    stderr_console,
    stdout_console,
    target_options,
)

JobArgument = Annotated[str, typer.Argument(metavar="JOB", help="Job id.")]


def tasks(
    job: JobArgument,
    state: Annotated[
        str | None,
        typer.Option(
            metavar="STATE", help="Only tasks in this state: active, preparing, running, completed, succeeded, failed."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines instead of a table.")] = False,
    stack_outputs: StackOutputsOption = None,
    endpoint: EndpointOption = None,
    local: LocalOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """A job's tasks: id, state, exit code, duration, node and failure code."""
    from batchforge.cli.render import write_task_rows
    from batchforge.jobs.status import get_job_or_fail
    from batchforge.jobs.tasks import state_filter, task_rows

    with reported_errors(stderr_console()):
        state_filter(state)  # an unknown state is bad usage, before any request
        client = client_for(target_options(stack_outputs, endpoint, local, data_dir))
        get_job_or_fail(client, job)
        rows = task_rows(client, job, state)
        if as_json:
            out = sys.stdout
            for row in rows:
                out.write(json.dumps(row.to_json(), separators=(",", ":")) + "\n")
        else:
            write_task_rows(sys.stdout, rows)
        sys.stdout.flush()


def terminate(
    job: JobArgument,
    reason: Annotated[str, typer.Option(metavar="TEXT", help="Why (kept as the job's terminate reason).")] = (
        "terminated with batchctl"
    ),
    stack_outputs: StackOutputsOption = None,
    endpoint: EndpointOption = None,
    local: LocalOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Stop a job: running tasks are ended, no more tasks start; the job and its tasks stay readable."""
    from batchforge.jobs.control import terminate_job

    with reported_errors(stderr_console()):
        client = client_for(target_options(stack_outputs, endpoint, local, data_dir))
        terminate_job(client, job, reason)
        stdout_console().print(f"terminated job {job}", highlight=False)


def delete(
    job: JobArgument,
    stack_outputs: StackOutputsOption = None,
    endpoint: EndpointOption = None,
    local: LocalOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Delete a job and its tasks (outputs already uploaded stay in the outputs container)."""
    from batchforge.jobs.control import delete_job

    with reported_errors(stderr_console()):
        client = client_for(target_options(stack_outputs, endpoint, local, data_dir))
        delete_job(client, job)
        stdout_console().print(f"deleted job {job}", highlight=False)


def download(
    job: JobArgument,
    task: Annotated[str | None, typer.Option("--task", metavar="TASK", help="Only this task's outputs.")] = None,
    prefix: Annotated[
        str | None, typer.Option(metavar="PREFIX", help="Only blobs under <job id>/PREFIX (e.g. results/).")
    ] = None,
    dest: Annotated[
        Path, typer.Option(metavar="DIR", help="Folder to download into, as DIR/<job id>/...", file_okay=False)
    ] = Path("outputs"),
    outputs_url: OutputsUrlOption = None,
    stack_outputs: StackOutputsOption = None,
    endpoint: EndpointOption = None,
    local: LocalOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Download a job's outputs (and task logs) from the outputs container.

    A blob <job id>/results/a.json lands at DIR/<job id>/results/a.json: the path a downstream task with
    the resource file {container: outputs, blobPrefix: results/} (no filePath) sees in its working
    directory, since Batch keeps whole blob names (below filePath when one is given).
    On Azure the caller needs the Storage Blob Data Reader role on the outputs container.
    """
    from batchforge.jobs.downloads import download_outputs

    with reported_errors(stderr_console()):
        options = target_options(stack_outputs, endpoint, local, data_dir, outputs_url=outputs_url)
        client = client_for(options)
        result = download_outputs(
            client,
            blob_store_for(options),
            job,
            dest.resolve(),
            task_id=task,
            prefix=prefix,
            container_url=outputs_url,
        )
        stdout_console().print(f"downloaded {result.files} file(s), {result.bytes} bytes to {result.folder}")


def register(app: typer.Typer) -> None:
    app.command(cls=PlainCommand)(tasks)
    app.command(cls=PlainCommand)(download)
    job_app = typer.Typer(
        cls=PlainGroup,
        help="Terminate or delete a job.",
        no_args_is_help=True,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    job_app.command("terminate", cls=PlainCommand)(terminate)
    job_app.command("delete", cls=PlainCommand)(delete)
    app.add_typer(job_app, name="job")
