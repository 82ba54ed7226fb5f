"""Progress per job for commands that follow jobs (`batchctl wait`, `submit --wait`, `local up`).

On a terminal: a live bar per job with its counts, rate and ETA. Without one (CI logs, files) a live
display prints nothing until it stops, so instead one plain line per job every few seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from batchforge.jobs.status import JobStatus

PLAIN_EVERY_S = 5.0


@dataclass
class _Rate:
    """Tasks completed per second since the job was first seen, and the time left at that pace."""

    started: float
    completed_at_start: int

    def per_second(self, completed: int, now: float) -> float | None:
        elapsed = now - self.started
        done = completed - self.completed_at_start
        return done / elapsed if elapsed > 0 and done > 0 else None

    def eta(self, completed: int, total: int, now: float) -> float | None:
        rate = self.per_second(completed, now)
        return (total - completed) / rate if rate else None


def _clock_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = round(seconds)
    minutes, rest = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{rest:02d}s" if hours else (f"{minutes}m{rest:02d}s" if minutes else f"{rest}s")


def _rate_text(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1f}/s"


def plain_line(status: JobStatus, rate: float | None, eta: float | None) -> str:
    counts = status.counts
    total = max(counts.total, 1)
    return (
        f"progress {status.job_id}: {counts.completed}/{counts.total} ({100 * counts.completed // total}%) "
        f"active {counts.active} running {counts.running} ok {counts.succeeded} failed {counts.failed} "
        f"rate {_rate_text(rate)} eta {_clock_text(eta)}" + (" done" if status.finished else "")
    )


class JobProgress:
    """Live bars on a terminal, periodic plain lines elsewhere; ``update`` takes every poll's statuses."""

    def __init__(
        self,
        console: Console,
        *,
        plain: bool | None = None,
        plain_every_s: float = PLAIN_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._console = console
        self._plain = (not console.is_terminal) if plain is None else plain
        self._every = plain_every_s
        self._clock = clock
        self._last_plain: float | None = None
        self._rates: dict[str, _Rate] = {}
        self._reported_done: set[str] = set()
        self._progress = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("active {task.fields[active]}"),
            TextColumn("running {task.fields[running]}"),
            TextColumn("[green]ok {task.fields[succeeded]}"),
            TextColumn("[red]failed {task.fields[failed]}"),
            TextColumn("{task.fields[rate]}"),
            TextColumn("eta {task.fields[eta]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._rows: dict[str, TaskID] = {}

    def __enter__(self) -> JobProgress:
        if not self._plain:
            self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if not self._plain:
            self._progress.stop()

    def _rate(self, status: JobStatus, now: float) -> tuple[float | None, float | None]:
        rate = self._rates.setdefault(status.job_id, _Rate(now, status.counts.completed))
        counts = status.counts
        return rate.per_second(counts.completed, now), rate.eta(counts.completed, counts.total, now)

    def update(self, statuses: Sequence[JobStatus]) -> None:
        now = self._clock()
        if self._plain:
            self._plain_update(statuses, now)
            return
        for status in statuses:
            counts = status.counts
            rate, eta = self._rate(status, now)
            fields = {
                "active": counts.active,
                "running": counts.running,
                "succeeded": counts.succeeded,
                "failed": counts.failed,
                "rate": _rate_text(rate),
                "eta": _clock_text(eta),
            }
            row = self._rows.get(status.job_id)
            if row is None:
                row = self._progress.add_task(status.job_id, total=max(counts.total, 1), **fields)
                self._rows[status.job_id] = row
            self._progress.update(row, total=max(counts.total, 1), completed=counts.completed, **fields)
            if status.finished:
                self._progress.stop_task(row)

    def _plain_update(self, statuses: Sequence[JobStatus], now: float) -> None:
        due = self._last_plain is None or now - self._last_plain >= self._every
        newly_done = [s for s in statuses if s.finished and s.job_id not in self._reported_done]
        rates = {status.job_id: self._rate(status, now) for status in statuses}
        if not due and not newly_done:
            return
        shown = statuses if due else newly_done
        for status in shown:
            if status.finished and status.job_id in self._reported_done:
                continue
            rate, eta = rates[status.job_id]
            self._console.print(plain_line(status, rate, eta), markup=False, highlight=False, soft_wrap=True)
            if status.finished:
                self._reported_done.add(status.job_id)
        if due:
            self._last_plain = now
