"""Task folders on a node: a job folder asks the file system to spread its task folders (ext4 `chattr +T`), so that
100,000 task folders do not all search one crowded block group; where the file system has no such flag, runs go on
unchanged."""

from __future__ import annotations

import array
import asyncio
import errno
import fcntl
import os
from pathlib import Path

from batchforge.localbatch.execution import NodeContext, StorageAccess, TaskRun, run_task, runner
from batchforge.localbatch.execution.layout import job_dir


def _node(root: Path) -> NodeContext:
    return NodeContext(
        account_name="acct",
        pool_id="p",
        node_id="n1",
        node_root=root,
        storage=StorageAccess("acct", "key", "http://127.0.0.1:1/acct"),
    )


def _flags(path: Path) -> int | None:
    """The folder's inode flags, or None where the file system keeps none (tmpfs, overlayfs...)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        flags = array.array("i", [0])
        fcntl.ioctl(fd, runner._FS_IOC_GETFLAGS, flags, True)
        return flags[0]
    except OSError as err:
        assert err.errno in (errno.ENOTTY, errno.EOPNOTSUPP, errno.EINVAL), err
        return None
    finally:
        os.close(fd)


def test_a_job_folder_spreads_its_task_folders_where_the_file_system_can(tmp_path: Path) -> None:
    node = _node(tmp_path / "node")
    outcomes = [
        asyncio.run(run_task(node, TaskRun(kind="task", job_id="job-a", task_id=f"t{i}", spec={"commandLine": "true"})))
        for i in range(3)
    ]
    assert [o.exit_code for o in outcomes] == [0, 0, 0]
    folder = job_dir(node, "job-a")
    assert sorted(p.name for p in folder.iterdir()) == ["t0", "t1", "t2"]
    flags = _flags(folder)
    if flags is None:  # no inode flags here: the hint was refused quietly and the tasks ran all the same
        return
    assert flags & runner._FS_TOPDIR_FL, f"{folder} does not spread its subfolders (flags {flags:#x})"
    # Only the job folder: a task folder keeps its files next to it.
    task_flags = _flags(folder / "t0")
    assert task_flags is not None and not task_flags & runner._FS_TOPDIR_FL


def test_spreading_a_missing_or_flagless_folder_is_quietly_nothing(tmp_path: Path) -> None:
    runner.spread_subfolders(str(tmp_path / "missing"))  # no folder: nothing to do, no error
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):  # tmpfs refuses FS_TOPDIR_FL (or every inode flag)
        folder = shm / f"localbatch-spread-{os.getpid()}"
        folder.mkdir()
        try:
            runner.spread_subfolders(str(folder))
            flags = _flags(folder)
            assert flags is None or not flags & runner._FS_TOPDIR_FL
        finally:
            folder.rmdir()
