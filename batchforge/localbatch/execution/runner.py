"""One run of a task on a node, start to finish: folders, resource files, the process, output files."""

from __future__ import annotations

import array
import asyncio
import contextlib
import fcntl
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from batchforge.localbatch.execution import containers, failures
from batchforge.localbatch.execution.confinement import explain_read_only
from batchforge.localbatch.execution.environment import is_current_node_master, task_environment
from batchforge.localbatch.execution.failures import TaskFailure
from batchforge.localbatch.execution.layout import (
    STDERR_FILE,
    STDOUT_FILE,
    WORKING_DIR,
    prepare_node,
    task_dir_path,
)
from batchforge.localbatch.execution.model import ExecutionOutcome, NodeContext, TaskRun
from batchforge.localbatch.execution.output_files import upload_output_files
from batchforge.localbatch.execution.process import ProcessExit, run_process
from batchforge.localbatch.execution.resource_files import download_resource_files
from batchforge.localbatch.execution.users import RunUser, hand_over, hand_over_tree, run_user


def _now() -> datetime:
    return datetime.now(UTC)


class _Clock:
    """The time left of the run's maxWallClockTime, which counts from the start of the run."""

    def __init__(self, limit: timedelta | None) -> None:
        self.limit_seconds = None if limit is None else max(limit.total_seconds(), 0.0)
        self._started = time.monotonic()

    def remaining(self) -> float | None:
        if self.limit_seconds is None:
            return None
        return max(self.limit_seconds - (time.monotonic() - self._started), 0.0)


async def run_task(node: NodeContext, run: TaskRun, *, max_wall_clock: timedelta | None = None) -> ExecutionOutcome:
    """Runs one attempt of ``run`` on ``node`` and reports how it ended.

    Never raises for task-level problems (they become the outcome's failure info). Cancelling the
    coroutine kills the task's process group and propagates the cancellation.
    """
    directory_path = task_dir_path(node, run)
    wd_path = os.path.join(directory_path, WORKING_DIR)
    # Two folders and two empty files on the node's local disk: quicker than handing them to a thread.
    # The application stage continues the primary's streams, which its coordination command began.
    stdout, stderr = _open_streams(node, wd_path, directory_path, append=run.stage == "application")
    user = run_user(run.spec, run.job_id, run.task_id)
    hand_over([directory_path, wd_path], user, private=run.kind == "task")
    directory, wd = Path(directory_path), Path(wd_path)
    environment = task_environment(node, run, directory_path)
    clock = _Clock(max_wall_clock)
    start_time = _now()

    def outcome(
        exit_code: int | None, failure: Mapping[str, Any] | None, *, timed_out: bool = False
    ) -> ExecutionOutcome:
        return ExecutionOutcome(
            exit_code=exit_code,
            result="failure" if failure is not None else "success",
            failure_info=containers.mark_on_host(container, failure),
            start_time=start_time,
            end_time=_now(),
            task_dir=directory,
            timed_out=timed_out,
        )

    container: containers.ContainerRun | None = None  # set once the run's container settings are checked

    with stdout, stderr:

        async def run_command(command_line: str) -> ProcessExit:
            return await (run_process if container is None else container)(
                command_line,
                cwd=wd_path,
                environment=environment,
                stdout=stdout,
                stderr=stderr,
                timeout_seconds=clock.remaining(),
                user=user,
            )

        multi_instance = run.spec.get("multiInstanceSettings") if run.kind == "task" and run.host_list else None
        try:
            container = containers.plan(node, run, directory_path)
            if multi_instance and run.stage != "application":
                # Common resource files go to the task directory, one level above wd, on every instance.
                await _download(multi_instance.get("commonResourceFiles"), directory, node, user)
                coordination = await run_command(str(multi_instance.get("coordinationCommandLine") or "true"))
                if (
                    run.stage == "coordination"
                    or coordination.timed_out
                    or coordination.exit_code != 0
                    or not is_current_node_master(node, run)
                ):
                    return _finished(coordination, clock, outcome)
            await _download(run.spec.get("resourceFiles"), wd, node, user)
            exited = await run_command(str(run.spec.get("commandLine") or ""))
            explain_read_only(os.path.join(directory_path, STDERR_FILE), stderr, exited.exit_code)
        except TaskFailure as failure:
            # Batch reports this only in failureInfo; locally stderr.txt says it too, so the file a user opens
            # first (a start task's, typically) is not empty.
            detail = "; ".join(f"{name}: {value}" for name, value in failure.details.items())
            stderr.write(f"localbatch: {failure.code}: {failure.message}{f' ({detail})' if detail else ''}\n".encode())
            return outcome(None, failure.failure_info())
    upload_failure: Mapping[str, Any] | None = None
    if run.spec.get("outputFiles"):
        try:
            await asyncio.to_thread(
                upload_output_files,
                run.spec["outputFiles"],
                exit_code=exited.exit_code,
                working_dir=wd,
                task_dir=directory,
                environment=environment,
                storage=node.storage,
            )
        except TaskFailure as failure:
            upload_failure = failure.failure_info()
    finished = _finished(exited, clock, outcome)
    if upload_failure is not None and finished.failure_info is None:
        return outcome(exited.exit_code, upload_failure)
    return finished


# Node roots and job folders known to exist in this process: a task's run then costs two mkdirs and two
# opens, not a stat per path component (folders are created once per node and once per job).
_KNOWN_FOLDERS: set[str] = set()
_KNOWN_FOLDERS_LIMIT = 4096


# ext4's FS_TOPDIR_FL (chattr +T) and the ioctls that read and set inode flags (an int, on every Linux).
_FS_TOPDIR_FL = 0x00020000
_FS_IOC_GETFLAGS = 0x80086601
_FS_IOC_SETFLAGS = 0x40086602


def spread_subfolders(folder: str) -> None:
    """Ask the file system to place the folder's subfolders as top-level ones (ext4 `chattr +T`).

    ext4 puts a new folder's inode in its parent's block group and searches onward when that group is full:
    in a crowded group (a home directory, ~/.cache) each task folder and its files then cost milliseconds of
    kernel time. Spread, each task folder goes to a group with room and its files follow it. A hint only:
    other file systems refuse the ioctl, and nothing changes."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        flags = array.array("i", [0])
        fcntl.ioctl(fd, _FS_IOC_GETFLAGS, flags, True)
        if not flags[0] & _FS_TOPDIR_FL:
            flags[0] |= _FS_TOPDIR_FL
            fcntl.ioctl(fd, _FS_IOC_SETFLAGS, flags, False)
    except OSError:
        pass
    finally:
        os.close(fd)


def _make_task_folders(node: NodeContext, wd: str, directory: str) -> None:
    job_folder = os.path.dirname(directory)
    if job_folder not in _KNOWN_FOLDERS:
        if not os.path.isdir(os.path.join(str(node.node_root), "workitems")):
            prepare_node(node)
        # Once per job folder, before its task folders: they are the many (100,000 in a big job).
        os.makedirs(job_folder, exist_ok=True)
        spread_subfolders(job_folder)
        os.makedirs(wd, exist_ok=True)
        if len(_KNOWN_FOLDERS) >= _KNOWN_FOLDERS_LIMIT:
            _KNOWN_FOLDERS.clear()
        _KNOWN_FOLDERS.add(job_folder)
        return
    try:
        os.mkdir(directory)
    except FileExistsError:  # a retry, or another stage of the same run
        pass
    except FileNotFoundError:  # the job folder went away (job deleted and added again)
        _KNOWN_FOLDERS.discard(job_folder)
        _make_task_folders(node, wd, directory)
        return
    with contextlib.suppress(FileExistsError):
        os.mkdir(wd)


def _open_streams(node: NodeContext, wd: str, directory: str, *, append: bool) -> tuple[BinaryIO, BinaryIO]:
    _make_task_folders(node, wd, directory)
    # Each attempt starts with fresh output streams, as a retry does on a node.
    mode = "ab" if append else "wb"
    stdout = open(os.path.join(directory, STDOUT_FILE), mode)  # noqa: SIM115 - closed by run_task
    try:
        return stdout, open(os.path.join(directory, STDERR_FILE), mode)
    except BaseException:
        stdout.close()
        raise


class _Outcome(Protocol):
    def __call__(
        self, exit_code: int | None, failure: Mapping[str, Any] | None, *, timed_out: bool = False
    ) -> ExecutionOutcome: ...


def _finished(exited: ProcessExit, clock: _Clock, outcome: _Outcome) -> ExecutionOutcome:
    if exited.timed_out:
        return outcome(exited.exit_code, failures.wall_clock_failure(clock.limit_seconds or 0.0), timed_out=True)
    if exited.exit_code != 0:
        return outcome(exited.exit_code, failures.exit_code_failure(exited.exit_code))
    return outcome(0, None)


async def _download(resource_files: Any, target: Path, node: NodeContext, user: RunUser | None) -> None:
    if resource_files:
        await asyncio.to_thread(download_resource_files, list(resource_files), target, node.storage)
        hand_over_tree(str(target), user)
