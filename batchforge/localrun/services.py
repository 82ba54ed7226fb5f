"""Starting and stopping the local Batch service (with its Azurite) for a local run.

Three cases: a service already running for the data directory is reused and left running; ``--keep``
starts a detached one (``localbatch serve --background``) and leaves it running for
``local down``; otherwise the service runs as a child of this process and is stopped at the end.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console

from batchforge.core.outcomes import CliError, ExitCode
from batchforge.localbatch.launcher import LocalBatch, LocalBatchError
from batchforge.localrun.state import LocalService, find_running_service

_STOP_TIMEOUT_S = 30.0


def _start_detached(data_dir: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "batchforge.localbatch",
        "serve",
        "--background",
        "--data-dir",
        str(data_dir),
        "--port",
        "0",
    ]
    finished = subprocess.run(
        command,
        cwd=data_dir.parent if data_dir.parent.is_dir() else None,
        capture_output=True,
        text=True,
        check=False,
    )
    if finished.returncode != 0:
        detail = (finished.stderr or finished.stdout).strip().splitlines()
        raise CliError(
            f"the local Batch service did not start: {detail[-1] if detail else 'no output'} "
            f"(log: {data_dir / 'service.log'})",
            ExitCode.SERVICE_ERROR,
        )


def _running(data_dir: Path) -> LocalService:
    service = find_running_service(data_dir)
    if service is None:
        raise CliError(f"the local Batch service started but its endpoint is not in {data_dir}", ExitCode.SERVICE_ERROR)
    return service


@contextlib.contextmanager
def start_local_services(data_dir: Path, *, keep: bool, console: Console) -> Iterator[LocalService]:
    """Yields the running service for ``data_dir``; stops it afterwards only if this call started it and not keep."""
    data_dir = data_dir.resolve()
    existing = find_running_service(data_dir)
    if existing is not None:
        console.print(f"using the local Batch service already running at {existing.endpoint} ({data_dir})")
        yield existing
        return
    if keep:
        console.print(f"starting the local Batch service and Azurite in the background (data dir {data_dir})")
        _start_detached(data_dir)
        service = _running(data_dir)
        console.print(f"local Batch service at {service.endpoint}, storage at {service.blob_endpoint}")
        yield service
        return
    console.print(f"starting the local Batch service and Azurite (data dir {data_dir})")
    batch = LocalBatch(data_dir)
    try:
        batch.launch()
    except LocalBatchError as failed:
        raise CliError(f"{failed}".strip(), ExitCode.SERVICE_ERROR) from None
    try:
        service = _running(data_dir)
        console.print(f"local Batch service at {service.endpoint}, storage at {service.blob_endpoint}")
        yield service
    finally:
        batch.shutdown()
        console.print("stopped the local Batch service and Azurite")


def stop_kept_services(data_dir: Path) -> bool:
    """Stops the service recorded in ``data_dir``; False when none was running."""
    service = find_running_service(data_dir.resolve())
    if service is None or service.pid is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(service.pid, signal.SIGTERM)
    deadline = time.monotonic() + _STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            os.kill(service.pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    raise CliError(f"the local Batch service (pid {service.pid}) did not stop within {_STOP_TIMEOUT_S:g}s")
