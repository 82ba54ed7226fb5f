"""Child-process watching for event loops that start tasks' processes.

Python 3.11's default watcher starts a thread per child process; this one watches each child with a
pidfd on the loop that started it, which costs nothing per child and works on any loop.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any

_install_lock = threading.Lock()
_installed = False


if sys.version_info < (3, 12) and hasattr(os, "pidfd_open"):

    class _LoopLocalPidfdWatcher(asyncio.AbstractChildWatcher):
        """Like asyncio.PidfdChildWatcher, but registers each child on the loop that started it."""

        def __init__(self) -> None:
            self._lock = threading.Lock()
            self._callbacks: dict[int, tuple[asyncio.AbstractEventLoop, int, Callable[..., Any], tuple[Any, ...]]] = {}

        def __enter__(self) -> _LoopLocalPidfdWatcher:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def is_active(self) -> bool:
            return True

        def close(self) -> None:
            return None

        def attach_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
            return None

        def add_child_handler(self, pid: int, callback: Callable[..., Any], *args: Any) -> None:
            loop = asyncio.get_running_loop()
            pidfd = os.pidfd_open(pid)
            with self._lock:
                self._callbacks[pid] = (loop, pidfd, callback, args)
            loop._add_reader(pidfd, self._reap, pid)  # type: ignore[attr-defined]

        def _reap(self, pid: int) -> None:
            with self._lock:
                entry = self._callbacks.pop(pid, None)
            if entry is None:
                return
            loop, pidfd, callback, args = entry
            loop._remove_reader(pidfd)  # type: ignore[attr-defined]
            os.close(pidfd)
            try:
                _, status = os.waitpid(pid, 0)
                code = os.waitstatus_to_exitcode(status)
            except ChildProcessError:
                code = 255
            callback(pid, code, *args)

        def remove_child_handler(self, pid: int) -> bool:
            with self._lock:
                entry = self._callbacks.pop(pid, None)
            if entry is None:
                return False
            loop, pidfd, _, _ = entry
            loop._remove_reader(pidfd)  # type: ignore[attr-defined]
            os.close(pidfd)
            return True

    def install_child_watcher() -> None:
        global _installed
        with _install_lock:
            if _installed:
                return
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                asyncio.set_child_watcher(_LoopLocalPidfdWatcher())
            _installed = True

else:  # Python 3.12+ watches children with pidfds per loop already

    def install_child_watcher() -> None:
        return None
