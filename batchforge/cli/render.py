"""Rich output for people (tables, live progress, the run summary) and JSON for machines."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from pathlib import PurePosixPath
from typing import TextIO

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from batchforge.jobs.schedules import ScheduleStatus
from batchforge.jobs.status import JobStatus
from batchforge.jobs.summary import JobSummary, RunSummary, TaskOutcome
from batchforge.jobs.tasks import TaskRow


def format_duration(value: timedelta | None) -> str:
    if value is None:
        return "-"
    seconds = max(value.total_seconds(), 0.0)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{rest:02d}s"


def status_table(statuses: Sequence[JobStatus]) -> Table:
    table = Table(title="Jobs", title_justify="left")
    table.add_column("job", overflow="fold")
    table.add_column("pool")
    table.add_column("state")
    for name in ("active", "running", "completed", "succeeded", "failed"):
        table.add_column(name, justify="right")
    for status in statuses:
        counts = status.counts
        table.add_row(
            status.job_id,
            status.pool_id,
            status.state,
            str(counts.active),
            str(counts.running),
            str(counts.completed),
            Text(str(counts.succeeded), style="green" if counts.succeeded else ""),
            Text(str(counts.failed), style="bold red" if counts.failed else ""),
        )
    return table


def write_task_rows(out: TextIO, rows: Iterable[TaskRow]) -> int:
    """A plain aligned table, written as the rows arrive (100,000 rows in a rich table take far too long)."""
    header = ("task", "state", "result", "exit", "duration", "node", "failure")
    written = 0
    batch: list[tuple[str, ...]] = []

    def flush() -> None:
        widths = [max(len(row[i]) for row in batch) for i in range(len(header))]
        for row in batch:
            out.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() + "\n")
        batch.clear()

    batch.append(header)
    for row in rows:
        batch.append(
            (
                row.task_id,
                row.state,
                row.result or "-",
                "-" if row.exit_code is None else str(row.exit_code),
                format_duration(row.duration),
                row.node_id or "-",
                row.failure or "-",
            )
        )
        written += 1
        # Columns are aligned per block of rows so output starts at once and memory stays flat.
        if len(batch) >= _ROWS_PER_BLOCK:
            flush()
    if batch:
        flush()
    return written


_ROWS_PER_BLOCK = 1000


def statuses_json(statuses: Sequence[JobStatus], schedules: Sequence[ScheduleStatus] | None = None) -> str:
    """``{"jobs": [...]}``, plus ``"schedules"`` when the account's schedules were read (no job ids given)."""
    document: dict[str, object] = {"jobs": [status.to_json() for status in statuses]}
    if schedules is not None:
        document["schedules"] = [schedule.to_json() for schedule in schedules]
    return json.dumps(document, indent=2, sort_keys=True)


def _log_hint(task: TaskOutcome) -> str:
    """Both logs on one line when they sit side by side on disk: ``<task dir>/{stdout,stderr}.txt``."""
    out, err = PurePosixPath(task.logs.stdout), PurePosixPath(task.logs.stderr)
    if out.parent == err.parent and out.name == "stdout.txt" and err.name == "stderr.txt":
        return f"{out.parent}/{{stdout,stderr}}.txt"
    return f"{task.logs.stdout}  |  {task.logs.stderr}"


def outputs_base(job: JobSummary) -> str:
    """The longest URL folder every output location of the job shares (the job's folder, usually)."""
    locations = [output for task in job.tasks for output in task.output_files]
    if not locations:
        return ""
    split = [location.split("/") for location in locations]
    shared: list[str] = []
    for parts in zip(*(parts[:-1] for parts in split), strict=False):
        if any(part != parts[0] for part in parts):
            break
        shared.append(parts[0])
    return "/".join(shared) + "/"


def _relative_outputs(task: TaskOutcome, base: str) -> str:
    return ", ".join(output.removeprefix(base) for output in task.output_files)


def _task_lines(task: TaskOutcome, base: str) -> list[Text]:
    exit_code = "-" if task.exit_code is None else str(task.exit_code)
    facts = f" {task.task_id}  exit {exit_code}  {format_duration(task.duration)}"
    outputs = f"  outputs: {_relative_outputs(task, base)}" if task.output_files else ""
    if task.succeeded:
        return [Text.assemble("  ", ("ok  ", "green"), facts, ("  " + _log_hint(task), "dim"), (outputs, "cyan"))]
    mark = ("FAIL", "bold red") if task.failed else (task.state, "yellow")
    lines = [Text.assemble("  ", mark, facts)]
    if task.failure:
        lines.append(Text(f"        failure: {task.failure}", style="red"))
    lines.append(Text(f"        stderr: {task.logs.stderr}", style="bold"))
    lines.append(Text(f"        stdout: {task.logs.stdout}"))
    lines.extend(Text(f"        output: {output}") for output in task.output_files)
    return lines


# Enough failed tasks to see what went wrong; the rest are one command away (`batchctl tasks --state failed`).
MAX_FAILED_SHOWN = 20

ListCommand = Callable[[str], str]


def _durations_line(job: JobSummary) -> Text | None:
    durations = sorted(task.duration for task in job.tasks if task.duration is not None)
    if not durations:
        return None
    median = durations[len(durations) // 2]
    return Text(
        f"  task durations: min {format_duration(durations[0])}, median {format_duration(median)}, "
        f"max {format_duration(durations[-1])}",
        style="dim",
    )


def job_summary_renderable(
    job: JobSummary,
    *,
    verbose: bool = False,
    list_failed: ListCommand | None = None,
    downloaded_to: str | None = None,
) -> Group:
    """Counts, durations and the failed (or unfinished) tasks; every task with ``verbose``."""
    headline = Text.assemble(
        ("ok   " if job.ok else "FAIL ", "bold green" if job.ok else "bold red"),
        (job.job_id, "bold"),
        f"  {job.succeeded} succeeded, {job.failed} failed",
        f", {job.unfinished} not finished" if job.unfinished else "",
        f"  ({len(job.tasks)} tasks, wall time {format_duration(job.wall_time)})",
    )
    lines: list[Text] = [headline]
    durations = _durations_line(job)
    if durations is not None:
        lines.append(durations)
    base = outputs_base(job)
    if downloaded_to:
        lines.append(Text(f"  outputs downloaded to {downloaded_to}", style="cyan"))
    elif base:
        lines.append(Text(f"  output files under {base}", style="cyan"))
    shown = list(job.tasks) if verbose else [task for task in job.tasks if not task.succeeded]
    limit = len(shown) if verbose else MAX_FAILED_SHOWN
    for task in shown[:limit]:
        lines.extend(_task_lines(task, base))
    hidden = len(shown) - limit
    if hidden > 0:
        command = list_failed(job.job_id) if list_failed else f"batchctl tasks {job.job_id} --state failed"
        lines.append(Text(f"  ... and {hidden} more; list them with: {command}", style="bold"))
    return Group(*lines)


def print_run_summary(
    console: Console, summary: RunSummary, *, verbose: bool = False, list_failed: ListCommand | None = None
) -> None:
    console.rule("Summary")
    for problem in summary.problems:
        console.print(Text(problem, style="bold red"))
    for warning in summary.warnings:
        console.print(Text(f"warning: {warning}", style="yellow"))
    for job in summary.jobs:
        renderable = job_summary_renderable(
            job, verbose=verbose, list_failed=list_failed, downloaded_to=summary.downloads.get(job.job_id)
        )
        console.print(renderable, soft_wrap=True)
    total = sum(len(job.tasks) for job in summary.jobs)
    failed = sum(job.failed for job in summary.jobs)
    succeeded = sum(job.succeeded for job in summary.jobs)
    verdict = Text("all tasks succeeded", style="bold green") if summary.ok else Text("run failed", style="bold red")
    console.print(
        Text.assemble(verdict, f": {len(summary.jobs)} job(s), {total} task(s), {succeeded} succeeded, {failed} failed")
    )
