"""Where things live on a node: the folder layout of a real Batch Linux node, under ``node_root``."""

from __future__ import annotations

import os
from pathlib import Path

from batchforge.localbatch.execution import users
from batchforge.localbatch.execution.model import NodeContext, TaskRun

# Batch names a one-off job's folder "job-1" (job schedules use the job's own name instead).
JOB_FOLDER = "job-1"
# Folder names of the job preparation and release tasks: the ids Batch gives them by default.
JOB_PREPARATION_FOLDER = "jobpreparation"
JOB_RELEASE_FOLDER = "jobrelease"
WORKING_DIR = "wd"
STDOUT_FILE = "stdout.txt"
STDERR_FILE = "stderr.txt"


def shared_dir(node: NodeContext) -> Path:
    return node.node_root / "shared"


def startup_dir(node: NodeContext) -> Path:
    return node.node_root / "startup"


def workitems_dir(node: NodeContext) -> Path:
    return node.node_root / "workitems"


def prepare_node(node: NodeContext) -> None:
    """Creates the node's fixed folders; idempotent, so a restarted node keeps its files."""
    for folder in (shared_dir(node), startup_dir(node), workitems_dir(node)):
        folder.mkdir(parents=True, exist_ok=True)
    if users.enabled():  # every task of the node, whichever its user, reads and writes the shared dir
        shared_dir(node).chmod(0o777)


def _path_segment(value: str, what: str) -> str:
    # Ids come from the REST API, which validates them; this guards the file system regardless.
    if not value or value in (".", "..") or "/" in value or "\\" in value or "\x00" in value:
        raise ValueError(f"{what} {value!r} cannot be used as a folder name")
    return value


def job_dir(node: NodeContext, job_id: str) -> Path:
    return Path(_job_dir_path(node, job_id))


def job_preparation_dir(node: NodeContext, job_id: str) -> Path:
    return Path(job_preparation_dir_path(node, job_id))


def task_dir(node: NodeContext, run: TaskRun) -> Path:
    """The task directory (AZ_BATCH_TASK_DIR): holds stdout.txt, stderr.txt and the working dir wd/."""
    return Path(task_dir_path(node, run))


def working_dir(node: NodeContext, run: TaskRun) -> Path:
    return Path(task_dir_path(node, run), WORKING_DIR)


# The same places as plain strings: a task's run builds them several times, and pathlib costs more per join.
def _job_dir_path(node: NodeContext, job_id: str) -> str:
    return os.path.join(str(node.node_root), "workitems", _path_segment(job_id, "job id"), JOB_FOLDER)


def job_preparation_dir_path(node: NodeContext, job_id: str) -> str:
    return os.path.join(_job_dir_path(node, job_id), JOB_PREPARATION_FOLDER)


def task_dir_path(node: NodeContext, run: TaskRun) -> str:
    if run.kind == "start":
        return os.path.join(str(node.node_root), "startup")
    if run.job_id is None:
        raise ValueError(f"a {run.kind} run needs a job id")
    if run.kind == "jobprep":
        return job_preparation_dir_path(node, run.job_id)
    if run.kind == "jobrelease":
        return os.path.join(_job_dir_path(node, run.job_id), JOB_RELEASE_FOLDER)
    return os.path.join(_job_dir_path(node, run.job_id), _path_segment(run.task_id, "task id"))
