"""A live progress bar per job, for commands that follow jobs (`batchctl wait`, `submit --wait`, `local up`)."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from batchforge.jobs.status import JobStatus


class JobProgress:
    """A live progress bar per job with its active/running/completed/failed task counts."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("active {task.fields[active]}"),
            TextColumn("running {task.fields[running]}"),
            TextColumn("[green]ok {task.fields[succeeded]}"),
            TextColumn("[red]failed {task.fields[failed]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._rows: dict[str, TaskID] = {}

    def __enter__(self) -> JobProgress:
        self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._progress.stop()

    def update(self, statuses: Sequence[JobStatus]) -> None:
        for status in statuses:
            counts = status.counts
            fields = {
                "active": counts.active,
                "running": counts.running,
                "succeeded": counts.succeeded,
                "failed": counts.failed,
            }
            row = self._rows.get(status.job_id)
            if row is None:
                row = self._progress.add_task(status.job_id, total=max(counts.total, 1), **fields)
                self._rows[status.job_id] = row
            self._progress.update(row, total=max(counts.total, 1), completed=counts.completed, **fields)
            if status.finished:
                self._progress.stop_task(row)
