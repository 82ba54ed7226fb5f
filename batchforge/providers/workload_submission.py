"""The post-deploy hook: one Pulumi dynamic resource per workload that submits its job through the engine.

Each ``WorkloadSubmission``'s id is the Batch job id, which carries the workload's content hash, so:
an unchanged workload is no change on the next ``up``; a changed workload is a replacement (the new job is
submitted, then the old one is terminated or deleted, per ``workloadDeletion``); ``pulumi preview`` lists
exactly those. Create and update run the submission engine, which is idempotent and resumable, so a failed
or interrupted ``up`` is completed by the next one.

Credentials never enter state or the pickled provider: the inputs carry only endpoints, names and ids, and
the provider resolves credentials when it runs:
- ``authKind: entra-id`` (Azure): ``batchforge.submission.credentials.azure_credential`` for Batch and for blob
  uploads (a GitHub OIDC assertion renewed per token in Actions, ``DefaultAzureCredential`` elsewhere);
- ``authKind: shared-key`` (the local Batch service only): the account key from the environment variable
  ``BATCHFORGE_LOCAL_BATCH_KEY`` and, for uploads to Azurite, ``BATCHFORGE_LOCAL_STORAGE_KEY``, read inside
  the provider's methods at call time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pulumi
import pulumi.dynamic
from pulumi.output import Unknown
from pydantic import SecretStr

from batchforge.core import InvalidInput
from batchforge.submission.inventory import SupersedeMode
from batchforge.submission.plan import PlannedJob
from batchforge.submission.target import BatchTarget, EntraIdAuth, SharedKeyAuth

if TYPE_CHECKING:
    from batchforge.workload.planning import JobIdentity

LOCAL_BATCH_KEY_ENV = "BATCHFORGE_LOCAL_BATCH_KEY"
LOCAL_STORAGE_KEY_ENV = "BATCHFORGE_LOCAL_STORAGE_KEY"
WORKLOADS_DIR = "workloads"
DEFAULT_DEADLINE_S = 1800.0
# A new role assignment takes minutes to reach the Batch and Storage data planes; until then requests get 403.
RBAC_PROPAGATION_S = 600.0
RBAC_RETRY_INTERVAL_S = 15.0

# Any change of these means another job: submit the new one, then retire the old one.
REPLACE_KEYS = ("jobId", "contentHash", "accountEndpoint")
INPUT_KEYS = (
    "workloadName",
    "workloadFile",
    "jobId",
    "contentHash",
    # What the job update operation changes on the live job: a change is an update, never a replacement.
    "settingsHash",
    "stack",
    "accountEndpoint",
    "poolIds",
    "resourcesContainerUrl",
    "outputsContainerUrl",
    "identityResourceId",
    "authKind",
    "accountName",
    "blobAuthKind",
    "storageAccountName",
    "deletionMode",
    "deadlineSeconds",
)
OUTPUT_KEYS = (
    "tasksTotal",
    "tasksAdded",
    "tasksAlreadyPresent",
    "jobCreated",
    "settingsUpdated",
    "retired",
    "taskCounts",
)
DELETION_MODES = ("terminate", "delete")
AUTH_KINDS = ("entra-id", "shared-key")

T = TypeVar("T")


def plan_workload_file(path: Path, target: BatchTarget, repo_root: Path) -> PlannedJob:
    """Loads and plans one workload file (workload_spec owns the rules; imported lazily for the provider)."""
    from batchforge.workload import load_workload, plan_job

    return plan_job(load_workload(path), target, repo_root=repo_root)


def identify_workload_file(path: Path, target: BatchTarget, repo_root: Path) -> JobIdentity:
    """The job id and hashes of one workload file without building its tasks (what the program needs)."""
    from batchforge.workload import load_workload
    from batchforge.workload.planning import job_identity

    return job_identity(load_workload(path, check_tasks=False), target, repo_root=repo_root)


# ---------------------------------------------------------------- target <-> props (no credentials in props)


def target_props(target: Mapping[str, Any]) -> dict[str, Any]:
    """The stack's ``batchTarget`` output (snake_case, as ``components.stack`` builds it) as resource inputs.

    Only kinds and account names are kept from the auth settings: a key, if present, is dropped here.
    """
    auth = dict(target.get("auth") or {"kind": "entra-id"})
    blob_auth = dict(target.get("blob_auth") or {"kind": "entra-id"})
    return {
        "accountEndpoint": target["account_endpoint"],
        "poolIds": dict(target.get("pool_ids") or {}),
        "resourcesContainerUrl": target["resources_container_url"],
        "outputsContainerUrl": target["outputs_container_url"],
        "identityResourceId": target.get("identity_resource_id"),
        "authKind": auth.get("kind", "entra-id"),
        "accountName": auth.get("account_name"),
        "blobAuthKind": blob_auth.get("kind", "entra-id"),
        "storageAccountName": blob_auth.get("account_name"),
    }


def _auth_at_runtime(kind: str, account_name: str | None, key_env: str) -> SharedKeyAuth | EntraIdAuth:
    if kind == "entra-id":
        return EntraIdAuth()
    key = os.environ.get(key_env)
    if not key or not account_name:
        raise RuntimeError(
            f"shared-key auth (local Batch service only) needs the account name in the inputs and the key in "
            f"the environment variable {key_env} of the process running pulumi"
        )
    return SharedKeyAuth(account_name=account_name, account_key=SecretStr(key))


def target_from_props(props: Mapping[str, Any]) -> BatchTarget:
    """The submission target, with credentials resolved now, from this process's environment."""
    return BatchTarget(
        account_endpoint=props["accountEndpoint"],
        auth=_auth_at_runtime(props.get("authKind", "entra-id"), props.get("accountName"), LOCAL_BATCH_KEY_ENV),
        pool_ids=dict(props.get("poolIds") or {}),
        resources_container_url=props["resourcesContainerUrl"],
        outputs_container_url=props["outputsContainerUrl"],
        identity_resource_id=props.get("identityResourceId"),
        stack=props.get("stack"),
        blob_auth=_auth_at_runtime(
            props.get("blobAuthKind", "entra-id"), props.get("storageAccountName"), LOCAL_STORAGE_KEY_ENV
        ),
    )


# ---------------------------------------------------------------- the provider


def _retry_while_rbac_propagates(
    kind: str,
    action: Callable[[], T],
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """On Azure, waits out authorization 403s right after the role assignments were created.

    A network refusal (a private account, this process outside its network) fails at once: no amount of waiting
    changes where the request comes from. Locally every 403 is final.
    """
    from batchforge.submission.client import forbidden_kind, private_network_error

    give_up_at = clock() + (RBAC_PROPAGATION_S if kind == "entra-id" else 0.0)
    while True:
        try:
            return action()
        except Exception as error:
            forbidden = forbidden_kind(error)
            if forbidden is None:
                raise
            if forbidden.kind == "network":
                raise private_network_error(error, forbidden) from error
            if clock() + RBAC_RETRY_INTERVAL_S > give_up_at:
                raise
            sleep(RBAC_RETRY_INTERVAL_S)


class WorkloadSubmissionProvider(pulumi.dynamic.ResourceProvider):
    """Create/update submit the workload's job; delete terminates or deletes it. Holds no state or secrets.

    ``repo_root`` (a plain path) is where workload files are resolved; when it does not exist in the
    process running the provider (state made on another machine), the working directory is used.
    """

    def __init__(self, repo_root: str) -> None:
        super().__init__()
        self.repo_root = repo_root

    # -- helpers
    def _root(self) -> Path:
        root = Path(self.repo_root)
        return root if root.is_dir() else Path.cwd()

    def _submit(self, props: Mapping[str, Any]) -> dict[str, Any]:
        from azure.core.exceptions import HttpResponseError

        from batchforge.submission.client import make_batch_client, make_resources_container_client
        from batchforge.submission.engine import job_task_counts, submit
        from batchforge.submission.inventory import iter_retirements
        from batchforge.submission.quota import is_active_job_quota, quota_reached

        target = target_from_props(props)
        root = self._root()
        planned = plan_workload_file(root / props["workloadFile"], target, root)
        if (
            planned.job_id != props["jobId"]
            or planned.content_hash != props["contentHash"]
            or planned.settings_hash != props.get("settingsHash", planned.settings_hash)
        ):
            raise RuntimeError(
                f"{props['workloadFile']} changed after this deployment was planned (job {planned.job_id}, "
                f"expected {props['jobId']}); run pulumi up again"
            )
        client = make_batch_client(target)
        container = make_resources_container_client(target) if planned.uploads else None
        try:
            result = _retry_while_rbac_propagates(
                props.get("authKind", "entra-id"),
                lambda: submit(
                    planned,
                    client,
                    deadline_s=float(props.get("deadlineSeconds") or DEFAULT_DEADLINE_S),
                    upload_container=container,
                ),
            )
        except HttpResponseError as error:
            if not is_active_job_quota(error):
                raise
            # One message: what is active, per workload, and the command that frees it.
            raise quota_reached(
                client, error, workload=planned.workload_name, job_id=planned.job_id, stack=props.get("stack")
            ) from None
        if not result.complete:
            # Nothing is lost: the next `pulumi up` resumes and adds only the missing tasks.
            raise RuntimeError(f"workload {planned.workload_name}: submission incomplete: {result.summary()}")
        # Only now, with every task of the new job on the service, are the workload's earlier jobs retired;
        # found by metadata, so a job left by an interrupted create that Pulumi never recorded is retired too.
        retired = [
            retirement.describe()
            for retirement in iter_retirements(
                client,
                stack=props.get("stack"),
                workload=planned.workload_name,
                current_job_id=planned.job_id,
                mode=_supersede_mode(planned.supersede),
                drain_timeout_s=float(props.get("deadlineSeconds") or DEFAULT_DEADLINE_S),
            )
        ]
        for line in retired:
            pulumi.log.info(f"workload {planned.workload_name}: superseded job {line}")
        counts = job_task_counts(client, planned.job_id)
        return {
            **{key: props.get(key) for key in INPUT_KEYS},
            "tasksTotal": result.tasks_total,
            "tasksAdded": result.tasks_added,
            "tasksAlreadyPresent": result.tasks_already_present,
            "jobCreated": result.job_created,
            "settingsUpdated": result.settings_updated,
            "retired": retired,
            "taskCounts": _counts_dict(counts),
        }

    # -- the ResourceProvider interface
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        # During a preview, values computed from not-yet-created resources are unknown: nothing to check yet.
        # The provider host hands them over as `Unknown` objects (not the wire's sentinel string).
        known = {key: value for key, value in news.items() if not isinstance(value, Unknown)}
        failures = [
            pulumi.dynamic.CheckFailure(key, "is required")
            for key in ("workloadName", "workloadFile", "accountEndpoint", "deletionMode")
            if news.get(key) in (None, "")
        ]
        if known.get("deletionMode") not in (None, "", *DELETION_MODES):
            failures.append(pulumi.dynamic.CheckFailure("deletionMode", "must be terminate or delete"))
        for key in ("authKind", "blobAuthKind"):
            if known.get(key) not in (None, *AUTH_KINDS):
                failures.append(pulumi.dynamic.CheckFailure(key, "must be entra-id or shared-key"))
        return pulumi.dynamic.CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        replaces = [key for key in REPLACE_KEYS if olds.get(key) != news.get(key)]
        changed = [key for key in INPUT_KEYS if olds.get(key) != news.get(key)]
        return pulumi.dynamic.DiffResult(
            changes=bool(changed),
            replaces=replaces,
            stables=["workloadName", "workloadFile"],
            delete_before_replace=False,
        )

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        outs = self._submit(props)
        return pulumi.dynamic.CreateResult(id_=str(props["jobId"]), outs=outs)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        # Same job id (else it would be a replacement): re-running the engine adds only missing tasks.
        return pulumi.dynamic.UpdateResult(outs=self._submit(news))

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        from azure.core.exceptions import ResourceNotFoundError

        from batchforge.submission.client import make_batch_client
        from batchforge.submission.engine import job_task_counts

        client = make_batch_client(target_from_props(props))
        try:
            counts = job_task_counts(client, id_)
        except ResourceNotFoundError:
            return pulumi.dynamic.ReadResult(id_="", outs={})
        return pulumi.dynamic.ReadResult(id_=id_, outs={**props, "taskCounts": _counts_dict(counts)})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        from batchforge.submission.client import make_batch_client
        from batchforge.submission.engine import delete_job, terminate_job

        client = make_batch_client(target_from_props(props))
        if _superseded(client, id_):
            # Replaced: the new job's create already retired this one as its workload's supersede asks.
            return
        if props.get("deletionMode") == "delete":
            delete_job(client, id_)
        else:
            terminate_job(client, id_, reason="batchforge: workload replaced or removed")


def _supersede_mode(value: str) -> SupersedeMode:
    from batchforge.submission.inventory import SUPERSEDE_MODES

    for mode in SUPERSEDE_MODES:
        if mode == value:
            return mode
    raise RuntimeError(f"supersede must be one of {', '.join(SUPERSEDE_MODES)}, not {value!r}")


def _superseded(client: Any, job_id: str) -> bool:
    from azure.core.exceptions import ResourceNotFoundError

    from batchforge.submission.inventory import SUPERSEDED_BY_METADATA_KEY

    try:
        job = client.get_job(job_id, select=["metadata"])
    except ResourceNotFoundError:
        return False
    return any(item.name == SUPERSEDED_BY_METADATA_KEY for item in job.metadata or [])


def _counts_dict(counts: Any) -> dict[str, int]:
    return {
        "active": counts.active,
        "running": counts.running,
        "completed": counts.completed,
        "succeeded": counts.succeeded,
        "failed": counts.failed,
    }


class WorkloadSubmission(pulumi.dynamic.Resource, module="batchforge", name="WorkloadSubmission"):
    """One workload's job in the Batch account, submitted after the pools and role assignments exist.

    Outputs are attributes named as the properties (camelCase, as Pulumi sets them): ``id`` and ``jobId``
    (the job id), ``contentHash``, ``tasksTotal``, ``tasksAdded``, ``tasksAlreadyPresent``, ``jobCreated``,
    ``taskCounts`` and every input.
    """

    jobId: pulumi.Output[str]
    contentHash: pulumi.Output[str]
    tasksTotal: pulumi.Output[int]
    tasksAdded: pulumi.Output[int]
    tasksAlreadyPresent: pulumi.Output[int]
    taskCounts: pulumi.Output[dict[str, int]]

    def __init__(
        self,
        name: str,
        inputs: Mapping[str, pulumi.Input[Any]],
        repo_root: Path,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {key: inputs.get(key) for key in INPUT_KEYS}
        props.update({key: None for key in OUTPUT_KEYS})
        super().__init__(WorkloadSubmissionProvider(str(repo_root)), name, props, opts)


# ---------------------------------------------------------------- what the program calls


def _workload_identity(
    path: Path, target: Mapping[str, Any], repo_root: Path, stack: str | None = None
) -> dict[str, str]:
    """Job id, content and settings hashes of one workload for this target (no credentials needed to plan)."""
    props = target_props(target)
    planning_target = BatchTarget(
        account_endpoint=props["accountEndpoint"],
        auth=EntraIdAuth(),
        pool_ids=props["poolIds"],
        resources_container_url=props["resourcesContainerUrl"],
        outputs_container_url=props["outputsContainerUrl"],
        identity_resource_id=props["identityResourceId"],
        stack=stack,
    )
    # Every preview pays for this: the identity comes from the model and its inputs, no task is expanded
    # (the provider builds and checks every task when it submits).
    identity = identify_workload_file(path, planning_target, repo_root)
    return {
        "jobId": identity.job_id,
        "contentHash": identity.content_hash,
        "settingsHash": identity.settings_hash,
        "workloadName": identity.workload_name,
    }


def validate_workload_files(workloads: Sequence[str], repo_root: Path, pools: Sequence[Any] = ()) -> None:
    """Loads every listed workload; raises one `InvalidInput` with all problems of all files.

    ``pools`` (the stack config's ``PoolConfig``s) also checks each workload's containerSettings against its
    pool's container configuration (``workload.container_checks``).
    """
    from batchforge.workload import load_workload
    from batchforge.workload.container_checks import container_problems

    containers = {pool.id: pool.container for pool in pools}
    problems = []
    for file_name in workloads:
        try:
            workload = load_workload(repo_root / WORKLOADS_DIR / file_name, check_tasks=False)
        except InvalidInput as invalid:
            problems.extend(invalid.problems)
            continue
        if workload.pool in containers:
            problems.extend(container_problems(workload, workload.pool, containers[workload.pool]))
    if problems:
        raise InvalidInput(problems)


def declare_workload_submissions(
    workloads: Sequence[str],
    deletion_mode: str,
    batch_target: pulumi.Input[Mapping[str, Any]],
    repo_root: Path,
    depends_on: Sequence[pulumi.Resource],
    *,
    deadline_s: float = DEFAULT_DEADLINE_S,
    validate: bool = True,
) -> dict[str, WorkloadSubmission]:
    """Declares one `WorkloadSubmission` per workload file of the stack (``workloads/<file>``).

    Every file is validated first, so an invalid workload stops the program before anything is declared.
    ``batch_target`` is the stack's ``batchTarget`` output; ``depends_on`` the pools and role assignments.
    Returns workload file stem -> resource (export ``resource.id`` for the job ids).
    """
    if validate:
        validate_workload_files(workloads, repo_root)
    target = pulumi.Output.from_input(batch_target)
    stack = pulumi.get_stack()
    submissions: dict[str, WorkloadSubmission] = {}
    for file_name in workloads:
        path = repo_root / WORKLOADS_DIR / file_name
        stem = Path(file_name).stem
        identity = target.apply(lambda values, path=path: _workload_identity(path, values, repo_root, stack))
        target_inputs = target.apply(target_props)
        inputs: dict[str, pulumi.Input[Any]] = {
            "workloadName": identity.apply(lambda values: values["workloadName"]),
            "workloadFile": f"{WORKLOADS_DIR}/{file_name}",
            "jobId": identity.apply(lambda values: values["jobId"]),
            "contentHash": identity.apply(lambda values: values["contentHash"]),
            "settingsHash": identity.apply(lambda values: values["settingsHash"]),
            "stack": stack,
            "deletionMode": deletion_mode,
            "deadlineSeconds": deadline_s,
        }
        for key in (
            "accountEndpoint",
            "poolIds",
            "resourcesContainerUrl",
            "outputsContainerUrl",
            "identityResourceId",
            "authKind",
            "accountName",
            "blobAuthKind",
            "storageAccountName",
        ):
            inputs[key] = target_inputs.apply(lambda values, key=key: values[key])
        submissions[stem] = WorkloadSubmission(
            f"workload-{stem}", inputs, repo_root, pulumi.ResourceOptions(depends_on=list(depends_on))
        )
    return submissions
