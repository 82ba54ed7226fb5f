"""The environment a task process sees: the AZ_BATCH_* variables a real node sets, then the job's
common environment settings, then the task's own environment settings (the task wins).

The service's own environment is not inherited (it may hold account keys); only what a command
needs to run is passed on, as on a node where tasks run under their own user account.
"""

from __future__ import annotations

import functools
import getpass
import os
from collections.abc import Iterable, Mapping
from typing import Any

from batchforge.localbatch.execution.layout import (
    WORKING_DIR,
    job_preparation_dir_path,
    shared_dir,
    startup_dir,
    task_dir_path,
)
from batchforge.localbatch.execution.model import NodeContext, TaskRun

_PASSED_THROUGH = ("LANG", "LC_ALL", "TZ")
_INHERITED = ("PATH", *_PASSED_THROUGH)
_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The port Batch reserves on the primary for itself; shown only so AZ_BATCH_MASTER_NODE has its real shape.
_MASTER_NODE_PORT = 6000


@functools.cache
def _os_user() -> str:
    # Tasks run as the service's own OS user locally; looked up once, it cannot change.
    return getpass.getuser()


def user_identity_name(spec: Mapping[str, Any]) -> str:
    """AZ_BATCH_TASK_USER_IDENTITY: the named user, or the auto user as e.g. ``PoolNonAdmin``."""
    identity = spec.get("userIdentity") or {}
    if identity.get("username"):
        return str(identity["username"])
    auto_user = identity.get("autoUser") or {}
    scope = str(auto_user.get("scope") or "pool").lower()
    elevation = str(auto_user.get("elevationLevel") or "nonadmin").lower()
    return ("Task" if scope == "task" else "Pool") + ("Admin" if elevation == "admin" else "NonAdmin")


def _name_value_pairs(settings: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    return {str(item["name"]): "" if item.get("value") is None else str(item["value"]) for item in settings or ()}


def is_current_node_master(node: NodeContext, run: TaskRun) -> bool:
    return bool(run.host_list) and run.host_list[0] in (node.ip_address, node.node_id)


def _multi_instance_variables(node: NodeContext, run: TaskRun, directory: str) -> dict[str, str]:
    hosts = list(run.host_list)
    return {
        "AZ_BATCH_HOST_LIST": ",".join(hosts),
        "AZ_BATCH_NODE_LIST": ";".join(hosts),
        "AZ_BATCH_MASTER_NODE": f"{hosts[0]}:{_MASTER_NODE_PORT}",
        "AZ_BATCH_IS_CURRENT_NODE_MASTER": "true" if is_current_node_master(node, run) else "false",
        "AZ_BATCH_TASK_SHARED_DIR": directory,
        "CCP_NODES": " ".join([str(len(hosts)), *(f"{host} 1" for host in hosts)]),
    }


@functools.lru_cache(maxsize=256)
def _node_variables(node: NodeContext) -> dict[str, str]:
    # The same for every run on the node; a node agent runs thousands of tasks per node.
    variables = {
        "AZ_BATCH_ACCOUNT_NAME": node.account_name,
        "AZ_BATCH_POOL_ID": node.pool_id,
        "AZ_BATCH_NODE_ID": node.node_id,
        "AZ_BATCH_NODE_IS_DEDICATED": "true" if node.is_dedicated else "false",
        "AZ_BATCH_NODE_ROOT_DIR": str(node.node_root),
        "AZ_BATCH_NODE_SHARED_DIR": str(shared_dir(node)),
        "AZ_BATCH_NODE_STARTUP_DIR": str(startup_dir(node)),
    }
    if node.account_url:
        variables["AZ_BATCH_ACCOUNT_URL"] = node.account_url
    return variables


def batch_variables(node: NodeContext, run: TaskRun, directory: str | None = None) -> dict[str, str]:
    """The AZ_BATCH_* variables for this run, as documented for Batch compute nodes (``directory``: the task
    directory, when the caller has it already)."""
    directory = directory or task_dir_path(node, run)
    variables = {
        **_node_variables(node),
        "AZ_BATCH_TASK_DIR": directory,
        "AZ_BATCH_TASK_WORKING_DIR": os.path.join(directory, WORKING_DIR),
        "AZ_BATCH_CERTIFICATES_DIR": os.path.join(directory, "certs"),
        "AZ_BATCH_TASK_USER": _os_user(),
        "AZ_BATCH_TASK_USER_IDENTITY": user_identity_name(run.spec),
        "AZ_BATCH_TASK_RETRY_COUNT": str(run.retry_count),
    }
    if run.kind != "start" and run.job_id is not None:
        variables["AZ_BATCH_JOB_ID"] = run.job_id
        variables["AZ_BATCH_TASK_ID"] = run.task_id
    if run.kind in ("task", "jobrelease") and run.job_id is not None:
        # Only when the job has a preparation task, which then has run on this node before any task.
        prep_dir = job_preparation_dir_path(node, run.job_id)
        if os.path.isdir(prep_dir):
            variables["AZ_BATCH_JOB_PREP_DIR"] = prep_dir
            variables["AZ_BATCH_JOB_PREP_WORKING_DIR"] = os.path.join(prep_dir, WORKING_DIR)
    if run.host_list:
        variables.update(_multi_instance_variables(node, run, directory))
    return variables


@functools.lru_cache(maxsize=256)
def _base_environment(node: NodeContext, inherited: tuple[str | None, ...]) -> tuple[dict[str, str], str]:
    # Keyed on the service's own values of the variables it passes on, so a changed PATH is seen.
    system_path, *passed_through = inherited
    environment = {
        name: value for name, value in zip(_PASSED_THROUGH, passed_through, strict=True) if value is not None
    }
    system_path = system_path or _DEFAULT_PATH
    user = _os_user()
    environment.update({"USER": user, "LOGNAME": user})
    return environment, f"{system_path}:{shared_dir(node)}:"


def task_environment(node: NodeContext, run: TaskRun, directory: str | None = None) -> dict[str, str]:
    """The complete environment for the task process."""
    directory = directory or task_dir_path(node, run)
    wd = os.path.join(directory, WORKING_DIR)
    base, path_prefix = _base_environment(node, tuple(map(os.environ.get, _INHERITED)))
    environment = dict(base)
    # As on a Batch Linux node: the shared dir and the working dir are on the PATH, HOME is wd.
    environment["PATH"] = path_prefix + wd
    environment["HOME"] = wd
    environment.update(batch_variables(node, run, directory))
    environment.update(_name_value_pairs(run.job_environment))
    environment.update(_name_value_pairs(run.spec.get("environmentSettings")))
    return environment
