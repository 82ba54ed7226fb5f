"""Scheduled workloads and job manager tasks: exact validation messages, with file and key path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from batchforge.submission.target import BatchTarget
from batchforge.workload import load_workload, plan_job


def test_schedule_limits_are_batchs(problems_of):
    assert problems_of(
        """
        id: nightly
        pool: cpu
        schedule:
          recurrenceInterval: PT30S
          startWindow: PT59S
          doNotRunUntil: "2027-01-01T02:00:00"
          doNotRunAfter: soon
        tasks:
          list: [{id: a, commandLine: "true"}]
        """
    ) == [
        "workloads/w.yaml: schedule.recurrenceInterval: must be at least PT1M (Batch's minimum recurrence interval)",
        "workloads/w.yaml: schedule.doNotRunUntil: must include a time zone, e.g. 2027-01-01T02:00:00Z "
        "(Batch schedules run on UTC)",
        "workloads/w.yaml: schedule.doNotRunAfter: must be an ISO 8601 date and time with a time zone, "
        "e.g. 2027-01-01T02:00:00Z",
        "workloads/w.yaml: schedule.startWindow: must be at least PT1M (Batch's minimum start window)",
    ]


def test_schedule_times_in_order_and_durations_typed(problems_of):
    assert problems_of(
        """
        id: nightly
        pool: cpu
        schedule:
          recurrenceInterval: daily
          doNotRunUntil: "2027-01-02T00:00:00Z"
          doNotRunAfter: "2027-01-01T00:00:00Z"
        tasks:
          list: [{id: a, commandLine: "true"}]
        """
    ) == [
        "workloads/w.yaml: schedule.recurrenceInterval: must be a duration such as PT15M (ISO 8601) or 00:15:00",
    ]
    assert problems_of(
        """
        id: nightly
        pool: cpu
        schedule:
          doNotRunUntil: "2027-01-02T00:00:00Z"
          doNotRunAfter: "2027-01-01T00:00:00+00:00"
        tasks:
          list: [{id: a, commandLine: "true"}]
        """
    ) == ["workloads/w.yaml: schedule: doNotRunAfter must be later than doNotRunUntil"]


def test_a_schedule_has_batchforges_job_manager_only(problems_of):
    assert problems_of(
        """
        id: nightly
        pool: cpu
        supersede: keep
        jobManagerTask: {commandLine: "true"}
        schedule: {recurrenceInterval: P1D}
        tasks:
          list: [{id: batchforge-job-manager, commandLine: "true"}]
        """
    ) == [
        "workloads/w.yaml: jobManagerTask: a scheduled workload cannot have one: its job manager is batchforge's "
        "own, which adds the workload's tasks to every job the schedule creates",
        "workloads/w.yaml: supersede: is for one-off jobs: a schedule's running job always finishes with the job "
        "specification it was created from (a change applies from the next job on)",
        "workloads/w.yaml: tasks.list[0].id: task id 'batchforge-job-manager' is already used by batchforge's job "
        "manager task (scheduled workloads)",
    ]


def test_job_manager_task_rules(problems_of):
    assert problems_of(
        """
        id: once
        pool: cpu
        jobPreparationTask: {commandLine: "true"}
        jobManagerTask: {id: jobpreparation, commandLine: "true", requiredSlots: 0, runExclusiv: false}
        tasks:
          list: [{id: a, commandLine: "true"}]
        """
    ) == [
        "workloads/w.yaml: jobManagerTask.requiredSlots: must be >= 1",
        "workloads/w.yaml: jobManagerTask.runExclusiv: unknown key; did you mean 'runExclusive'?",
    ]
    assert problems_of(
        """
        id: once
        pool: cpu
        jobPreparationTask: {commandLine: "true"}
        jobManagerTask: {id: jobpreparation, commandLine: "true"}
        tasks:
          list: [{id: jobmanager, commandLine: "true"}]
        """
    ) == [
        "workloads/w.yaml: jobManagerTask.id: must differ from the job preparation task's id",
    ]


def test_a_valid_schedule_is_typed(write_workload, repo: Path):
    path = write_workload(
        "n.yaml",
        """
        id: nightly
        pool: cpu
        schedule: {recurrenceInterval: P1D, startWindow: PT2H, doNotRunUntil: "2027-01-01T02:00:00Z"}
        tasks:
          list: [{id: a, commandLine: "true"}]
        """,
    )
    schedule = load_workload(path).schedule
    assert schedule is not None
    assert schedule.recurrence_interval == timedelta(days=1)
    assert schedule.start_window == timedelta(hours=2)
    assert schedule.do_not_run_until == datetime(2027, 1, 1, 2, tzinfo=UTC)


def test_a_one_off_job_manager_is_planned_with_batchs_defaults(write_workload, repo: Path, target: BatchTarget):
    path = write_workload(
        "m.yaml",
        """
        id: managed
        pool: cpu
        jobManagerTask:
          commandLine: python3 manage.py
          resourceFiles: [{source: workloads/scripts/run.py, filePath: manage.py}]
          killJobOnCompletion: false
          requiredSlots: 1
        tasks:
          list: [{id: a, commandLine: "true"}]
        """,
    )
    job = plan_job(load_workload(path), target, repo_root=repo).job
    manager = job.job_manager_task
    assert manager is not None
    assert (manager.id, manager.kill_job_on_completion, manager.run_exclusive) == ("jobmanager", False, True)
    assert manager.allow_low_priority_node is True
    assert manager.user_identity.auto_user.scope == "task"
    assert manager.resource_files[0].file_path == "manage.py"
