"""``batchctl prune``: delete this stack's completed jobs and retire its superseded ones (`batchforge.jobs.prune`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from batchforge.cli.errors import reported_errors
from batchforge.cli.help_format import PlainCommand
from batchforge.cli.options import (
    REPO_ROOT,
    DataDirOption,
    EndpointOption,
    LocalOption,
    RepoRootOption,
    StackOutputsOption,
    client_for,
    stderr_console,
    stdout_console,
    target_options,
)
from batchforge.core import InvalidInput
from batchforge.submission.inventory import SupersedeMode


def _supersede_modes(repo_root: Path, stack: str) -> dict[str, SupersedeMode]:
    """Each workload's ``supersede`` as its file says now; a workload whose file is gone or invalid drains."""
    from batchforge.workload.stack_inputs import load_stack_inputs

    try:
        inputs = load_stack_inputs(repo_root, stack, allow_empty=True)
    except (InvalidInput, OSError):
        return {}
    return {workload.id: workload.supersede for workload in inputs.workloads}


def prune(
    stack: Annotated[
        str, typer.Option(metavar="STACK", help="Only jobs this stack submitted (their batchforge-stack metadata).")
    ] = "dev",
    older_than: Annotated[
        str, typer.Option(metavar="AGE", help="Only completed jobs created at least this long ago: 7d, 12h, 30m, 0.")
    ] = "0",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be done; change nothing.")] = False,
    drain_timeout: Annotated[
        float, typer.Option(metavar="SECONDS", help="How long a drained job's running tasks may take to finish.")
    ] = 300.0,
    repo_root: RepoRootOption = REPO_ROOT,
    stack_outputs: StackOutputsOption = None,
    endpoint: EndpointOption = None,
    local: LocalOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Delete the stack's completed jobs and retire superseded ones as each workload's `supersede` says.

    Only jobs batchforge created for this stack are touched (by their metadata); others are never listed.
    """
    from batchforge.jobs.prune import parse_age
    from batchforge.jobs.prune import prune as run_prune

    with reported_errors(stderr_console()):
        age = parse_age(older_than)
        client = client_for(target_options(stack_outputs, endpoint, local, data_dir))
        steps = run_prune(
            client,
            stack=stack,
            older_than=age,
            modes=_supersede_modes(repo_root, stack),
            dry_run=dry_run,
            drain_timeout_s=drain_timeout,
        )
        out = stdout_console()
        for step in steps:
            out.print(step.describe(dry_run=dry_run), markup=False, highlight=False, soft_wrap=True)
        changed = sum(1 for step in steps if step.action != "keep")
        if not steps:
            out.print(f"nothing to prune for stack {stack}", highlight=False)
        elif dry_run:
            out.print(f"dry run: {changed} job(s) would change; nothing was changed", highlight=False)


def register(app: typer.Typer) -> None:
    app.command(cls=PlainCommand)(prune)
