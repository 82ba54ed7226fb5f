"""The job schedules table of ``batchctl status``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.table import Table
from rich.text import Text

from batchforge.jobs.schedules import ScheduleStatus


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value is not None else "-"


def schedule_table(schedules: Sequence[ScheduleStatus]) -> Table:
    table = Table(title="Job schedules", title_justify="left")
    for name in ("schedule", "state", "every", "last run", "next run", "last job"):
        table.add_column(name, overflow="fold")
    for status in schedules:
        style = "bold red" if status.last_result.startswith("failed") else ""
        last = f"{status.last_job_id}: {status.last_result}" if status.last_job_id else status.last_result
        table.add_row(
            status.schedule_id,
            status.state,
            status.recurrence,
            _when(status.last_run),
            _when(status.next_run),
            Text(last, style=style),
        )
    return table
