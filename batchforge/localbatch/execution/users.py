"""The user a run's process is started as on a sandboxed node whose agent is root (see localbatch.sandbox).

As on a Batch node, the elevation decides: admin runs as root (inside the sandbox: no mounts, read-only
host), the pool's non-admin auto-user as one shared uid, and each task-scoped non-admin auto-user (the
workloads' default) as a uid of its own, so a task cannot read another task's folder. A named user account
gets a uid from its name. Elsewhere (no sandbox, or a service that is not root) every run is the agent's
own user, and `run_user` says None.

Switching users must not cost a fork per task: CPython forks instead of vforking whenever `user=` is
given, which copies the agent's page tables (~1.5 ms a task). Linux keeps credentials per thread, so the
spawn thread itself takes the task's uid and gid with the raw system calls (glibc's wrappers would change
every thread of the process), vforks the task, which inherits them, and takes root back. The real and
effective ids are the task's; the saved uid stays 0 only for the thread, and exec replaces it in the task.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

TASK_USERS_VARIABLE = "LOCALBATCH_TASK_USERS"
POOL_NON_ADMIN_UID = 60000
_TASK_UID_BASE = 100000
_TASK_UID_SPAN = 1 << 30
# (setresuid, setresgid, setgroups) per architecture; elsewhere runs keep the agent's user.
_SYSCALLS = {"x86_64": (117, 119, 116), "aarch64": (147, 149, 159)}
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4


@dataclass(frozen=True)
class RunUser:
    uid: int

    @property
    def gid(self) -> int:
        return self.uid


def enabled() -> bool:
    return (
        os.environ.get(TASK_USERS_VARIABLE) == "1" and os.geteuid() == 0 and platform.machine() in _SYSCALLS
    )


def _uid_of(text: str) -> int:
    return _TASK_UID_BASE + zlib.crc32(text.encode()) % _TASK_UID_SPAN


def run_user(spec: Mapping[str, Any], job_id: str | None, task_id: str) -> RunUser | None:
    """Who runs this task (None: the agent's own user)."""
    if not _ENABLED:
        return None
    identity = spec.get("userIdentity") or {}
    if identity.get("username"):
        return RunUser(_uid_of(f"user\0{identity['username']}"))
    auto_user = identity.get("autoUser") or {}
    if str(auto_user.get("elevationLevel") or "nonadmin").lower() == "admin":
        return None
    if str(auto_user.get("scope") or "pool").lower() == "task":
        return RunUser(_uid_of(f"task\0{job_id}\0{task_id}"))
    return RunUser(POOL_NON_ADMIN_UID)


_ENABLED = enabled()


def _syscall(number: int, *args: int) -> None:
    if _libc.syscall(number, *args) != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


@contextlib.contextmanager
def as_user(user: RunUser | None) -> Iterator[None]:
    """While inside, this thread (only) has the user's ids and no supplementary groups."""
    if user is None:
        yield
        return
    setresuid, setresgid, setgroups = _SYSCALLS[platform.machine()]
    # The sandbox gives the agent its capabilities as ambient ones, which a task would otherwise inherit
    # through exec; spawn threads need none of them (admin runs, as root, get theirs from being root).
    if _libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "cannot clear the ambient capabilities")
    _syscall(setgroups, 0, 0)
    _syscall(setresgid, user.gid, user.gid, user.gid)
    _syscall(setresuid, user.uid, user.uid, 0)
    try:
        yield
    finally:
        # Back to root: allowed by the saved uid 0, and with it the capabilities to restore the group.
        _syscall(setresuid, 0, 0, 0)
        _syscall(setresgid, 0, 0, 0)


def hand_over(paths: list[str], user: RunUser | None, *, private: bool) -> None:
    """Give the run's folders to its user; a task's folder is private to it (job preparation and start task
    folders stay readable: tasks use what those put there)."""
    if not _ENABLED:
        return
    for path in paths if user is not None else ():
        os.chown(path, user.uid, user.gid)
    if private:
        os.chmod(paths[0], 0o700)


def hand_over_tree(folder: str, user: RunUser | None) -> None:
    """Downloaded resource files belong to the run's user, as on a node."""
    if user is None:
        return
    for parent, folders, files in os.walk(folder):
        for name in (*folders, *files):
            os.lchown(os.path.join(parent, name), user.uid, user.gid)
