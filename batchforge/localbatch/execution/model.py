"""What the scheduler hands a node to run, and what the node hands back.

These types are the whole contract between the local Batch service (store, scheduler, REST API)
and node execution; everything else in this package is an implementation detail.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

TaskKind = Literal["start", "jobprep", "jobrelease", "task"]
TaskResult = Literal["success", "failure"]
RunStage = Literal["whole", "coordination", "application"]


@dataclass(frozen=True)
class StorageAccess:
    """The Batch account's linked (auto-)storage account: the local Azurite account.

    Also stands in for managed identities: a resource or output file that names an
    ``identityReference`` is accessed with this account's key, so the same pool and task
    definitions work unchanged on Azure (identity) and locally (key).
    """

    account_name: str
    account_key: str
    blob_endpoint: str  # http://127.0.0.1:PORT/<account>, no trailing slash


@dataclass(frozen=True)
class ContainerHost:
    """What a node of a container-enabled pool (virtualMachineConfiguration.containerConfiguration) runs
    containers with. ``runtime`` is the docker-compatible CLI found usable when the service started, or None
    with ``unavailable`` saying why; ``run_on_host`` is the service's opt-in to run container tasks' command
    lines directly on the node when there is none. ``images`` are the pool's containerImageNames (prefetched)."""

    pool_type: str
    images: tuple[str, ...] = ()
    runtime: str | None = None
    unavailable: str = ""
    run_on_host: bool = False


@dataclass(frozen=True)
class NodeContext:
    """One compute node: a root folder laid out as on a real Batch node.

    ``ip_address`` is the node's address as listed in a multi-instance task's host list; give each
    local node its own loopback address (127.0.0.N all reach this machine on Linux) so the primary
    instance can be told apart.
    """

    account_name: str
    pool_id: str
    node_id: str
    node_root: Path
    storage: StorageAccess
    is_dedicated: bool = True
    account_url: str | None = None
    ip_address: str = "127.0.0.1"
    # None: the pool has no container configuration, and tasks run as processes on the node.
    containers: ContainerHost | None = None


@dataclass(frozen=True)
class TaskRun:
    """One attempt at running a start task, job preparation/release task or task on a node.

    ``spec`` is the REST wire JSON (camelCase) of the pool's startTask, the job's
    jobPreparationTask / jobReleaseTask, or the task. ``job_environment`` is the job's
    commonEnvironmentSettings. ``host_list`` holds, for one instance of a multi-instance task, the
    ``ip_address`` of every instance's node, primary first. ``stage`` splits a multi-instance run
    so that the scheduler can hold the primary's command line until every coordination command returned.
    """

    kind: TaskKind
    job_id: str | None
    task_id: str
    spec: Mapping[str, Any]
    retry_count: int = 0
    job_environment: Sequence[Mapping[str, str]] = ()
    host_list: Sequence[str] = ()
    # For one instance of a multi-instance task: "coordination" runs only the coordination command (on
    # every instance), "application" only the primary's command line, once every coordination returned.
    stage: RunStage = "whole"


@dataclass(frozen=True)
class ExecutionOutcome:
    """How one run ended, in the terms of the REST executionInfo.

    ``failure_info`` has the wire shape of BatchTaskFailureInfo:
    ``{"category": "usererror"|"servererror", "code": str, "message": str, "details": [{name, value}]}``.
    ``exit_code`` is None when the command never ran (resource file or launch failure).
    """

    exit_code: int | None
    result: TaskResult
    failure_info: Mapping[str, Any] | None
    start_time: datetime
    end_time: datetime
    task_dir: Path
    timed_out: bool
