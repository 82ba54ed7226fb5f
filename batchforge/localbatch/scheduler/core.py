"""The scheduler: one pass (`step`) over pools, jobs and dispatch runs whenever the account is woken and
at least once a second, and every freed slot is refilled at once from the pool's ready queues without a
pass. Everything that takes time runs as asyncio tasks on an `Executor` and reports back here.

A failing pool, job or dispatch is logged and skipped; the rest of the pass goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import heapq
import logging
import secrets
import shutil
import time
from collections.abc import Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from batchforge.localbatch import autopools, autoscale, clock, execution, jobmanager
from batchforge.localbatch.account import MAX_DURATION, Account, set_state
from batchforge.localbatch.agents import AgentCrashed
from batchforge.localbatch.clock import iso, iso_now, now, parse_duration, parse_iso
from batchforge.localbatch.entities import Job, Node, Pool, Task
from batchforge.localbatch.execution import ExecutionOutcome, NodeContext, StorageAccess, TaskRun
from batchforge.localbatch.execution.layout import task_dir_path
from batchforge.localbatch.scheduler import placement
from batchforge.localbatch.scheduler.executors import Executor, default_executor
from batchforge.localbatch.scheduler.exits import exit_options, outcome_info
from batchforge.localbatch.store import FlushError

T = TypeVar("T")
log = logging.getLogger("batchforge.localbatch.scheduler")
SCHEDULABLE_NODE_STATES = placement.SCHEDULABLE_NODE_STATES
# Start tasks and job preparation/release runs lost with a crashed agent are run again this many times.
AGENT_CRASH_RERUNS = 2
# A pool or job that keeps failing is logged in full once, then at most this often.
REPEAT_LOG_SECONDS = 60.0
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
    def __init__(
        self,
        account: Account,
        data_dir: Path,
        storage: StorageAccess,
        account_url: str,
        *,
        executor: Executor | None = None,
    ) -> None:
        self.account = account
        self.nodes_dir = data_dir / "nodes"
        self.storage = storage
        self.account_url = account_url
        self._running: dict[str, asyncio.Task[None]] = {}  # task key -> its run
        self._background: set[asyncio.Task[None]] = set()
        self._retention: list[tuple[str, str, str]] = []  # (deadline iso, node root, task dir)
        self._ip_counter = 0
        self._stopping = False
        self._executor = executor
        self._contexts: dict[tuple[Any, ...], NodeContext] = {}
        self._preps: dict[tuple[str, str], asyncio.Task[bool]] = {}  # (job key, node key) -> its prep run
        self._killing: dict[str, set[asyncio.Task[None]]] = {}  # job key -> its runs being killed
        self._reported: dict[tuple[str, str], float] = {}

    # ---- plumbing ----------------------------------------------------------------------------
    def spawn(self, coroutine: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        handle = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(handle)
        handle.add_done_callback(self._background.discard)
        return handle

    async def run(self) -> None:
        if self._executor is None:
            self._executor = default_executor()
        self.rebuild_retention()
        last_flush = 0.0
        loop = asyncio.get_running_loop()
        while not self._stopping:
            self.step()
            # Passes come in bursts while tasks finish; one transaction per burst keeps SQLite off the
            # critical path. Requests flush on their own before they answer.
            if loop.time() - last_flush >= FLUSH_INTERVAL_SECONDS:
                self.flush()
                last_flush = loop.time()
            woken = await self.account.wait_for_work(FLUSH_INTERVAL_SECONDS if self.account.store.dirty else 1.0)
            if not woken:
                self.flush()
                last_flush = loop.time()

    def flush(self) -> None:
        with contextlib.suppress(FlushError):  # logged by the store; the changes stay pending for the next one
            self.account.store.flush()

    def guard(self, what: str, name: str, action: Callable[..., None], *args: Any) -> None:
        """Run one part of a pass; a failure is logged and isolated so that the rest of the pass goes on."""
        try:
            action(*args)
        except Exception:
            key = (what, name)
            moment = time.monotonic()
            last = self._reported.get(key)
            if last is None or moment - last >= REPEAT_LOG_SECONDS:
                self._reported[key] = moment
                log.exception("%s %s failed; skipped in this pass", what, name)

    async def stop(self) -> None:
        self._stopping = True
        self.account.wake()
        handles = list(self._background)
        for handle in handles:
            handle.cancel()
        for handle in handles:
            with contextlib.suppress(BaseException):
                await handle
        if self._executor is not None:
            await self._executor.close()

    def node_context(self, pool: Pool, node: Node) -> NodeContext:
        body = node.body
        containers = execution.containers.container_host(pool.body)
        identity = (
            pool.id,
            node.id,
            body["_root"],
            body.get("isDedicated", True),
            body.get("ipAddress", "127.0.0.1"),
            containers,
        )
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
                containers=containers,
            )
        return context

    def step(self) -> None:
        for pool in list(self.account.pools.values()):
            self.guard("pool", pool.id, self.step_pool, pool)
        for job in list(self.account.jobs.values()):
            self.guard("job", job.id, self.step_job, job)
        for pool in list(self.account.pools.values()):
            self.guard("dispatch on pool", pool.id, self.dispatch_pool, pool)
        self.guard("retention", "", self.expire_retention)

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
        # Every pass, so that formulas see a sample every 30 s and not only at evaluation times.
        autoscale.observe(self.account, pool, now())
        due = pool.body.get("_autoScaleDue")
        if due is True or (isinstance(due, str) and due <= iso_now()):
            self.evaluate_autoscale(pool, apply=True)

    def evaluate_autoscale(self, pool: Pool, *, apply: bool, formula: str | None = None) -> dict[str, Any]:
        result = autoscale.evaluate_pool(
            formula if formula is not None else str(pool.body.get("autoScaleFormula", "")), self.account, pool, now()
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
        if pool.body.get("virtualMachineConfiguration", {}).get("containerConfiguration"):
            await asyncio.to_thread(execution.containers.resolve)  # once per service, off the loop
        context = self.node_context(pool, node)
        await asyncio.to_thread(execution.prepare_node, context)
        # As on Batch, a node pulls the pool's containerImageNames before its start task; one that fails is unusable.
        node.body.pop("errors", None)  # only a failed prefetch sets them; a reboot tries again
        pull_error = await execution.containers.prefetch(context)
        if pull_error is not None:
            if node.body.get("_boot") == boot and node.key in pool.nodes:
                node.body["errors"] = [pull_error]
                self.set_node_state(node, "unusable")
            return
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
        """Run on the executor; a task's run lost with a crashed agent raises `AgentCrashed` (it is requeued),
        other runs are run again."""
        assert self._executor is not None, "the scheduler is not running"
        reruns = 0
        while True:
            try:
                outcome = await self._executor.run(context, run, limit)
                if not clock.is_real():  # agents stamp runs with the real time; the books keep the service's
                    outcome = clock.on_service_clock(outcome)
                return outcome
            except asyncio.CancelledError:
                raise
            except AgentCrashed as err:
                if run.kind == "task":
                    raise
                if reruns < AGENT_CRASH_RERUNS:
                    reruns += 1
                    log.warning("a node agent died running %s %s; running it again", run.kind, run.task_id)
                    continue
                return self.error_outcome(context, run, err)
            except Exception as err:  # a bug or an environment problem: report it as the service would
                log.exception("running %s %s failed", run.kind, run.task_id)
                return self.error_outcome(context, run, err)

    def error_outcome(self, context: NodeContext, run: TaskRun, err: Exception) -> ExecutionOutcome:
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
        return placement.schedulable(node)

    def dispatch_pool(self, pool: Pool) -> None:
        """Fill the pool's free slots from its jobs' ready queues, highest priority first."""
        if pool.state != "active":
            return
        nodes = [n for n in pool.nodes.values() if placement.schedulable(n)]
        slots = pool.slots_per_node
        if not any(slots - n.used_slots > 0 for n in nodes):
            return
        shape = (len(nodes), slots)
        jobs = sorted(
            (j for j in self.account.jobs_on_pool(pool.key) if j.state == "active" and (j.ready or j.unfit)),
            key=lambda j: (-int(j.body.get("priority", 0)), j.seq),
        )
        for job in jobs:
            self.guard("dispatch of job", job.id, self.dispatch_job, pool, job, nodes, shape)
            if not any(slots - n.used_slots > 0 for n in nodes):
                break

    def dispatch_job(self, pool: Pool, job: Job, nodes: list[Node], shape: tuple[int, int]) -> None:
        if job.unfit and job.unfit_shape != shape:
            job.ready.update(job.unfit)  # the pool changed: they may fit now
            job.unfit.clear()
        limit = int(job.body.get("maxParallelTasks", -1))
        while job.ready:
            if limit != -1 and len(job.running) >= limit:
                return
            key = next(iter(job.ready))
            task = job.tasks[key]
            if not placement.fits_pool(task, shape):
                # No node of the pool can ever hold it as the pool is: it stays active (as on Batch) and
                # the tasks behind it go on.
                del job.ready[key]
                job.unfit[key] = None
                job.unfit_shape = shape
                continue
            chosen = placement.choose_nodes(pool, job, task, nodes)
            if chosen is None:
                return
            self.launch(pool, job, task, chosen)

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
        jobmanager.occupy(task, nodes)
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
        # "preparing": assigned to its nodes, waiting there for the job preparation task (as on Batch).
        set_state(task.body, "preparing" if self.must_wait_for_prep(job, nodes) else "running", when)
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

    # ---- job preparation ---------------------------------------------------------------------
    def must_wait_for_prep(self, job: Job, nodes: list[Node]) -> bool:
        prep = job.body.get("jobPreparationTask")
        if not prep or not prep.get("waitForSuccess", True):
            return False
        return any(((n.body.get("_jobPrep") or {}).get(job.key) or {}).get("state") != "completed" for n in nodes)

    async def prepare_job_on(self, pool: Pool, job: Job, nodes: list[Node]) -> bool:
        """Start the job preparation task on those of the nodes that have not run it (only nodes a task of
        the job was just given), and say whether the task may run there."""
        prep = job.body.get("jobPreparationTask")
        if not prep:
            return True
        waiting: list[asyncio.Task[bool]] = []
        for node in nodes:
            status = node.body.setdefault("_jobPrep", {}).get(job.key)
            if status is not None and status.get("state") == "completed":
                if prep.get("waitForSuccess", True) and status.get("result") != "success":
                    return False
                continue
            handle = self._preps.get((job.key, node.key))
            if handle is None:
                handle = self.start_job_preparation(pool, job, node)
            waiting.append(handle)
        if not waiting or not prep.get("waitForSuccess", True):
            return True
        # Shielded: cancelling one task that waits must not stop a preparation other tasks wait for.
        results = await asyncio.gather(*(asyncio.shield(h) for h in waiting))
        return all(results)

    def start_job_preparation(self, pool: Pool, job: Job, node: Node) -> asyncio.Task[bool]:
        node.body.setdefault("_jobPrep", {})[job.key] = {"state": "running", "startTime": iso_now(), "retryCount": 0}
        self.account.save(node)
        key = (job.key, node.key)
        handle = self.spawn(self.run_job_preparation(pool, job, node, int(node.body.get("_boot", 0))))
        self._preps[key] = handle
        handle.add_done_callback(lambda done: self._preps.pop(key) if self._preps.get(key) is done else None)
        return handle

    async def run_job_preparation(self, pool: Pool, job: Job, node: Node, boot: int) -> bool:
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
            return False
        info = outcome_info(outcome, context, attempt)
        info["state"] = "completed"
        node.body.setdefault("_jobPrep", {})[job.key] = info
        self.account.save(node)
        self.account.wake()
        return outcome.result == "success"

    # ---- a task's run --------------------------------------------------------------------------
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
        crashed = False
        prepared = True
        outcome: ExecutionOutcome | None = None
        subtasks: list[dict[str, Any]] = []
        try:
            prepared = await self.prepare_job_on(pool, job, nodes)
            if prepared and task.body.get("_attempt") == attempt:
                if task.state == "preparing":
                    set_state(task.body, "running")
                    self.account.save(task)
                outcome, subtasks = await self.execute_instances(pool, contexts, run, limit)
        except AgentCrashed:
            crashed = True
        finally:
            if self._running.get(task.key) is asyncio.current_task():
                self._running.pop(task.key, None)
        if task.body.get("_attempt") != attempt or job.tasks.get(task.key) is not task:
            return  # interrupted meanwhile: whoever interrupted it released its slots
        if crashed:
            # As Batch does with the tasks of a node that failed: killed, back to active, no retry used.
            dirs = [task_dir_path(c, run) for c in contexts]
            await asyncio.to_thread(execution.kill_task_processes, dirs)
            if task.body.get("_attempt") != attempt:
                return
            self.release_slots(task.key, nodes)
            self.account.requeue_task(job, task, iso_now())
        elif not prepared:
            # The preparation failed on a node it was given: back to active, for another node.
            self.release_slots(task.key, nodes)
            task.body["_attempt"] = attempt + 1
            job.running.discard(task.key)
            set_state(task.body, "active")
            task.body.pop("nodeInfo", None)
            self.account.save(task)
            self.account.classify(job, task)
        elif outcome is not None:
            self.release_slots(task.key, nodes)
            if subtasks:
                task.body["_subtasks"] = subtasks
            self.finish_task(pool, job, task, nodes[0], outcome)
        self.guard("dispatch on pool", pool.id, self.dispatch_pool, pool)

    async def execute_instances(
        self, pool: Pool, contexts: list[NodeContext], run: TaskRun, limit: timedelta | None
    ) -> tuple[ExecutionOutcome, list[dict[str, Any]]]:
        if len(contexts) == 1:
            return await self.execute(contexts[0], run, limit), []
        # Batch runs the primary's command line only once the coordination command has returned on every
        # instance (subtasks included); a failed instance fails the whole task.
        started = time.monotonic()
        coordination = dataclasses.replace(run, stage="coordination")
        try:
            async with asyncio.TaskGroup() as group:
                runs = [group.create_task(self.execute(c, coordination, limit)) for c in contexts]
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None
        outcomes = [r.result() for r in runs]
        subtasks = [
            {
                "id": index,
                "nodeInfo": {"poolId": pool.id, "nodeId": c.node_id, "affinityId": f"TVM:{c.node_id}"},
                "state": "completed",
                **outcome_info(o, c, 0),
            }
            for index, (c, o) in enumerate(zip(contexts, outcomes, strict=True))
            if index > 0
        ]
        failure = next((o for o in outcomes if o.result == "failure"), None)
        if failure is not None:
            return failure, subtasks
        remaining = None if limit is None else max(limit - timedelta(seconds=time.monotonic() - started), timedelta())
        application = await self.execute(contexts[0], dataclasses.replace(run, stage="application"), remaining)
        return dataclasses.replace(application, start_time=outcomes[0].start_time), subtasks

    def release_slots(self, task_key: str, nodes: list[Node]) -> None:
        for node in nodes:
            jobmanager.vacate(node, task_key)
            if node.running.pop(task_key, None) is not None:
                self.node_counters(node)

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
        options = exit_options(task)
        if options.get("dependencyAction") == "satisfy" and info.get("result") == "failure":
            task.body["_dependencyAction"] = "satisfy"
        retention = _duration(task.body.get("constraints", {}).get("retentionTime"))
        if retention is not None and task.body.get("_nodeRoot") and task.body.get("nodeInfo"):
            deadline = iso(now() + retention)
            task.body["_retainUntil"] = deadline
            heapq.heappush(
                self._retention, (deadline, task.body["_nodeRoot"], task.body["nodeInfo"]["taskRootDirectory"])
            )
        self.account.save(task)  # counts it and tells its dependents
        if jobmanager.kills_job(task):
            # Before the exit options' job action: the manager's completion is what ends the job.
            self.account.begin_terminate(job, "JMComplete")
        if job.body.get("onTaskFailure") == "performexitoptionsjobaction":
            action = options.get("jobAction", "none")
            if action == "terminate":
                self.account.begin_terminate(job, "TaskFailed")
            elif action == "disable":
                set_state(job.body, "disabling")
                job.body["_disableTasks"] = "requeue"
                self.account.save(job)
                self.account.wake()
        if (
            job.body.get("onAllTasksComplete") == "terminatejob"
            and job.state == "active"
            and job.counts.completed == len(job.tasks)
        ):
            self.account.begin_terminate(job, "AllTasksComplete")

    def exit_options(self, task: Task) -> Any:
        return exit_options(task)

    def outcome_info(self, outcome: ExecutionOutcome, context: NodeContext, retries: int) -> dict[str, Any]:
        return outcome_info(outcome, context, retries)

    def interrupt_task(self, task_key: str, *, requeue: bool, failure: Any = None) -> None:
        """Stop a running task: back to active (as on a node reboot) or completed as ended by request."""
        job = self.account.jobs.get(task_key.split("/", 1)[0])
        task = job.tasks.get(task_key) if job else None
        handle = self._running.pop(task_key, None)
        if handle is not None:
            handle.cancel()
            # Job release waits for these: the kill of a job's running tasks comes first.
            killing = self._killing.setdefault(task_key.split("/", 1)[0], set())
            killing.add(handle)
            handle.add_done_callback(killing.discard)
        if job is None or task is None:
            return
        self.release_slots(
            task_key, [n for p in self.account.pools.values() for n in p.nodes.values() if task_key in n.running]
        )
        self.account.wake()
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
        job.unfit.pop(task.key, None)
        job.blocked.discard(task.key)
        info = task.body.setdefault("executionInfo", {})
        info["result"] = "failure"
        info["failureInfo"] = dict(TASK_ENDED)
        self.complete_task(job, task)
        self.account.wake()

    def delete_task(self, job: Job, task: Task) -> None:
        if task.state in ("running", "preparing"):
            self.interrupt_task(task.key, requeue=True)
        self.account.delete_task_entity(job, task)
        if task.body.get("_nodeRoot") and task.body.get("nodeInfo"):
            shutil.rmtree(Path(task.body["_nodeRoot"]) / task.body["nodeInfo"]["taskRootDirectory"], ignore_errors=True)
        self.account.wake()

    # ---- jobs --------------------------------------------------------------------------------
    def step_job(self, job: Job) -> None:
        state = job.state
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
            all_done = job.counts.completed == len(job.tasks)
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
                self.spawn(self.run_job_release(pool, job, node))
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
        autopools.job_ended(self.account, job)

    async def run_job_release(self, pool: Pool, job: Job, node: Node) -> None:
        release = job.body["jobReleaseTask"]
        # Release runs after the job's running tasks were killed (and their processes reaped), and after a
        # preparation still running on the node.
        waits: list[asyncio.Task[Any]] = [h for h in self._killing.get(job.key, ()) if not h.done()]
        prep = self._preps.get((job.key, node.key))
        if prep is not None:
            waits.append(prep)
        if waits:
            await asyncio.wait(waits)
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
        info = outcome_info(outcome, context, 0)
        info.pop("retryCount", None)
        info["state"] = "completed"
        node.body.setdefault("_jobRelease", {})[job.key] = info
        self.account.save(node)
        self.account.wake()

    def remove_job(self, job: Job) -> None:
        for task in list(job.tasks.values()):
            self.account.forget(task)
        self.account.jobs.pop(job.key, None)
        self._killing.pop(job.key, None)
        self.account.forget(job)
        autopools.job_ended(self.account, job)
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
