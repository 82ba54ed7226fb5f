"""Rich output for people (tables, live progress, the run summary) and JSON for machines."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from pathlib import PurePosixPath

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from batchforge.jobs.status import JobStatus
from batchforge.jobs.summary import JobSummary, RunSummary, TaskOutcome


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


def statuses_json(statuses: Sequence[JobStatus]) -> str:
    return json.dumps({"jobs": [status.to_json() for status in statuses]}, indent=2, sort_keys=True)


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
    mark = ("FAIL", "bold red") if task.failed else (task.state[:4].ljust(4), "yellow")
    lines = [Text.assemble("  ", mark, facts)]
    if task.failure:
        lines.append(Text(f"        failure: {task.failure}", style="red"))
    lines.append(Text(f"        stderr: {task.logs.stderr}", style="bold"))
    lines.append(Text(f"        stdout: {task.logs.stdout}"))
    lines.extend(Text(f"        output: {output}") for output in task.output_files)
    return lines


def job_summary_renderable(job: JobSummary) -> Group:
    headline = Text.assemble(
        ("ok   " if job.ok else "FAIL ", "bold green" if job.ok else "bold red"),
        (job.job_id, "bold"),
        f"  {job.succeeded} succeeded, {job.failed} failed",
        f", {job.unfinished} not finished" if job.unfinished else "",
        f"  ({len(job.tasks)} tasks, wall time {format_duration(job.wall_time)})",
    )
    lines: list[Text] = [headline]
    base = outputs_base(job)
    if base:
        lines.append(Text(f"  output files under {base}", style="cyan"))
    for task in job.tasks:
        lines.extend(_task_lines(task, base))
    return Group(*lines)


def print_run_summary(console: Console, summary: RunSummary) -> None:
    console.rule("Summary")
    for problem in summary.problems:
        console.print(Text(problem, style="bold red"))
    for warning in summary.warnings:
        console.print(Text(f"warning: {warning}", style="yellow"))
    for job in summary.jobs:
        console.print(job_summary_renderable(job), soft_wrap=True)
    total = sum(len(job.tasks) for job in summary.jobs)
    failed = sum(job.failed for job in summary.jobs)
    succeeded = sum(job.succeeded for job in summary.jobs)
    verdict = Text("all tasks succeeded", style="bold green") if summary.ok else Text("run failed", style="bold red")
    console.print(
        Text.assemble(verdict, f": {len(summary.jobs)} job(s), {total} task(s), {succeeded} succeeded, {failed} failed")
    )
