"""Task counts and unmet-dependency counters kept incrementally agree with a recount from scratch,
through adds, completions, failures with either dependency action, reactivation, deletion and restarts."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from batchforge.localbatch.account import Account, set_state
from batchforge.localbatch.entities import Job, Task
from batchforge.localbatch.store import Store


def _satisfies(task: Task | None) -> bool:
    if task is None or task.state != "completed":
        return False
    info = task.body.get("executionInfo") or {}
    return info.get("result") == "success" or task.body.get("_dependencyAction") == "satisfy"


def _recount_unmet(job: Job, task: Task) -> int:
    depends = task.body.get("dependsOn") or {}
    unmet = sum(not _satisfies(job.tasks.get(f"{job.key}/{d.lower()}")) for d in depends.get("taskIds") or [])
    for dep_range in depends.get("taskIdRanges") or []:
        start, end = dep_range["start"], dep_range["end"]
        # Every id of the range is a dependency; only existing tasks with canonical numeric ids satisfy one.
        met = sum(
            1
            for t in job.tasks.values()
            if t.id.isdigit() and str(int(t.id)) == t.id and start <= int(t.id) <= end and _satisfies(t)
        )
        unmet += end - start + 1 - met
    return unmet


def _recount(job: Job) -> dict[str, Any]:
    counts = {"active": 0, "running": 0, "succeeded": 0, "failed": 0}
    for task in job.tasks.values():
        if task.state == "completed":
            counts["succeeded" if task.body["executionInfo"].get("result") == "success" else "failed"] += 1
        else:
            counts["active" if task.state == "active" else "running"] += 1
    return counts


def _check(job: Job) -> None:
    counts = job.counts.wire()["taskCounts"]
    assert {k: counts[k] for k in ("active", "running", "succeeded", "failed")} == _recount(job)
    for task in job.tasks.values():
        if task.body.get("dependsOn"):
            assert job.deps.unmet[task.key] == _recount_unmet(job, task), task.id
        if task.state == "active":
            ready = _recount_unmet(job, task) == 0
            assert (task.key in job.ready) == ready and (task.key in job.blocked) == (not ready), task.id


def _finish(account: Account, job: Job, task: Task, result: str, satisfy: bool = False) -> None:
    set_state(task.body, "running")
    account.save(task)
    task.body["executionInfo"]["result"] = result
    if satisfy:
        task.body["_dependencyAction"] = "satisfy"
    job.ready.pop(task.key, None)
    set_state(task.body, "completed")
    account.save(task)


def test_incremental_counts_match_a_recount(tmp_path: Path) -> None:
    rng = random.Random(7)
    account = Account(Store(tmp_path / "state.sqlite"), "acct")
    job = account.create_job({"id": "mr", "poolInfo": {"poolId": "none"}, "usesTaskDependencies": True})
    # The reduce task and a named dependency are added before what they wait on exists.
    account.add_task(
        job, {"id": "reduce", "commandLine": "x", "dependsOn": {"taskIdRanges": [{"start": 0, "end": 49}]}}
    )
    account.add_task(
        job,
        {
            "id": "twice",
            "commandLine": "x",
            "dependsOn": {"taskIds": ["7", "7", "named"], "taskIdRanges": [{"start": 5, "end": 9}]},
        },
    )
    account.add_task(
        job, {"id": "wide", "commandLine": "x", "dependsOn": {"taskIdRanges": [{"start": 40, "end": 10**9}]}}
    )
    for number in range(50):
        account.add_task(job, {"id": str(number), "commandLine": "x"})
    account.add_task(job, {"id": "named", "commandLine": "x"})
    _check(job)
    for number in rng.sample(range(50), 50):
        task = job.tasks[f"mr/{number}"]
        outcome = rng.choice(["success", "success", "failure", "failure-satisfy"])
        _finish(account, job, task, "success" if outcome == "success" else "failure", outcome == "failure-satisfy")
        if number % 9 == 0:
            _check(job)
    _check(job)
    failed = [
        t for t in job.tasks.values() if t.state == "completed" and t.body["executionInfo"]["result"] == "failure"
    ]
    for task in failed[:3]:
        account.reactivate_task(job, task)
    _check(job)
    for task in failed[3:6]:
        account.delete_task_entity(job, task)
    _finish(account, job, job.tasks["mr/named"], "success")
    _check(job)
    account.store.flush()

    reloaded = Account(Store(tmp_path / "state.sqlite"), "acct")
    reloaded.load()
    again = reloaded.jobs["mr"]
    _check(again)
    assert again.counts.wire() == job.counts.wire()
    assert again.deps.unmet == job.deps.unmet
