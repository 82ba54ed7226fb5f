"""Moves the account forward: nodes join and leave pools, start tasks run, tasks are dispatched to
free slots, jobs are disabled, terminated and deleted, autoscale formulas are evaluated.

`core` holds the `Scheduler`; `placement` decides which nodes a task can go to; `exits` maps an
outcome to Batch's exit options; `executors` runs a `TaskRun` somewhere (node agents or in process).
"""

from batchforge.localbatch.scheduler.core import Scheduler
from batchforge.localbatch.scheduler.executors import Executor

__all__ = ["Executor", "Scheduler"]
