"""Options several commands share, and the console/target helpers behind them.

Read-only commands (status, wait, logs, tasks, job, download) take only the account-choosing options;
``submit`` adds the Azure-only storage and pool options.
"""

from __future__ import annotations

import dataclasses
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from batchforge.cli.targets import TargetOptions, resolve_target
from batchforge.project import project_root

if TYPE_CHECKING:
    from azure.batch import BatchClient

    from batchforge.jobs.storage import AzureBlobStore

REPO_ROOT = project_root()
DEFAULT_LOCAL_DATA_DIR = Path(".localbatch")
# Piped output (CI logs, files, tests) is not cut to 80 columns: ids and paths must stay whole to be usable.
_PIPED_WIDTH = 240


def stdout_console() -> Console:
    return Console(soft_wrap=True, width=None if sys.stdout.isatty() else _PIPED_WIDTH)


def stderr_console() -> Console:
    return Console(stderr=True, soft_wrap=True)


StackOutputsOption = Annotated[
    Path | None,
    typer.Option(
        "--stack-outputs",
        metavar="FILE",
        help="JSON from `pulumi stack output --json` (uses its batchTarget output). Auth: DefaultAzureCredential.",
        dir_okay=False,
    ),
]
EndpointOption = Annotated[
    str | None, typer.Option("--endpoint", metavar="URL", help="Batch account URL (Azure, Entra ID auth).")
]
PoolOption = Annotated[
    list[str] | None,
    typer.Option(
        "--pool", metavar="CONFIG_ID=POOL_ID", help="The account's id of a stack pool; repeatable (submit only)."
    ),
]
ResourcesUrlOption = Annotated[
    str | None, typer.Option("--resources-url", metavar="URL", help="Resources blob container URL.")
]
OutputsUrlOption = Annotated[
    str | None, typer.Option("--outputs-url", metavar="URL", help="Outputs blob container URL.")
]
LocalOption = Annotated[
    bool, typer.Option("--local", help="Use the local Batch service (started by `local up --keep`).")
]
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", metavar="DIR", help="Data directory of the local service (default: .localbatch in the repo)."
    ),
]
RepoRootOption = Annotated[
    Path, typer.Option("--repo-root", metavar="DIR", help="Repository root (stack files, workloads/).")
]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Summarize every task, not only the failed ones.")]


def target_options(
    stack_outputs: Path | None,
    endpoint: str | None,
    local: bool,
    data_dir: Path | None,
    *,
    pool: list[str] | None = None,
    resources_url: str | None = None,
    outputs_url: str | None = None,
) -> TargetOptions:
    return TargetOptions(
        outputs_file=stack_outputs,
        endpoint=endpoint,
        pools=tuple(pool or ()),
        resources_url=resources_url,
        outputs_url=outputs_url,
        local=local,
        data_dir=data_dir or REPO_ROOT / DEFAULT_LOCAL_DATA_DIR,
        data_dir_given=data_dir is not None,
    )


def hint_command(name: str, options: TargetOptions, *args: str) -> str:
    """A batchctl command line for a hint, with the same target flags as the running command."""
    return " ".join(["batchctl", name, *(shlex.quote(arg) for arg in args), *filter(None, [options.as_flags()])])


def client_for(options: TargetOptions) -> BatchClient:
    """A Batch client for read-only commands (no storage URLs needed)."""
    from batchforge.submission.client import make_batch_client

    return make_batch_client(resolve_target(dataclasses.replace(options, storage_required=False)))


def blob_store_for(options: TargetOptions) -> AzureBlobStore:
    """Blob access with the account's own credential (Shared Key locally, Entra ID on Azure)."""
    from batchforge.jobs.storage import AzureBlobStore

    return AzureBlobStore(resolve_target(dataclasses.replace(options, storage_required=False)).blob_auth)
