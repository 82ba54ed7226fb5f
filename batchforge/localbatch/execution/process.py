"""Runs one command line as a local process in its own session, so that a kill takes its children.

Batch on Linux does not run a task's command line under a shell: it is split into words and the
program is executed directly, so ``$VAR`` and pipes need an explicit ``/bin/sh -c '...'``. The
program is looked up on the task's PATH (which includes the shared and working directories).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shlex
import signal
import subprocess
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from batchforge.localbatch.execution import failures
from batchforge.localbatch.execution.failures import TaskFailure
from batchforge.localbatch.execution.users import RunUser, as_user


@dataclass(frozen=True)
class ProcessExit:
    exit_code: int
    timed_out: bool


def command_argv(command_line: str) -> list[str]:
    try:
        argv = shlex.split(command_line)
    except ValueError as error:
        raise TaskFailure(failures.COMMAND_LAUNCH_FAILED, f"The command line cannot be parsed: {error}") from error
    if not argv:
        raise TaskFailure(failures.COMMAND_LAUNCH_FAILED, "The command line is empty")
    return argv


def _exit_code(returncode: int) -> int:
    # A signal death is reported the way a Linux shell reports it: 128 + the signal number.
    return 128 - returncode if returncode < 0 else returncode


# fork/exec releases the GIL for most of its time; doing it on a few threads lets one agent start several
# processes at once instead of holding its event loop (and every other run's bookkeeping) for each.
_SPAWN_THREADS = 2
_spawner = ThreadPoolExecutor(_SPAWN_THREADS, thread_name_prefix="localbatch-spawn")


def kill_process_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def run_process(
    command_line: str,
    *,
    cwd: str | Path,
    environment: Mapping[str, str],
    stdout: BinaryIO,
    stderr: BinaryIO,
    timeout_seconds: float | None,
    user: RunUser | None = None,
) -> ProcessExit:
    """Runs the command to completion, or kills its process group when ``timeout_seconds`` pass.

    Cancelling the awaiting coroutine (task terminate, node removal) also kills the process group.
    """
    argv = command_argv(command_line)
    try:
        # Started directly rather than through asyncio's subprocess transport: nothing is piped, so the
        # transport would only add objects and callbacks per task; the exit is awaited with a pidfd.
        spawning = asyncio.get_running_loop().run_in_executor(
            _spawner,
            functools.partial(
                _spawn,
                user,
                argv,
                cwd=cwd,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
            ),
        )
        try:
            process = await asyncio.shield(spawning)
        except asyncio.CancelledError:
            # Cancelled while the thread was starting it: the process exists, so it is killed all the same.
            with contextlib.suppress(Exception):
                started = await spawning
                kill_process_group(started.pid)
                await _exited(started)
            raise
    except FileNotFoundError as error:
        raise TaskFailure(
            failures.COMMAND_PROGRAM_NOT_FOUND,
            "The program specified in the task's command line was not found",
            Program=argv[0],
        ) from error
    except OSError as error:
        raise TaskFailure(
            failures.COMMAND_LAUNCH_FAILED,
            f"The task's command line could not be launched: {error.strerror or error}",
            Program=argv[0],
        ) from error
    try:
        returncode = await asyncio.wait_for(_exited(process), timeout_seconds)
    except TimeoutError:
        kill_process_group(process.pid)
        returncode = await _exited(process)
        return ProcessExit(_exit_code(returncode), timed_out=True)
    except BaseException:
        kill_process_group(process.pid)
        with contextlib.suppress(BaseException):
            await asyncio.shield(_exited(process))
        raise
    return ProcessExit(_exit_code(returncode), timed_out=False)


def _spawn(user: RunUser | None, argv: list[str], **options: object) -> subprocess.Popen[bytes]:
    with as_user(user):  # this spawn thread only, for as long as the vfork takes
        return subprocess.Popen(argv, **options)  # type: ignore[call-overload,no-any-return]


_POLL_SECONDS = 0.01


async def _exited(process: subprocess.Popen[bytes]) -> int:
    """Waits for the process to exit without blocking the loop, reaps it and returns its return code."""
    if not hasattr(os, "pidfd_open"):  # not Linux: poll
        while process.poll() is None:
            await asyncio.sleep(_POLL_SECONDS)
        return process.returncode
    if process.returncode is not None:
        return process.returncode
    loop = asyncio.get_running_loop()
    pidfd = os.pidfd_open(process.pid)
    try:
        readable: asyncio.Future[None] = loop.create_future()
        loop.add_reader(pidfd, _resolve, readable)
        try:
            await readable
        finally:
            loop.remove_reader(pidfd)
    finally:
        os.close(pidfd)
    return process.wait()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
