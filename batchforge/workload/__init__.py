"""Workload files: typed models, JSON Schema, task factories, and the PlannedJob each one becomes.

``load_workload``/``load_workloads`` read and validate ``workloads/*.yaml`` (every problem of every
file in one :class:`validation.InvalidInput`); ``plan_job`` turns a workload and a deployed
:class:`batchforge.submission.target.BatchTarget` into a :class:`batchforge.submission.plan.PlannedJob`.
"""

from batchforge.workload.identity import identity_hash, settings_hash
from batchforge.workload.loading import load_workload, load_workloads, validate_workload_data
from batchforge.workload.model import Workload
from batchforge.workload.planning import (
    CONTENT_HASH_METADATA_KEY,
    SETTINGS_HASH_METADATA_KEY,
    STACK_METADATA_KEY,
    WORKLOAD_METADATA_KEY,
    BlobLister,
    iter_tasks,
    plan_job,
)

__all__ = [
    "CONTENT_HASH_METADATA_KEY",
    "SETTINGS_HASH_METADATA_KEY",
    "STACK_METADATA_KEY",
    "WORKLOAD_METADATA_KEY",
    "BlobLister",
    "Workload",
    "identity_hash",
    "iter_tasks",
    "load_workload",
    "load_workloads",
    "plan_job",
    "settings_hash",
    "validate_workload_data",
]
