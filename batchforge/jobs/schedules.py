"""The account's job schedules for ``batchctl status``: state, last and next run, and the last job's result."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from azure.core.exceptions import ResourceNotFoundError


def _text(value: object) -> str:
    return str(value.value if isinstance(value, Enum) else value).lower() if value is not None else ""


@dataclass(frozen=True)
class ScheduleStatus:
    schedule_id: str
    state: str
    interval: timedelta | None
    last_job_id: str | None
    last_run: datetime | None
    next_run: datetime | None
    last_result: str

    @property
    def recurrence(self) -> str:
        return "once" if self.interval is None else str(self.interval)

    def to_json(self) -> dict[str, Any]:
        """The schedule as ``batchctl status --json`` prints it: ISO 8601 times and interval, null when absent."""
        from batchforge.config.model import iso_duration

        return {
            "id": self.schedule_id,
            "state": self.state,
            "recurrence_interval": iso_duration(self.interval) if self.interval is not None else None,
            "last_job_id": self.last_job_id,
            "last_run": self.last_run.isoformat() if self.last_run is not None else None,
            "next_run": self.next_run.isoformat() if self.next_run is not None else None,
            "last_result": self.last_result,
        }


def _last_result(client: Any, job_id: str | None) -> tuple[datetime | None, str]:
    """When the schedule's most recent job was created, and how it went: running, or its tasks' outcome."""
    if job_id is None:
        return None, "no run yet"
    try:
        job = client.get_job(job_id)
        counts = client.get_job_task_counts(job_id).task_counts
    except ResourceNotFoundError:
        return None, "job deleted"
    state = _text(job.state)
    outcome = f"{counts.succeeded} succeeded, {counts.failed} failed"
    if state != "completed":
        return job.creation_time, f"{state}: {outcome}"
    return job.creation_time, ("failed: " if counts.failed else "succeeded: ") + outcome


def read_schedules(client: Any) -> list[ScheduleStatus]:
    found = []
    for schedule in client.list_job_schedules():
        info = schedule.execution_info
        recent = info.recent_job.id if info is not None and info.recent_job is not None else None
        last_run, result = _last_result(client, recent)
        found.append(
            ScheduleStatus(
                schedule_id=str(schedule.id),
                state=_text(schedule.state),
                interval=schedule.schedule.recurrence_interval if schedule.schedule else None,
                last_job_id=recent,
                last_run=last_run,
                next_run=info.next_run_time if info is not None else None,
                last_result=result,
            )
        )
    return sorted(found, key=lambda status: status.schedule_id)
