"""Node execution for the local Batch service: runs one task as a local process on a "node".

A node is a folder laid out as on a real Batch Linux node (shared/, startup/,
workitems/<job>/job-1/<task>/ with wd/, stdout.txt, stderr.txt). ``run_task`` downloads the task's
resource files, runs its command line with the AZ_BATCH_* environment, enforces maxWallClockTime,
uploads output files and reports the outcome in the terms of the REST API's executionInfo. The
scheduler decides what runs where and when; this package only runs.

Behaviour worth knowing, all as on Batch unless said otherwise:
- The command line is split into words and executed without a shell; use ``/bin/sh -c '...'`` for
  $VAR expansion, pipes and redirects. The program is looked up on the task PATH, which ends with
  the node's shared dir and the task's working dir.
- Tasks do not inherit the service's environment; they get PATH, HOME (= wd), USER, LANG/LC_ALL/TZ,
  the AZ_BATCH_* variables, the job's common environment settings and the task's own (task wins).
- Every run gets its own session (process group): maxWallClockTime and cancelling ``run_task``
  kill the whole group. Background processes a task leaves behind keep running, as daemons started
  by a start task do; ``kill_node_processes`` ends them (service restart = node reboot, node removal).
- Blob URLs on the local storage account without a SAS, and anything with an ``identityReference``,
  are accessed with the account key: the local stand-in for a pool's managed identity.
- Users: in a node sandbox whose agent is root, runs get a user by elevation (``users``); elsewhere
  everything runs as the service's OS user (AZ_BATCH_TASK_USER says which).
- Container pools: a task's containerSettings run its command line in its image with Docker or Podman
  (``containers``). Not emulated: application packages, certificates.
"""

from batchforge.localbatch.execution import containers
from batchforge.localbatch.execution.layout import prepare_node, task_dir
from batchforge.localbatch.execution.leftovers import kill_node_processes, kill_task_processes
from batchforge.localbatch.execution.model import ExecutionOutcome, NodeContext, StorageAccess, TaskRun
from batchforge.localbatch.execution.runner import run_task

__all__ = [
    "ExecutionOutcome",
    "NodeContext",
    "StorageAccess",
    "TaskRun",
    "containers",
    "kill_node_processes",
    "kill_task_processes",
    "prepare_node",
    "run_task",
    "task_dir",
]
