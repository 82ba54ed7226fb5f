"""Moves the account forward: nodes join and leave pools, start tasks run, tasks are dispatched to
free slots, jobs are disabled, terminated and deleted, autoscale formulas are evaluated.

One pass (`step`) runs whenever the account is woken and at least once a second; everything that
takes time runs as asyncio tasks calling `batchforge.localbatch.execution.run_task`, and reports back here.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import secrets
import shutil
from collections.abc import Coroutine, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from batchforge.localbatch import autoscale, execution
from batchforge.localbatch.account import MAX_DURATION, Account, set_state
from batchforge.localbatch.agents import NodeAgents, agent_count
from batchforge.localbatch.clock import iso, iso_now, now, parse_duration, parse_iso
from batchforge.localbatch.entities import Job, Node, Pool, Task
from batchforge.localbatch.execution import ExecutionOutcome, NodeContext, StorageAccess, TaskRun
from batchforge.localbatch.execution.layout import task_dir_path
from batchforge.localbatch.workers import install_child_watcher

log = logging.getLogger("batchforge.localbatch.scheduler")
SCHEDULABLE_NODE_STATES = ("idle", "running")
RECENT_TASKS_KEPT = 5
NODE_CONTEXTS_KEPT = 1024
FLUSH_INTERVAL_SECONDS = 0.2
TASK_ENDED = {
    "category": "usererror",
    "code": "TaskEnded",
    "message": "Task Was Ended by User Request",
}


def _duration(value: object) -> timedelta | None:
    if value is None or value == MAX_DURATION:
        return None
    try:
        return parse_duration(str(value))
    except ValueError:
        return None


class Scheduler:
    def __init__(self, account: Account, data_dir: Path, storage: StorageAccess, account_url: str) -> None:
        self.account = account
        self.nodes_dir = data_dir / "nodes"
        self.storage = storage
        self.account_url = account_url
        self._running: dict[str, asyncio.Task[None]] = {}  # task key -> its run
        self._background: set[asyncio.Task[None]] = set()
        self._retention: list[tuple[str, str, str]] = []  # (deadline iso, node root, task dir)
        self._ip_counter = 0
        self._stopping = False
        self._agents: NodeAgents | None = None
        self._contexts: dict[tuple[Any, ...], NodeContext] = {}

    # ---- plumbing ----------------------------------------------------------------------------
    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        handle = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(handle)
        handle.add_done_callback(self._background.discard)
        return handle

    async def run(self) -> None:
        agents = agent_count()
        self._agents = NodeAgents(agents) if agents else None
        if self._agents is None:
            install_child_watcher()
        self.rebuild_retention()
        last_flush = 0.0
        loop = asyncio.get_running_loop()
        while not self._stopping:
            try:
                self.step()
                # Passes come in bursts while tasks finish; one transaction per burst keeps SQLite off the
                # critical path. Requests flush on their own before they answer.
                if loop.time() - last_flush >= FLUSH_INTERVAL_SECONDS:
                    self.account.store.flush()
                    last_flush = loop.time()
            except Exception:
                log.exception("scheduler pass failed")
            woken = await self.account.wait_for_work(FLUSH_INTERVAL_SECONDS if self.account.store.dirty else 1.0)
            if not woken:
                self.account.store.flush()
                last_flush = loop.time()

    async def stop(self) -> None:
        self._stopping = True
        self.account.wake()
        handles = list(self._background)
        for handle in handles:
            handle.cancel()
        for handle in handles:
            with contextlib.suppress(BaseException):
                await handle
        if self._agents is not None:
            await self._agents.close()

    def node_context(self, pool: Pool, node: Node) -> NodeContext:
        body = node.body
        identity = (pool.id, node.id, body["_root"], body.get("isDedicated", True), body.get("ipAddress", "127.0.0.1"))
        # Built once per node rather than per dispatched task (a Path costs); keyed on everything it holds.
        context = self._contexts.get(identity)
        if context is None:
            if len(self._contexts) >= NODE_CONTEXTS_KEPT:
                self._contexts.clear()
            context = self._contexts[identity] = NodeContext(
                account_name=self.account.account_name,
                pool_id=pool.id,
                node_id=node.id,
                node_root=Path(body["_root"]),
                storage=self.storage,
                is_dedicated=bool(body.get("isDedicated", True)),
                account_url=self.account_url,
                ip_address=identity[4],
            )
        return context

    def step(self) -> None:
        for pool in list(self.account.pools.values()):
            self.step_pool(pool)
        for job in list(self.account.jobs.values()):
            self.step_job(job)
        self.dispatch()
        self.expire_retention()

    # ---- pools and nodes ---------------------------------------------------------------------
    def step_pool(self, pool: Pool) -> None:
        if pool.state == "deleting":
            for node in list(pool.nodes.values()):
                self.remove_node(pool, node, "requeue")
            self.account.pools.pop(pool.key, None)
            self.account.forget(pool)
            shutil.rmtree(self.nodes_dir / pool.key, ignore_errors=True)
            return
        if pool.body.get("enableAutoScale"):
            self.maybe_autoscale(pool)
        if pool.body.get("allocationState") in ("resizing", "stopping"):
            self.resize(pool)
        for node in list(pool.nodes.values()):
            if node.body.get("_remove") and node.key in pool.nodes:
                self.remove_node(pool, node, str(node.body["_remove"]))
            elif node.body.pop("_needsStart", False):
                self.spawn(self.boot_node(pool, node))

    def maybe_autoscale(self, pool: Pool) -> None:
        due = pool.body.get("_autoScaleDue")
        if due is True or (isinstance(due, str) and due <= iso_now()):
            self.evaluate_autoscale(pool, apply=True)

    def evaluate_autoscale(self, pool: Pool, *, apply: bool, formula: str | None = None) -> dict[str, Any]:
        dedicated = sum(1 for n in pool.nodes.values() if n.body.get("isDedicated", True))
        result = autoscale.evaluate(
            formula if formula is not None else str(pool.body.get("autoScaleFormula", "")),
            current_dedicated=dedicated,
            current_low_priority=len(pool.nodes) - dedicated,
        )
        run: dict[str, Any] = {"timestamp": iso_now()}
        if result.error is not None:
            run["error"] = result.error
        else:
            run["results"] = result.results
        if apply:
            pool.body["autoScaleRun"] = run
            interval = _duration(pool.body.get("autoScaleEvaluationInterval")) or timedelta(minutes=15)
            pool.body["_autoScaleDue"] = iso(now() + interval)
            if result.error is None and (
                result.target_dedicated != pool.body.get("targetDedicatedNodes")
                or result.target_low_priority != pool.body.get("targetLowPriorityNodes")
            ):
                pool.body["targetDedicatedNodes"] = result.target_dedicated
                pool.body["targetLowPriorityNodes"] = result.target_low_priority
                pool.body["_deallocation"] = result.deallocation_option or "requeue"
                self.account.start_resizing(pool)
            self.account.save(pool)
        return run

    def resize(self, pool: Pool) -> None:
        for dedicated, target_name in ((True, "targetDedicatedNodes"), (False, "targetLowPriorityNodes")):
            members = [
                n
                for n in pool.nodes.values()
                if bool(n.body.get("isDedicated", True)) == dedicated and not n.body.get("_remove")
            ]
            target = int(pool.body.get(target_name) or 0)
            for _ in range(target - len(members)):
                self.add_node(pool, dedicated)
            if len(members) > target:
                # Idle nodes go first, as the service prefers removing nodes with no work.
                members.sort(key=lambda n: (n.state == "idle", -n.used_slots), reverse=True)
                for node in members[: len(members) - target]:
                    node.body["_remove"] = pool.body.get("_deallocation", "requeue")
                    self.account.save(node)
        for node in list(pool.nodes.values()):
            if node.body.get("_remove"):
                self.remove_node(pool, node, str(node.body["_remove"]))
        self.count_nodes(pool)
        if not any(n.body.get("_remove") for n in pool.nodes.values()):
            pool.body["allocationState"] = "steady"
            pool.body["allocationStateTransitionTime"] = iso_now()
            self.account.save(pool)

    def count_nodes(self, pool: Pool) -> None:
        dedicated = sum(1 for n in pool.nodes.values() if n.body.get("isDedicated", True))
        low = len(pool.nodes) - dedicated
        if (pool.body.get("currentDedicatedNodes"), pool.body.get("currentLowPriorityNodes")) != (dedicated, low):
            pool.body["currentDedicatedNodes"] = dedicated
            pool.body["currentLowPriorityNodes"] = low
            self.account.save(pool)

    def add_node(self, pool: Pool, dedicated: bool) -> Node:
        node_id = f"tvmps_{secrets.token_hex(16)}_{'d' if dedicated else 'p'}"
        self._ip_counter = (self._ip_counter % 60000) + 1
        ip = f"127.1.{self._ip_counter // 250}.{self._ip_counter % 250 + 1}"
        when = iso_now()
        body: dict[str, Any] = {
            "id": node_id,
            "state": "starting",
            "schedulingState": "enabled",
            "stateTransitionTime": when,
            "lastBootTime": when,
            "allocationTime": when,
            "ipAddress": ip,
            "affinityId": f"TVM:{node_id}",
            "vmSize": pool.body.get("vmSize"),
            "totalTasksRun": 0,
            "runningTasksCount": 0,
            "runningTaskSlotsCount": 0,
            "totalTasksSucceeded": 0,
            "isDedicated": dedicated,
            "nodeAgentInfo": {"version": "localbatch", "lastUpdateTime": when},
            "_poolId": pool.id,
            "_root": str(self.nodes_dir / pool.key / node_id),
            "_jobPrep": {},
            "_boot": 0,
        }
        if pool.body.get("virtualMachineConfiguration", {}).get("imageReference"):
            body["virtualMachineInfo"] = {"imageReference": pool.body["virtualMachineConfiguration"]["imageReference"]}
        node = Node(key=f"{pool.key}/{node_id.lower()}", seq=self.account.next_seq(), body=body, pool_key=pool.key)
        pool.nodes[node.key] = node
        self.account.save(node)
        self.spawn(self.boot_node(pool, node))
        return node

    def remove_node(self, pool: Pool, node: Node, option: str) -> None:
        if option in ("taskcompletion", "retaineddata"):
            if node.state != "leavingpool":
                set_state(node.body, "leavingpool")
                self.account.save(node)
            if node.running:
                return
        for task_key in list(node.running):
            self.interrupt_task(task_key, requeue=option != "terminate")
        pool.nodes.pop(node.key, None)
        self.account.forget(node)
        node.body["_boot"] = int(node.body.get("_boot", 0)) + 1  # stops a start task still running
        shutil.rmtree(node.body["_root"], ignore_errors=True)
        self.count_nodes(pool)

    async def boot_node(self, pool: Pool, node: Node) -> None:
        boot = int(node.body.get("_boot", 0)) + 1
        node.body["_boot"] = boot
        context = self.node_context(pool, node)
        await asyncio.to_thread(execution.prepare_node, context)
        start = pool.body.get("startTask")
        if not start:
            node.body.pop("startTask", None)
            node.body.pop("startTaskInfo", None)
            self.set_node_state(node, "idle")
            return
        node.body["startTask"] = start
        wait = bool(start.get("waitForSuccess", True))
        max_retries = int(start.get("maxTaskRetryCount", 0))
        info: dict[str, Any] = {"state": "running", "startTime": iso_now(), "retryCount": 0}
        node.body["startTaskInfo"] = info
        self.set_node_state(node, "waitingforstarttask" if wait else "idle")
        attempt = 0
        while True:
            outcome = await self.execute(
                context, TaskRun(kind="start", job_id=None, task_id="starttask", spec=start, retry_count=attempt), None
            )
            if node.body.get("_boot") != boot or node.key not in pool.nodes:
                return
            info = {
                "state": "completed",
                "startTime": iso(outcome.start_time),
                "endTime": iso(outcome.end_time),
                "retryCount": attempt,
                "result": outcome.result,
            }
            if outcome.exit_code is not None:
                info["exitCode"] = outcome.exit_code
            if outcome.failure_info:
                info["failureInfo"] = dict(outcome.failure_info)
            if attempt:
                info["lastRetryTime"] = iso(outcome.start_time)
            node.body["startTaskInfo"] = info
            if outcome.result == "success" or not (max_retries == -1 or attempt < max_retries):
                break
            attempt += 1
        if wait:
            self.set_node_state(node, "idle" if outcome.result == "success" else "starttaskfailed")
        else:
            self.account.save(node)
        self.account.wake()

    def set_node_state(self, node: Node, state: str) -> None:
        if state == "idle" and node.running:
            state = "running"
        set_state(node.body, state)
        self.account.save(node)
        self.account.wake()

    # ---- running things ----------------------------------------------------------------------
    async def execute(self, context: NodeContext, run: TaskRun, limit: timedelta | None) -> ExecutionOutcome:
        try:
            if self._agents is None:
                return await execution.run_task(context, run, max_wall_clock=limit)
            return await self._agents.run(context, run, limit)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # a bug or an environment problem: report it as the service would
            log.exception("running %s %s failed", run.kind, run.task_id)
            when = now()
            return ExecutionOutcome(
                exit_code=None,
                result="failure",
                failure_info={"category": "servererror", "code": "TaskExecutionFailed", "message": str(err)},
                start_time=when,
                end_time=when,
                task_dir=execution.task_dir(context, run),
                timed_out=False,
            )

    def schedulable(self, node: Node) -> bool:
        return (
            node.state in SCHEDULABLE_NODE_STATES
            and node.body.get("schedulingState", "enabled") == "enabled"
            and not node.body.get("_remove")
        )

    def dispatch(self) -> None:
        for pool in self.account.pools.values():
            if pool.state != "active":
                continue
            nodes = [n for n in pool.nodes.values() if self.schedulable(n)]
            if not nodes:
                continue
            slots = pool.slots_per_node
            jobs = sorted(
                (j for j in self.account.jobs_on_pool(pool.key) if j.state == "active" and j.ready),
                key=lambda j: (-int(j.body.get("priority", 0)), j.seq),
            )
            for job in jobs:
                if not any(slots - n.used_slots > 0 for n in nodes):
                    break
                self.dispatch_job(pool, job, nodes, slots)

    def dispatch_job(self, pool: Pool, job: Job, nodes: list[Node], slots: int) -> None:
        limit = int(job.body.get("maxParallelTasks", -1))
        pack = (pool.body.get("taskSchedulingPolicy") or {}).get("nodeFillType") == "pack"
        while job.ready:
            if limit != -1 and len(job.running) >= limit:
                return
            task = job.tasks[next(iter(job.ready))]
            need = int(task.body.get("requiredSlots", 1))
            instances = int((task.body.get("multiInstanceSettings") or {}).get("numberOfInstances", 1))
            usable = [n for n in nodes if slots - n.used_slots >= need and self.job_ready_on(pool, job, n)]
            if len(usable) < instances:
                return
            chosen = usable[:instances] if pack else sorted(usable, key=lambda n: n.used_slots)[:instances]
            self.launch(pool, job, task, chosen)

    def job_ready_on(self, pool: Pool, job: Job, node: Node) -> bool:
        """Whether the job's preparation task lets its tasks run on this node (starting it if needed)."""
        prep = job.body.get("jobPreparationTask")
        if not prep:
            return True
        status = node.body.setdefault("_jobPrep", {}).get(job.key)
        if status is None:
            node.body["_jobPrep"][job.key] = {"state": "running", "startTime": iso_now(), "retryCount": 0}
            self.account.save(node)
            self.spawn(self.run_job_preparation(pool, job, node, int(node.body.get("_boot", 0))))
            return not prep.get("waitForSuccess", True)
        if not prep.get("waitForSuccess", True):
            return True
        return status.get("state") == "completed" and status.get("result") == "success"

    async def run_job_preparation(self, pool: Pool, job: Job, node: Node, boot: int) -> None:
        prep = job.body["jobPreparationTask"]
        max_retries = int((prep.get("constraints") or {}).get("maxTaskRetryCount", 0))
        limit = _duration((prep.get("constraints") or {}).get("maxWallClockTime"))
        context = self.node_context(pool, node)
        attempt = 0
        while True:
            run = TaskRun(
                kind="jobprep",
                job_id=job.id,
                task_id=str(prep.get("id", "jobpreparation")),
                spec=prep,
                retry_count=attempt,
                job_environment=job.body.get("commonEnvironmentSettings") or (),
            )
            outcome = await self.execute(context, run, limit)
            if outcome.result == "success" or not (max_retries == -1 or attempt < max_retries):
                break
            attempt += 1
        if node.body.get("_boot") != boot or node.key not in pool.nodes:
            return
        info = self.outcome_info(outcome, context, attempt)
        info["state"] = "completed"
        node.body.setdefault("_jobPrep", {})[job.key] = info
        self.account.save(node)
        self.account.wake()

    def outcome_info(self, outcome: ExecutionOutcome, context: NodeContext, retries: int) -> dict[str, Any]:
        info: dict[str, Any] = {
            "startTime": iso(outcome.start_time),
            "endTime": iso(outcome.end_time),
            "result": outcome.result,
            "retryCount": retries,
            "taskRootDirectory": str(outcome.task_dir.relative_to(context.node_root)),
        }
        if outcome.exit_code is not None:
            info["exitCode"] = outcome.exit_code
        if outcome.failure_info:
            info["failureInfo"] = dict(outcome.failure_info)
        return info

    def launch(self, pool: Pool, job: Job, task: Task, nodes: list[Node]) -> None:
        need = int(task.body.get("requiredSlots", 1))
        attempt = int(task.body.get("_attempt", 0)) + 1
        task.body["_attempt"] = attempt
        job.ready.pop(task.key, None)
        job.running.add(task.key)
        primary = nodes[0]
        for node in nodes:
            node.running[task.key] = need
            self.node_counters(node)
        contexts = [self.node_context(pool, n) for n in nodes]
        run = TaskRun(
            kind="task",
            job_id=job.id,
            task_id=task.id,
            spec={k: v for k, v in task.body.items() if not k.startswith("_")},
            retry_count=int(task.body.get("executionInfo", {}).get("retryCount", 0)),
            job_environment=job.body.get("commonEnvironmentSettings") or (),
            host_list=[c.ip_address for c in contexts] if task.body.get("multiInstanceSettings") else (),
        )
        root = str(contexts[0].node_root)
        task_root_directory = task_dir_path(contexts[0], run)[len(root) :].lstrip("/")
        when = iso_now()
        set_state(task.body, "running", when)
        info = task.body.setdefault("executionInfo", {})
        info["startTime"] = when
        for name in ("endTime", "exitCode", "result", "failureInfo"):
            info.pop(name, None)
        task.body["nodeInfo"] = {
            "affinityId": primary.body.get("affinityId"),
            "poolId": pool.id,
            "nodeId": primary.id,
            "taskRootDirectory": task_root_directory,
        }
        task.body["_nodes"] = [n.key for n in nodes]
        task.body["_nodeRoot"] = str(contexts[0].node_root)
        self.account.save(task)
        limit = _duration(task.body.get("constraints", {}).get("maxWallClockTime"))
        self._running[task.key] = self.spawn(self.run_task(pool, job, task, nodes, contexts, run, attempt, limit))

    def node_counters(self, node: Node) -> None:
        node.body["runningTasksCount"] = len(node.running)
        node.body["runningTaskSlotsCount"] = node.used_slots
        if node.state in SCHEDULABLE_NODE_STATES:
            set_state(node.body, "running" if node.running else "idle")
        self.account.save(node)

    async def run_task(
        self,
        pool: Pool,
        job: Job,
        task: Task,
        nodes: list[Node],
        contexts: list[NodeContext],
        run: TaskRun,
        attempt: int,
        limit: timedelta | None,
    ) -> None:
        try:
            if len(contexts) == 1:
                outcome = await self.execute(contexts[0], run, limit)
                subtasks: list[dict[str, Any]] = []
            else:
                outcomes = await asyncio.gather(*(self.execute(c, run, limit) for c in contexts))
                outcome = outcomes[0]
                subtasks = [
                    {
                        "id": index,
                        "nodeInfo": {"poolId": pool.id, "nodeId": c.node_id, "affinityId": f"TVM:{c.node_id}"},
                        "state": "completed",
                        **self.outcome_info(o, c, 0),
                    }
                    for index, (c, o) in enumerate(zip(contexts, outcomes, strict=True))
                    if index > 0
                ]
        finally:
            self._running.pop(task.key, None)
        self.release_slots(task.key, nodes)
        if task.body.get("_attempt") != attempt or job.tasks.get(task.key) is not task:
            return
        if subtasks:
            task.body["_subtasks"] = subtasks
        self.finish_task(pool, job, task, nodes[0], outcome)

    def release_slots(self, task_key: str, nodes: list[Node]) -> None:
        for node in nodes:
            if node.running.pop(task_key, None) is not None:
                self.node_counters(node)
        self.account.wake()

    def finish_task(self, pool: Pool, job: Job, task: Task, node: Node, outcome: ExecutionOutcome) -> None:
        info = task.body.setdefault("executionInfo", {})
        info["startTime"] = iso(outcome.start_time)
        info["endTime"] = iso(outcome.end_time)
        info["result"] = outcome.result
        if outcome.exit_code is not None:
            info["exitCode"] = outcome.exit_code
        if outcome.failure_info:
            info["failureInfo"] = dict(outcome.failure_info)
        node.body["totalTasksRun"] = int(node.body.get("totalTasksRun", 0)) + 1
        if outcome.result == "success":
            node.body["totalTasksSucceeded"] = int(node.body.get("totalTasksSucceeded", 0)) + 1
        recent = node.body.setdefault("recentTasks", [])
        recent.append({"jobId": job.id, "taskId": task.id, "taskState": "completed", "executionInfo": dict(info)})
        del recent[:-RECENT_TASKS_KEPT]
        self.account.save(node)
        job.running.discard(task.key)
        retries = int(task.body.get("constraints", {}).get("maxTaskRetryCount", 0))
        done = int(info.get("retryCount", 0))
        if outcome.result == "failure" and (retries == -1 or done < retries) and job.state == "active":
            info["retryCount"] = done + 1
            info["lastRetryTime"] = iso_now()
            set_state(task.body, "active")
            self.account.save(task)
            self.account.classify(job, task)
            return
        self.complete_task(job, task)

    def complete_task(self, job: Job, task: Task) -> None:
        set_state(task.body, "completed")
        info = task.body.setdefault("executionInfo", {})
        info.setdefault("endTime", iso_now())
        exit_options = self.exit_options(task)
        if exit_options.get("dependencyAction") == "satisfy" and info.get("result") == "failure":
            task.body["_dependencyAction"] = "satisfy"
        retention = _duration(task.body.get("constraints", {}).get("retentionTime"))
        if retention is not None and task.body.get("_nodeRoot") and task.body.get("nodeInfo"):
            deadline = iso(now() + retention)
            task.body["_retainUntil"] = deadline
            heapq.heappush(
                self._retention, (deadline, task.body["_nodeRoot"], task.body["nodeInfo"]["taskRootDirectory"])
            )
        self.account.save(task)
        job.body["_depsDirty"] = True
        if job.body.get("onTaskFailure") == "performexitoptionsjobaction":
            action = exit_options.get("jobAction", "none")
            if action == "terminate":
                self.account.begin_terminate(job, "TaskFailed")
            elif action == "disable":
                set_state(job.body, "disabling")
                job.body["_disableTasks"] = "requeue"
                self.account.save(job)
        if job.body.get("onAllTasksComplete") == "terminatejob":
            job.body["_checkComplete"] = "task"
        self.account.wake()

    def exit_options(self, task: Task) -> Mapping[str, Any]:
        info = task.body.get("executionInfo") or {}
        conditions = task.body.get("exitConditions") or {}
        exit_code = info.get("exitCode")
        failed = info.get("result") == "failure"
        defaults = {
            "jobAction": "terminate" if failed else "none",
            "dependencyAction": "block" if failed else "satisfy",
        }
        chosen: Mapping[str, Any] | None = None
        if exit_code is not None:
            for entry in conditions.get("exitCodes") or []:
                if entry.get("code") == exit_code:
                    chosen = entry.get("exitOptions")
                    break
            if chosen is None:
                for entry in conditions.get("exitCodeRanges") or []:
                    if int(entry.get("start", 0)) <= exit_code <= int(entry.get("end", -1)):
                        chosen = entry.get("exitOptions")
                        break
        if chosen is None and failed and exit_code is None:
            code = (info.get("failureInfo") or {}).get("code", "")
            chosen = conditions.get("fileUploadError" if "Upload" in code else "preProcessingError")
        if chosen is None and (failed or exit_code not in (None, 0)):
            chosen = conditions.get("default")
        return {**defaults, **(chosen or {})}

    def interrupt_task(self, task_key: str, *, requeue: bool, failure: Mapping[str, Any] | None = None) -> None:
        """Stop a running task: back to active (as on a node reboot) or completed as ended by request."""
        job = self.account.jobs.get(task_key.split("/", 1)[0])
        task = job.tasks.get(task_key) if job else None
        handle = self._running.pop(task_key, None)
        if handle is not None:
            handle.cancel()
        if job is None or task is None:
            return
        self.release_slots(
            task_key, [n for p in self.account.pools.values() for n in p.nodes.values() if task_key in n.running]
        )
        if task.state not in ("running", "preparing"):
            return
        if requeue:
            self.account.requeue_task(job, task, iso_now())
            return
        job.running.discard(task_key)
        task.body["_attempt"] = int(task.body.get("_attempt", 0)) + 1
        info = task.body.setdefault("executionInfo", {})
        info["result"] = "failure"
        info["failureInfo"] = dict(failure or TASK_ENDED)
        info["endTime"] = iso_now()
        self.complete_task(job, task)

    def terminate_task(self, job: Job, task: Task) -> None:
        if task.state == "completed":
            return
        if task.state in ("running", "preparing"):
            self.interrupt_task(task.key, requeue=False)
            return
        job.ready.pop(task.key, None)
        job.blocked.discard(task.key)
        info = task.body.setdefault("executionInfo", {})
        info["result"] = "failure"
        info["failureInfo"] = dict(TASK_ENDED)
        self.complete_task(job, task)

    def delete_task(self, job: Job, task: Task) -> None:
        if task.state in ("running", "preparing"):
            self.interrupt_task(task.key, requeue=True)
        self.account.delete_task_entity(job, task)
        if task.body.get("_nodeRoot") and task.body.get("nodeInfo"):
            shutil.rmtree(Path(task.body["_nodeRoot"]) / task.body["nodeInfo"]["taskRootDirectory"], ignore_errors=True)
        job.body["_depsDirty"] = True
        self.account.wake()

    # ---- jobs --------------------------------------------------------------------------------
    def step_job(self, job: Job) -> None:
        state = job.state
        if job.body.pop("_depsDirty", False) and job.blocked:
            for key in list(job.blocked):
                self.account.classify(job, job.tasks[key])
        if state == "active":
            self.check_job_limits(job)
        elif state == "disabling":
            option = job.body.get("_disableTasks", "requeue")
            if option in ("requeue", "terminate"):
                for key in list(job.running):
                    self.interrupt_task(key, requeue=option == "requeue")
            if not job.running:
                set_state(job.body, "disabled")
                self.account.save(job)
        elif state in ("terminating", "deleting"):
            self.wind_down(job)

    def check_job_limits(self, job: Job) -> None:
        reason = job.body.pop("_checkComplete", None)
        if reason and job.body.get("onAllTasksComplete") == "terminatejob":
            all_done = all(t.state == "completed" for t in job.tasks.values())
            if all_done and (job.tasks or reason == "update"):
                self.account.begin_terminate(job, "AllTasksComplete")
                return
        limit = _duration((job.body.get("constraints") or {}).get("maxWallClockTime"))
        if limit is not None and now() - parse_iso(job.body["creationTime"]) > limit:
            self.account.begin_terminate(job, "MaxWallClockTimeExpiry")

    def wind_down(self, job: Job) -> None:
        """Terminating or deleting: end running tasks, run job release where prep ran, then finish."""
        for key in list(job.running):
            self.interrupt_task(key, requeue=False)
        release = job.body.get("jobReleaseTask")
        pending = False
        pool = self.account.pools.get(job.pool_key)
        for node in list(pool.nodes.values()) if pool else []:
            prep = node.body.get("_jobPrep", {}).get(job.key)
            if prep is None:
                continue
            releases = node.body.setdefault("_jobRelease", {})
            if release and job.key not in releases:
                releases[job.key] = {"state": "running", "startTime": iso_now()}
                self.account.save(node)
                self.spawn(self.run_job_release(pool, job, node))  # type: ignore[arg-type]
                pending = True
            elif release and releases[job.key].get("state") == "running":
                pending = True
        if pending or job.running:
            return
        if job.state == "deleting":
            self.remove_job(job)
            return
        set_state(job.body, "completed")
        job.body.setdefault("executionInfo", {})["endTime"] = iso_now()
        job.ready.clear()
        self.account.save(job)

    async def run_job_release(self, pool: Pool, job: Job, node: Node) -> None:
        release = job.body["jobReleaseTask"]
        context = self.node_context(pool, node)
        limit = _duration(release.get("maxWallClockTime")) or timedelta(minutes=15)
        run = TaskRun(
            kind="jobrelease",
            job_id=job.id,
            task_id=str(release.get("id", "jobrelease")),
            spec=release,
            job_environment=job.body.get("commonEnvironmentSettings") or (),
        )
        outcome = await self.execute(context, run, limit)
        info = self.outcome_info(outcome, context, 0)
        info.pop("retryCount", None)
        info["state"] = "completed"
        node.body.setdefault("_jobRelease", {})[job.key] = info
        self.account.save(node)
        self.account.wake()

    def remove_job(self, job: Job) -> None:
        for task in list(job.tasks.values()):
            self.account.forget(task)
        self.account.jobs.pop(job.key, None)
        self.account.forget(job)
        for pool in self.account.pools.values():
            for node in pool.nodes.values():
                changed = node.body.get("_jobPrep", {}).pop(job.key, None) is not None
                changed = node.body.get("_jobRelease", {}).pop(job.key, None) is not None or changed
                if changed:
                    self.account.save(node)
                shutil.rmtree(Path(node.body["_root"]) / "workitems" / job.id, ignore_errors=True)

    # ---- retention ---------------------------------------------------------------------------
    def rebuild_retention(self) -> None:
        for job in self.account.jobs.values():
            for task in job.tasks.values():
                until = task.body.get("_retainUntil")
                if until and task.body.get("_nodeRoot") and task.body.get("nodeInfo"):
                    heapq.heappush(
                        self._retention, (until, task.body["_nodeRoot"], task.body["nodeInfo"]["taskRootDirectory"])
                    )

    def expire_retention(self) -> None:
        current = iso_now()
        while self._retention and self._retention[0][0] <= current:
            _, root, relative = heapq.heappop(self._retention)
            shutil.rmtree(Path(root) / relative, ignore_errors=True)
