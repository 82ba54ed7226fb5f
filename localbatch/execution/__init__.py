"""Node execution for the local Batch service: runs one task as a local process on a "node".

A node is a folder laid out as on a real Batch node (shared/, startup/, workitems/<job>/job-1/<task>/).
``run_task`` downloads the task's resource files, runs its command line with the AZ_BATCH_*
environment, enforces maxWallClockTime, uploads output files and reports the outcome the way the
REST API's executionInfo does. The scheduler decides what runs where and when; this package only runs.
"""

from localbatch.execution.layout import prepare_node, task_dir
from localbatch.execution.leftovers import kill_node_processes
from localbatch.execution.model import ExecutionOutcome, NodeContext, StorageAccess, TaskRun
from localbatch.execution.runner import run_task

__all__ = [
    "ExecutionOutcome",
    "NodeContext",
    "StorageAccess",
    "TaskRun",
    "kill_node_processes",
    "prepare_node",
    "run_task",
    "task_dir",
]
