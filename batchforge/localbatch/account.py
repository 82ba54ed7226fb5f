"""The Batch account's state and every change the REST API can ask for, without any HTTP in it.

All methods run on the service's event loop thread, so no locking is needed. Work that takes time
(nodes joining, tasks running) is done by `batchforge.localbatch.scheduler`, woken through `wake()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import re
from collections.abc import Iterable
from typing import Any

from batchforge.localbatch import autopools, job_rules, jobmanager
from batchforge.localbatch.clock import check_duration_value as check_duration
from batchforge.localbatch.clock import iso_now, new_etag
from batchforge.localbatch.dependencies import numeric_id
from batchforge.localbatch.entities import Job, Node, Pool, Task, WireCache, key_of
from batchforge.localbatch.errors import BatchApiError, already_exists, invalid_property, missing_property, not_found
from batchforge.localbatch.store import Store

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_DURATION = "P10675199DT2H48M5.4775807S"
FINAL_TASK_STATE = "completed"


def require_id(body: dict[str, Any]) -> str:
    entity_id = body.get("id")
    if entity_id is None:
        raise missing_property("id")
    if not isinstance(entity_id, str) or not ID_PATTERN.match(entity_id):
        raise invalid_property(
            "id", entity_id, "The id may contain letters, digits, hyphens and underscores, up to 64 characters."
        )
    return entity_id


def set_state(body: dict[str, Any], state: str, when: str | None = None) -> None:
    when = when or iso_now()
    if body.get("state") != state:
        if "state" in body:
            body["previousState"] = body["state"]
            body["previousStateTransitionTime"] = body.get("stateTransitionTime", when)
        body["state"] = state
        body["stateTransitionTime"] = when


class Account:
    def __init__(self, store: Store, account_name: str) -> None:
        self.store = store
        self.account_name = account_name
        self.pools: dict[str, Pool] = {}
        self.jobs: dict[str, Job] = {}
        self._seq = store.counter("seq")
        self._wake = asyncio.Event()
        self.wire_cache = WireCache()  # tasks' JSON as last served (list pages)
        # Active jobs and job schedules (the schedules register their own counter, see job_rules.ActiveQuota).
        self.quota = job_rules.ActiveQuota(
            job_rules.DEFAULT_ACTIVE_JOB_AND_SCHEDULE_QUOTA,
            lambda: job_rules.count_active_jobs(job.state for job in self.jobs.values()),
        )

    # ---- bookkeeping -------------------------------------------------------------------------
    def next_seq(self) -> int:
        self._seq += 1
        self.store.set_counter("seq", self._seq)
        return self._seq

    def wake(self) -> None:
        self._wake.set()

    async def wait_for_work(self, timeout: float) -> bool:
        """Waits until woken or ``timeout`` seconds pass; says whether it was woken."""
        woken = False
        with contextlib.suppress(TimeoutError):
            woken = await asyncio.wait_for(self._wake.wait(), timeout)
        self._wake.clear()
        return woken

    def save(self, entity: Pool | Job | Task | Node, *, modified: bool = True) -> None:
        """Persist an entity; `modified` bumps its ETag and lastModified (changes a client can see)."""
        if modified and not isinstance(entity, Node):
            entity.body["eTag"] = new_etag()
            entity.body["lastModified"] = iso_now()
        kind = type(entity).__name__.lower()
        self.store.put(kind, entity.key, entity.seq, entity.body)
        if isinstance(entity, Task):
            self.wire_cache.drop(entity.key)
            self.track(entity)

    def track(self, task: Task) -> None:
        """Bring the job's task counts and the task's dependents up to date with the task's body.

        Every change to a task is saved, so this sees every state change; it costs O(1) plus one step per
        task that waits on this one.
        """
        job = self.jobs.get(task.job_key)
        if job is None or job.tasks.get(task.key) is not task:
            return
        job.counts.update(task)
        satisfied = _satisfies(task)
        if satisfied != task.satisfied:
            task.satisfied = satisfied
            self._tell_dependents(job, task, -1 if satisfied else 1)

    def _tell_dependents(self, job: Job, task: Task, delta: int) -> None:
        unmet = job.deps.unmet
        for key in job.deps.dependents(task.key, task.id):
            before = unmet.get(key)
            if before is None:
                continue
            unmet[key] = before + delta
            if (before == 0) != (before + delta == 0):
                dependent = job.tasks.get(key)
                if dependent is not None and dependent.state == "active":
                    self.classify(job, dependent)
                    self.wake()

    def register_dependencies(self, job: Job, task: Task) -> None:
        depends = task.body.get("dependsOn")
        if not depends:
            return

        def is_satisfied(key: str) -> bool:
            dep = job.tasks.get(key)
            return dep is not None and dep.satisfied

        def satisfied_numbers(start: int, end: int) -> int:
            # Walk whichever is shorter: the range, or the job's tasks.
            if end - start + 1 <= len(job.tasks):
                prefix = job.key + "/"
                return sum(1 for n in range(start, end + 1) if is_satisfied(f"{prefix}{n}"))
            return sum(
                1
                for t in job.tasks.values()
                if t.satisfied and (n := numeric_id(t.id)) is not None and start <= n <= end
            )

        job.deps.register(task.key, depends, is_satisfied, satisfied_numbers)

    def forget(self, entity: Pool | Job | Task | Node) -> None:
        if isinstance(entity, Task):
            self.wire_cache.drop(entity.key)
        self.store.delete(type(entity).__name__.lower(), entity.key)

    def load(self) -> None:
        """Rebuild memory from SQLite; what was running is treated as a node reboot."""
        for key, seq, body in self.store.load("pool"):
            self.pools[key] = Pool(key=key, seq=seq, body=body)
        for key, seq, body in self.store.load("node"):
            pool = self.pools.get(key.split("/", 1)[0])
            if pool is None:
                self.store.delete("node", key)
                continue
            pool.nodes[key] = Node(key=key, seq=seq, body=body, pool_key=pool.key)
        for key, seq, body in self.store.load("job"):
            self.jobs[key] = Job(key=key, seq=seq, body=body)
        for key, seq, body in self.store.load("task"):
            job = self.jobs.get(key.split("/", 1)[0])
            if job is None:
                self.store.delete("task", key)
                continue
            job.tasks[key] = Task(key=key, seq=seq, body=body, job_key=job.key)
        for job in self.jobs.values():
            for task in job.tasks.values():
                task.satisfied = _satisfies(task)
                job.counts.update(task)
            for task in job.tasks.values():
                self.register_dependencies(job, task)
        now = iso_now()
        for pool in self.pools.values():
            for node in pool.nodes.values():
                self.reboot_node_state(pool, node, now)
        for job in self.jobs.values():
            for task in job.tasks.values():
                if task.state in ("running", "preparing"):
                    self.requeue_task(job, task, now)
                elif task.state == "active":
                    self.classify(job, task)
        self.store.flush()

    def reboot_node_state(self, pool: Pool, node: Node, now: str) -> None:
        node.body.pop("_startTaskDone", None)
        node.body["runningTasksCount"] = 0
        node.body["runningTaskSlotsCount"] = 0
        node.body["_jobPrep"] = {}
        set_state(node.body, "rebooting", now)
        node.body["_needsStart"] = True
        self.save(node)

    # ---- pools -------------------------------------------------------------------------------
    def pool(self, pool_id: str) -> Pool:
        pool = self.pools.get(key_of(pool_id))
        if pool is None:
            raise not_found("Pool", "pool")
        return pool

    def create_pool(self, body: dict[str, Any]) -> Pool:
        pool_id = require_id(body)
        if not body.get("vmSize"):
            raise missing_property("vmSize")
        if key_of(pool_id) in self.pools:
            existing = self.pools[key_of(pool_id)]
            if existing.state == "deleting":
                raise BatchApiError(409, "PoolBeingDeleted", "The specified pool has been marked for deletion.")
            raise already_exists("Pool", "pool")
        auto = bool(body.get("enableAutoScale", False))
        if auto and not body.get("autoScaleFormula"):
            raise missing_property("autoScaleFormula")
        if not auto and body.get("autoScaleFormula"):
            raise invalid_property("autoScaleFormula", "...", "autoScaleFormula requires enableAutoScale true.")
        slots = body.get("taskSlotsPerNode", 1)
        if not isinstance(slots, int) or slots < 1 or slots > 256:
            raise invalid_property("taskSlotsPerNode", slots, "Must be between 1 and 256.")
        check_duration("resizeTimeout", body.get("resizeTimeout"))
        now = iso_now()
        pool_body = copy.deepcopy(body)
        pool_body.update(
            {
                "creationTime": now,
                "state": "active",
                "stateTransitionTime": now,
                "allocationState": "steady",
                "allocationStateTransitionTime": now,
                "currentDedicatedNodes": 0,
                "currentLowPriorityNodes": 0,
                "targetDedicatedNodes": 0 if auto else int(body.get("targetDedicatedNodes") or 0),
                "targetLowPriorityNodes": 0 if auto else int(body.get("targetLowPriorityNodes") or 0),
                "enableAutoScale": auto,
                "resizeTimeout": body.get("resizeTimeout", "PT15M"),
                "enableInterNodeCommunication": bool(body.get("enableInterNodeCommunication", False)),
                "taskSlotsPerNode": slots,
                "taskSchedulingPolicy": body.get("taskSchedulingPolicy") or {"nodeFillType": "spread"},
            }
        )
        if auto:
            pool_body["autoScaleEvaluationInterval"] = body.get("autoScaleEvaluationInterval", "PT15M")
            pool_body["_autoScaleDue"] = True
        if pool_body["targetDedicatedNodes"] or pool_body["targetLowPriorityNodes"]:
            pool_body["allocationState"] = "resizing"
        pool = Pool(key=key_of(pool_id), seq=self.next_seq(), body=pool_body)
        self.pools[pool.key] = pool
        self.save(pool)
        self.wake()
        return pool

    def delete_pool(self, pool_id: str) -> None:
        pool = self.pool(pool_id)
        if pool.state != "deleting":
            set_state(pool.body, "deleting")
            self.save(pool)
        self.wake()

    def patch_pool(self, pool_id: str, body: dict[str, Any]) -> Pool:
        pool = self.pool(pool_id)
        self._refuse_if_deleting(pool)
        for name in (
            "startTask",
            "applicationPackageReferences",
            "metadata",
            "displayName",
            "vmSize",
            "enableInterNodeCommunication",
            "virtualMachineConfiguration",
            "taskSlotsPerNode",
            "taskSchedulingPolicy",
            "networkConfiguration",
            "userAccounts",
            "mountConfiguration",
            "upgradePolicy",
            "resourceTags",
            "targetNodeCommunicationMode",
        ):
            if name in body:
                pool.body[name] = copy.deepcopy(body[name])
        self.save(pool)
        return pool

    def replace_pool_properties(self, pool_id: str, body: dict[str, Any]) -> Pool:
        pool = self.pool(pool_id)
        self._refuse_if_deleting(pool)
        for name in ("applicationPackageReferences", "metadata"):
            if name not in body:
                raise missing_property(name)
        for name in ("startTask", "applicationPackageReferences", "metadata", "targetNodeCommunicationMode"):
            if body.get(name) is None:
                pool.body.pop(name, None)
            else:
                pool.body[name] = copy.deepcopy(body[name])
        self.save(pool)
        return pool

    def _refuse_if_deleting(self, pool: Pool) -> None:
        if pool.state == "deleting":
            raise BatchApiError(409, "PoolBeingDeleted", "The specified pool has been marked for deletion.")

    def resize_pool(self, pool_id: str, body: dict[str, Any]) -> Pool:
        pool = self.pool(pool_id)
        self._refuse_if_deleting(pool)
        if pool.body.get("enableAutoScale"):
            raise BatchApiError(
                409, "AutoScalingEnabled", "The specified pool has automatic scaling enabled; it cannot be resized."
            )
        if pool.body.get("allocationState") == "stopping":
            raise BatchApiError(409, "PoolResizing", "The specified pool is stopping a resize operation.")
        for name in ("targetDedicatedNodes", "targetLowPriorityNodes"):
            value = body.get(name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise invalid_property(name, value, "Must be a non-negative integer.")
        check_duration("resizeTimeout", body.get("resizeTimeout"))
        if body.get("targetDedicatedNodes") is not None:
            pool.body["targetDedicatedNodes"] = body["targetDedicatedNodes"]
        if body.get("targetLowPriorityNodes") is not None:
            pool.body["targetLowPriorityNodes"] = body["targetLowPriorityNodes"]
        if body.get("resizeTimeout"):
            pool.body["resizeTimeout"] = body["resizeTimeout"]
        pool.body["_deallocation"] = body.get("nodeDeallocationOption", "requeue")
        self.start_resizing(pool)
        return pool

    def start_resizing(self, pool: Pool) -> None:
        pool.body["allocationState"] = "resizing"
        pool.body["allocationStateTransitionTime"] = iso_now()
        pool.body.pop("resizeErrors", None)
        self.save(pool)
        self.wake()

    def stop_resize(self, pool_id: str) -> Pool:
        pool = self.pool(pool_id)
        if pool.body.get("allocationState") == "resizing":
            pool.body["targetDedicatedNodes"] = pool.body["currentDedicatedNodes"]
            pool.body["targetLowPriorityNodes"] = pool.body["currentLowPriorityNodes"]
            pool.body["allocationState"] = "steady"
            pool.body["allocationStateTransitionTime"] = iso_now()
            self.save(pool)
        return pool

    def remove_nodes(self, pool_id: str, body: dict[str, Any]) -> Pool:
        pool = self.pool(pool_id)
        self._refuse_if_deleting(pool)
        node_ids = body.get("nodeList")
        if not isinstance(node_ids, list) or not node_ids:
            raise missing_property("nodeList")
        if len(node_ids) > 100:
            raise invalid_property("nodeList", len(node_ids), "At most 100 nodes can be removed per request.")
        nodes = []
        for node_id in node_ids:
            node = pool.nodes.get(f"{pool.key}/{key_of(str(node_id))}")
            if node is None:
                raise not_found("Node", "node")
            nodes.append(node)
        option = body.get("nodeDeallocationOption", "requeue")
        for node in nodes:
            node.body["_remove"] = option
            if node.body.get("isDedicated", True):
                pool.body["targetDedicatedNodes"] = max(0, pool.body["targetDedicatedNodes"] - 1)
            else:
                pool.body["targetLowPriorityNodes"] = max(0, pool.body["targetLowPriorityNodes"] - 1)
            self.save(node)
        self.start_resizing(pool)
        return pool

    def node(self, pool_id: str, node_id: str) -> tuple[Pool, Node]:
        pool = self.pool(pool_id)
        node = pool.nodes.get(f"{pool.key}/{key_of(node_id)}")
        if node is None:
            raise not_found("Node", "node")
        return pool, node

    # ---- jobs --------------------------------------------------------------------------------
    def job(self, job_id: str) -> Job:
        job = self.jobs.get(key_of(job_id))
        if job is None:
            raise not_found("Job", "job")
        return job

    def create_job(self, body: dict[str, Any], *, job_schedule: dict[str, Any] | None = None) -> Job:
        """Job - Add; `job_schedule` is the body of the schedule creating the job (`schedules`), whose jobs
        have ids `<schedule id>:job-<n>` and may share the schedule's auto pool."""
        job_id = require_id(body) if job_schedule is None else str(body["id"])
        pool_info = body.get("poolInfo")
        auto_pool = autopools.auto_pool_spec(pool_info, schedule=job_schedule is not None)
        assert isinstance(pool_info, dict)
        if key_of(job_id) in self.jobs:
            existing = self.jobs[key_of(job_id)]
            if existing.state == "deleting":
                raise BatchApiError(409, "JobBeingDeleted", "The specified job has been marked for deletion.")
            raise already_exists("Job", "job")
        if job_schedule is None:
            # A schedule's own jobs are covered by the schedule, which counted when it was added.
            self.quota.check_room()
        manager = jobmanager.checked_spec(body["jobManagerTask"]) if body.get("jobManagerTask") is not None else None
        constraints = dict(body.get("constraints") or {})
        check_duration("constraints.maxWallClockTime", constraints.get("maxWallClockTime"))
        constraints.setdefault("maxWallClockTime", MAX_DURATION)
        constraints.setdefault("maxTaskRetryCount", 0)
        if body.get("onTaskFailure") not in (None, "noaction", "performexitoptionsjobaction"):
            raise invalid_property("onTaskFailure", body["onTaskFailure"], "Unknown value.")
        if body.get("onAllTasksComplete") not in (None, "noaction", "terminatejob"):
            raise invalid_property("onAllTasksComplete", body["onAllTasksComplete"], "Unknown value.")
        for name in ("jobPreparationTask", "jobReleaseTask"):
            if body.get(name) is not None and not body[name].get("commandLine"):
                raise missing_property(f"{name}.commandLine")
        if body.get("jobReleaseTask") and not body.get("jobPreparationTask"):
            raise BatchApiError(
                400,
                "InvalidPropertyValue",
                "A job release task requires a job preparation task.",
                {"PropertyName": "jobReleaseTask"},
            )
        pool_id = pool_info.get("poolId")
        scheduling_error = None
        owned_pool = None
        if auto_pool is not None:
            # Batch takes the job and reports a pool it cannot create as the job's scheduling error.
            try:
                pool = autopools.create_for(self, auto_pool, job_schedule)
            except BatchApiError as err:
                scheduling_error = autopools.scheduling_error(err)
            else:
                pool_id = pool.id
                owned_pool = autopools.record(auto_pool, pool)
        now = iso_now()
        job_body = copy.deepcopy(body)
        job_body.update(
            {
                "creationTime": now,
                "state": "active",
                "stateTransitionTime": now,
                "priority": int(body.get("priority", 0)),
                "allowTaskPreemption": bool(body.get("allowTaskPreemption", False)),
                "maxParallelTasks": int(body.get("maxParallelTasks", -1)),
                "usesTaskDependencies": bool(body.get("usesTaskDependencies", False)),
                "constraints": constraints,
                "onAllTasksComplete": body.get("onAllTasksComplete", "noaction"),
                "onTaskFailure": body.get("onTaskFailure", "noaction"),
                "executionInfo": {"startTime": now, **({"poolId": pool_id} if pool_id else {})},
            }
        )
        if manager is not None:
            job_body["jobManagerTask"] = copy.deepcopy(manager)
        if owned_pool is not None:
            job_body[autopools.AUTO_POOL_KEY] = owned_pool
        if scheduling_error is not None:
            job_body["state"] = "completed"
            job_body["executionInfo"].update({"endTime": now, "schedulingError": scheduling_error})
        for name in ("jobPreparationTask", "jobReleaseTask"):
            if name in job_body:
                default_id = "jobpreparation" if name == "jobPreparationTask" else "jobrelease"
                job_body[name].setdefault("id", default_id)
        if "jobPreparationTask" in job_body:
            job_body["jobPreparationTask"].setdefault("waitForSuccess", True)
            job_body["jobPreparationTask"].setdefault("rerunOnNodeRebootAfterSuccess", True)
        job = Job(key=key_of(job_id), seq=self.next_seq(), body=job_body)
        self.jobs[job.key] = job
        self.save(job)
        if manager is not None and scheduling_error is None:
            # Added before any other task can be, so it is first in the job's queue.
            self.add_task(job, jobmanager.task_body(manager))
        self.wake()
        return job

    def patch_job(self, job_id: str, body: dict[str, Any], *, replace: bool) -> Job:
        job = self.job(job_id)
        if job.state == "deleting":
            raise BatchApiError(409, "JobBeingDeleted", "The specified job has been marked for deletion.")
        if job.state in ("completed", "terminating"):
            raise BatchApiError(
                409,
                "JobCompleted" if job.state == "completed" else "JobNotActive",
                "The specified job is not in a state that allows this operation.",
            )
        job_rules.check_update(job.body, job.state, body, replace=replace)
        # The properties of Job - Update / Job - Patch (onTaskFailure is not one of them).
        names = (
            "priority",
            "allowTaskPreemption",
            "maxParallelTasks",
            "constraints",
            "poolInfo",
            "onAllTasksComplete",
            "metadata",
            "networkConfiguration",
        )
        if replace and "poolInfo" not in body:
            raise missing_property("poolInfo")
        if "constraints" in body and body["constraints"] is not None:
            check_duration("constraints.maxWallClockTime", body["constraints"].get("maxWallClockTime"))
        for name in names:
            if name in body and body[name] is not None:
                value = copy.deepcopy(body[name])
                if name == "constraints":
                    value.setdefault("maxWallClockTime", MAX_DURATION)
                    value.setdefault("maxTaskRetryCount", 0)
                job.body[name] = value
            elif replace:
                defaults: dict[str, Any] = {
                    "priority": 0,
                    "allowTaskPreemption": False,
                    "maxParallelTasks": -1,
                    "onAllTasksComplete": "noaction",
                    "constraints": {"maxWallClockTime": MAX_DURATION, "maxTaskRetryCount": 0},
                }
                if name in defaults:
                    job.body[name] = defaults[name]
                elif name == "metadata":
                    job.body.pop("metadata", None)
        if "poolInfo" in body:
            info = job.body.setdefault("executionInfo", {})
            # A poolInfo with an auto pool specification (a client's read-modify-write) keeps the job's pool.
            info["poolId"] = job.body["poolInfo"].get("poolId") or info.get("poolId")
        self.save(job)
        job.body["_checkComplete"] = "update"
        self.wake()
        return job

    def disable_job(self, job_id: str, body: dict[str, Any]) -> Job:
        job = self.job(job_id)
        option = body.get("disableTasks")
        if option not in ("requeue", "terminate", "wait"):
            raise (
                missing_property("disableTasks")
                if option is None
                else invalid_property("disableTasks", option, "Must be requeue, terminate or wait.")
            )
        if job.state not in ("active", "disabled", "disabling"):
            raise BatchApiError(409, "JobNotActive", "The specified job is not active.")
        if job.state == "active":
            set_state(job.body, "disabling")
            job.body["_disableTasks"] = option
            self.save(job)
        self.wake()
        return job

    def enable_job(self, job_id: str) -> Job:
        job = self.job(job_id)
        if job.state not in ("disabled", "disabling", "enabling", "active"):
            raise BatchApiError(409, "JobNotDisabled", "The specified job is not disabled.")
        if job.state in ("disabled", "disabling"):
            set_state(job.body, "active")
            self.save(job)
        self.wake()
        return job

    def terminate_job(self, job_id: str, reason: str | None) -> Job:
        job = self.job(job_id)
        if job.state == "completed":
            raise BatchApiError(409, "JobCompleted", "The specified job is already in a completed state.")
        if job.state == "deleting":
            raise BatchApiError(409, "JobBeingDeleted", "The specified job has been marked for deletion.")
        self.begin_terminate(job, reason or "UserTerminate")
        return job

    def begin_terminate(self, job: Job, reason: str) -> None:
        if job.state in ("terminating", "completed", "deleting"):
            return
        set_state(job.body, "terminating")
        job.body.setdefault("executionInfo", {})["terminateReason"] = reason
        self.save(job)
        self.wake()

    def delete_job(self, job_id: str) -> None:
        job = self.job(job_id)
        if job.state != "deleting":
            set_state(job.body, "deleting")
            self.save(job)
        self.wake()

    # ---- tasks -------------------------------------------------------------------------------
    def task(self, job_id: str, task_id: str) -> tuple[Job, Task]:
        job = self.job(job_id)
        task = job.tasks.get(f"{job.key}/{key_of(task_id)}")
        if task is None:
            raise not_found("Task", "task")
        return job, task

    def check_job_accepts_tasks(self, job: Job) -> None:
        if job.state == "completed":
            raise BatchApiError(409, "JobCompleted", "The specified job is already in a completed state.")
        if job.state in ("terminating", "deleting"):
            code = "JobBeingDeleted" if job.state == "deleting" else "JobBeingTerminated"
            raise BatchApiError(409, code, "The specified job is not accepting tasks.")

    def validate_task(self, job: Job, body: dict[str, Any]) -> None:
        require_id(body)
        # An empty command line is allowed for a container task: it runs the image's own ENTRYPOINT/CMD.
        if not body.get("commandLine") and not (body.get("commandLine") == "" and body.get("containerSettings")):
            raise missing_property("commandLine")
        constraints = body.get("constraints") or {}
        check_duration("constraints.maxWallClockTime", constraints.get("maxWallClockTime"))
        check_duration("constraints.retentionTime", constraints.get("retentionTime"))
        slots = body.get("requiredSlots", 1)
        if not isinstance(slots, int) or slots < 1:
            raise invalid_property("requiredSlots", slots, "Must be at least 1.")
        if body.get("dependsOn") and not job.body.get("usesTaskDependencies"):
            raise BatchApiError(
                409,
                "TaskDependenciesNotSpecifiedOnJob",
                "The specified task depends on other tasks, but the job does not allow task dependencies.",
            )
        multi = body.get("multiInstanceSettings")
        if multi is not None:
            count = multi.get("numberOfInstances", 1)
            if not isinstance(count, int) or count < 1:
                raise invalid_property("multiInstanceSettings.numberOfInstances", count, "Must be at least 1.")
        for dep_range in (body.get("dependsOn") or {}).get("taskIdRanges") or []:
            if not isinstance(dep_range.get("start"), int) or not isinstance(dep_range.get("end"), int):
                raise invalid_property("dependsOn.taskIdRanges", dep_range, "start and end must be integers.")
            if dep_range["start"] > dep_range["end"]:
                raise invalid_property("dependsOn.taskIdRanges", dep_range, "start must not exceed end.")

    def add_task(self, job: Job, body: dict[str, Any]) -> Task:
        self.validate_task(job, body)
        key = f"{job.key}/{key_of(body['id'])}"
        if key in job.tasks:
            raise already_exists("Task", "task")
        now = iso_now()
        task_body = copy.deepcopy(body)
        constraints = dict(task_body.get("constraints") or {})
        constraints.setdefault("maxWallClockTime", MAX_DURATION)
        constraints.setdefault("retentionTime", "P7D")
        constraints.setdefault("maxTaskRetryCount", job.body.get("constraints", {}).get("maxTaskRetryCount", 0))
        task_body.update(
            {
                "creationTime": now,
                "state": "active",
                "stateTransitionTime": now,
                "constraints": constraints,
                "requiredSlots": int(body.get("requiredSlots", 1)),
                "executionInfo": {"retryCount": 0, "requeueCount": 0},
                "_jobId": job.id,
            }
        )
        if "multiInstanceSettings" in task_body:
            task_body["multiInstanceSettings"].setdefault("numberOfInstances", 1)
        task = Task(key=key, seq=self.next_seq(), body=task_body, job_key=job.key)
        job.tasks[key] = task
        self.register_dependencies(job, task)
        self.save(task)
        self.classify(job, task)
        self.wake()
        return task

    def classify(self, job: Job, task: Task) -> None:
        """Put an active task in the job's ready queue, or aside until its dependencies are met."""
        job.unfit.pop(task.key, None)
        if job.deps.unmet.get(task.key, 0) > 0:
            job.blocked.add(task.key)
            job.ready.pop(task.key, None)
        else:
            job.blocked.discard(task.key)
            job.ready[task.key] = None
            jobmanager.to_front(job, task)

    def requeue_task(self, job: Job, task: Task, now: str) -> None:
        """A running task goes back to active as when its node reboots; no retry is consumed."""
        info = task.body.setdefault("executionInfo", {})
        info["requeueCount"] = int(info.get("requeueCount", 0)) + 1
        info["lastRequeueTime"] = now
        info.pop("startTime", None)
        task.body.pop("nodeInfo", None)
        task.body["_attempt"] = int(task.body.get("_attempt", 0)) + 1
        set_state(task.body, "active", now)
        job.running.discard(task.key)
        self.save(task)
        self.classify(job, task)

    def delete_task_entity(self, job: Job, task: Task) -> None:
        job.tasks.pop(task.key, None)
        job.counts.remove(task)
        if task.satisfied:  # a missing dependency is not met
            task.satisfied = False
            self._tell_dependents(job, task, 1)
        job.deps.unregister(task.key, task.body.get("dependsOn") or {})
        job.unfit.pop(task.key, None)
        job.ready.pop(task.key, None)
        job.blocked.discard(task.key)
        job.running.discard(task.key)
        self.forget(task)

    def reactivate_task(self, job: Job, task: Task) -> None:
        info = task.body.get("executionInfo") or {}
        if task.state != "completed" or info.get("result") != "failure":
            raise BatchApiError(
                409,
                "TaskNotFailed" if task.state == "completed" else "TaskNotCompleted",
                "Only a task that completed with a failure can be reactivated.",
            )
        if job.state in ("completed", "terminating", "deleting"):
            raise BatchApiError(409, "JobCompleted", "The job of the task is no longer active.")
        task.body["executionInfo"] = {
            "retryCount": 0,
            "requeueCount": int(info.get("requeueCount", 0)),
        }
        task.body["_attempt"] = int(task.body.get("_attempt", 0)) + 1
        task.body.pop("nodeInfo", None)
        set_state(task.body, "active")
        self.save(task)
        self.classify(job, task)
        self.wake()

    def task_counts(self, job: Job) -> dict[str, Any]:
        return job.counts.wire()

    def jobs_on_pool(self, pool_key: str) -> Iterable[Job]:
        return (job for job in self.jobs.values() if job.pool_key == pool_key)


def _satisfies(dep: Task) -> bool:
    if dep.state != FINAL_TASK_STATE:
        return False
    info = dep.body.get("executionInfo") or {}
    return info.get("result") == "success" or dep.body.get("_dependencyAction") == "satisfy"
