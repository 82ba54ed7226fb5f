"""A scheduled workload as a Pulumi resource: one Batch job schedule, updated in place where Batch allows it.

The inputs carry the schedule id and short fingerprints of the three parts Job Schedule - Patch changes
(``schedule``, ``jobSpecification``, ``metadata``), plus the schedule itself in plain words, so a preview
shows which part changes: a changed fingerprint is an update (Patch; a new job specification applies from the
next job on, as Batch does it), a changed schedule id (workload id, display name, stack or account) a
replacement: the new schedule is created, then the old one is terminated or deleted per ``workloadDeletion``.
Credentials never enter the inputs (see ``workload_submission``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pulumi
import pulumi.dynamic
from pulumi.output import Unknown

from batchforge.providers.workload_submission import (
    DELETION_MODES,
    WORKLOADS_DIR,
    _retry_while_rbac_propagates,
    target_from_props,
    target_props,
)
from batchforge.submission.target import BatchTarget, EntraIdAuth, SharedKeyAuth

TARGET_KEYS = (
    "accountEndpoint",
    "poolIds",
    "resourcesContainerUrl",
    "outputsContainerUrl",
    "identityResourceId",
    "authKind",
    "accountName",
    "blobAuthKind",
    "storageAccountName",
)
# Batch's update operation takes these parts of a live schedule (Job Schedule - Update/Patch).
UPDATE_KEYS = ("schedule", "scheduleFingerprint", "jobSpecificationFingerprint", "metadataFingerprint")
REPLACE_KEYS = ("scheduleId", "accountEndpoint")
INPUT_KEYS = (
    "workloadName",
    "workloadFile",
    "scheduleId",
    "planBlob",
    *UPDATE_KEYS,
    "stack",
    "deletionMode",
    *TARGET_KEYS,
)
OUTPUT_KEYS = ("outcome", "state", "nextRunTime", "recentJobId")


def plan_schedule_file(path: Path, target: BatchTarget, repo_root: Path) -> Any:
    from batchforge.workload import load_workload
    from batchforge.workload.scheduling import plan_schedule

    return plan_schedule(load_workload(path), target, repo_root=repo_root)


def schedule_identity(planned: Any) -> dict[str, Any]:
    """What the inputs hold of a planned schedule: its id, the readable schedule, the parts' fingerprints."""
    return {
        "workloadName": planned.workload_name,
        "scheduleId": planned.schedule_id,
        "planBlob": planned.plan_blob_name,
        "schedule": planned.schedule,
        "scheduleFingerprint": planned.fingerprint("schedule"),
        "jobSpecificationFingerprint": planned.fingerprint("jobSpecification"),
        "metadataFingerprint": planned.fingerprint("metadata"),
    }


def schedule_diff(olds: Mapping[str, Any], news: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(changed input keys, those that replace the schedule)."""
    changed = [key for key in INPUT_KEYS if olds.get(key) != news.get(key)]
    return changed, [key for key in REPLACE_KEYS if key in changed]


class JobScheduleProvider(pulumi.dynamic.ResourceProvider):
    """Create/update put the schedule in the account (Add, or Patch); delete terminates or deletes it."""

    def __init__(self, repo_root: str) -> None:
        super().__init__()
        self.repo_root = repo_root

    def _root(self) -> Path:
        root = Path(self.repo_root)
        return root if root.is_dir() else Path.cwd()

    def _deploy(self, props: Mapping[str, Any]) -> dict[str, Any]:
        from batchforge.submission.client import make_batch_client, make_resources_container_client
        from batchforge.workload.schedule_deploy import deploy_schedule

        target = target_from_props(props)
        root = self._root()
        planned = plan_schedule_file(root / props["workloadFile"], target, root)
        if schedule_identity(planned) != {key: props.get(key) for key in schedule_identity(planned)}:
            raise RuntimeError(
                f"{props['workloadFile']} changed after this deployment was planned (schedule "
                f"{planned.schedule_id}); run pulumi up again"
            )
        client = make_batch_client(target)
        container = make_resources_container_client(target)
        local_key = target.auth.account_key.get_secret_value() if isinstance(target.auth, SharedKeyAuth) else None
        outcome = _retry_while_rbac_propagates(
            props.get("authKind", "entra-id"),
            lambda: deploy_schedule(planned, client, container, local_key=local_key),
        )
        live = client.get_job_schedule(planned.schedule_id)
        info = live.execution_info
        return {
            **{key: props.get(key) for key in INPUT_KEYS},
            "outcome": outcome,
            "state": str(getattr(live.state, "value", live.state)),
            "nextRunTime": info.next_run_time.isoformat() if info and info.next_run_time else None,
            "recentJobId": info.recent_job.id if info and info.recent_job else None,
        }

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        known = {key: value for key, value in news.items() if not isinstance(value, Unknown)}
        failures = [
            pulumi.dynamic.CheckFailure(key, "is required")
            for key in ("workloadName", "workloadFile", "deletionMode")
            if news.get(key) in (None, "")
        ]
        if known.get("deletionMode") not in (None, "", *DELETION_MODES):
            failures.append(pulumi.dynamic.CheckFailure("deletionMode", "must be terminate or delete"))
        return pulumi.dynamic.CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        changed, replaces = schedule_diff(olds, news)
        return pulumi.dynamic.DiffResult(
            changes=bool(changed), replaces=replaces, stables=["workloadFile"], delete_before_replace=False
        )

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        return pulumi.dynamic.CreateResult(id_=str(props["scheduleId"]), outs=self._deploy(props))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        return pulumi.dynamic.UpdateResult(outs=self._deploy(news))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        from batchforge.submission.client import make_batch_client
        from batchforge.workload.schedule_deploy import end_schedule

        end_schedule(make_batch_client(target_from_props(props)), id_, str(props.get("deletionMode") or "terminate"))


class JobSchedule(pulumi.dynamic.Resource, module="batchforge", name="JobSchedule"):
    """One scheduled workload's Batch job schedule; ``id`` is the schedule id."""

    scheduleId: pulumi.Output[str]
    state: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        inputs: Mapping[str, pulumi.Input[Any]],
        repo_root: Path,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {key: inputs.get(key) for key in INPUT_KEYS}
        props.update({key: None for key in OUTPUT_KEYS})
        super().__init__(JobScheduleProvider(str(repo_root)), name, props, opts)


def is_scheduled(file_name: str, repo_root: Path) -> bool:
    from batchforge.workload import load_workload

    # Only the schedule is read: the checks that expand every task are the provider's (plan_schedule, plan_job).
    return load_workload(repo_root / WORKLOADS_DIR / file_name, check_tasks=False).schedule is not None


def _planning_identity(path: Path, target: Mapping[str, Any], repo_root: Path, stack: str | None) -> dict[str, Any]:
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
    if props.get("authKind") == "shared-key":
        # The local service's manager command names this machine's interpreter (scheduling._manager_command).
        planning_target = planning_target.model_copy(
            update={"auth": SharedKeyAuth(account_name=props.get("accountName") or "local", account_key="planning")}
        )
    return schedule_identity(plan_schedule_file(path, planning_target, repo_root))


def declare_job_schedules(
    workloads: Sequence[str],
    deletion_mode: str,
    batch_target: pulumi.Input[Mapping[str, Any]],
    repo_root: Path,
    depends_on: Sequence[pulumi.Resource],
) -> dict[str, JobSchedule]:
    """One `JobSchedule` per scheduled workload file (already validated); stem -> resource."""
    target = pulumi.Output.from_input(batch_target)
    stack = pulumi.get_stack()
    schedules: dict[str, JobSchedule] = {}
    for file_name in workloads:
        path = repo_root / WORKLOADS_DIR / file_name
        stem = Path(file_name).stem
        identity = target.apply(lambda values, path=path: _planning_identity(path, values, repo_root, stack))
        target_inputs = target.apply(target_props)
        inputs: dict[str, pulumi.Input[Any]] = {
            key: identity.apply(lambda values, key=key: values[key])
            for key in ("workloadName", "scheduleId", "planBlob", *UPDATE_KEYS)
        }
        inputs.update({"workloadFile": f"{WORKLOADS_DIR}/{file_name}", "stack": stack, "deletionMode": deletion_mode})
        for key in TARGET_KEYS:
            inputs[key] = target_inputs.apply(lambda values, key=key: values[key])
        schedules[stem] = JobSchedule(
            f"schedule-{stem}", inputs, repo_root, pulumi.ResourceOptions(depends_on=list(depends_on))
        )
    return schedules


__all__ = ["JobSchedule", "JobScheduleProvider", "declare_job_schedules", "is_scheduled", "schedule_diff"]
