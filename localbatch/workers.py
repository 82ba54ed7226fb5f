"""Event loops in worker threads that run node work (tasks' processes) off the service's own loop.

Starting a process blocks its caller for the fork and exec; on the API's loop that would stall every
request and every dispatch, so runs go to a few worker loops instead. Child processes are watched
with pidfds on whichever loop started them (Python 3.11's default watcher starts a thread per child).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sys
import threading
import warnings
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
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


class WorkerLoops:
    """A fixed set of event loops, each in its own daemon thread; `run` awaits a coroutine on one."""

    def __init__(self, count: int) -> None:
        install_child_watcher()
        self._loops: list[asyncio.AbstractEventLoop] = []
        self._threads: list[threading.Thread] = []
        for index in range(count):
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name=f"localbatch-worker-{index}", daemon=True)
            thread.start()
            self._loops.append(loop)
            self._threads.append(thread)
        self._next = itertools.cycle(range(count))

    async def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run on a worker loop; cancelling the caller cancels the coroutine there too."""
        loop = self._loops[next(self._next)]
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, loop))

    def close(self, timeout: float = 10.0) -> None:
        """Cancel whatever still runs (so processes are killed), then stop the loops."""

        async def cancel_all() -> None:
            current = asyncio.current_task()
            pending = [t for t in asyncio.all_tasks() if t is not current]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        for loop in self._loops:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(cancel_all(), loop).result(timeout)
            loop.call_soon_threadsafe(loop.stop)
        for thread in self._threads:
            thread.join(timeout)
        for loop in self._loops:
            with contextlib.suppress(Exception):
                loop.close()
