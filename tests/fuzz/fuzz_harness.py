"""Runs one `batchctl` invocation in a forked child and measures it: exit code, output, time, peak memory.

Forking after the imports keeps each case cheap (no interpreter start-up) and gives each case its own
address space, so its peak RSS growth (``wait4``'s ``ru_maxrss`` minus the RSS at the start of the case) and
a hang (killed after :data:`HARD_TIMEOUT_S`) are measured per case. The case's time is its CPU time
(``wait4``'s user + system time), which other work on a loaded machine does not stretch as it does wall time.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from batchforge.cli.app import app

HARD_TIMEOUT_S = 30.0
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Outcome:
    exit_code: int | None
    stdout: str
    stderr: str
    seconds: float  # wall time, in the child
    rss_growth_mb: float
    hung: bool = False
    cpu_seconds: float = 0.0  # the child's user + system time


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def run_batchctl(args: list[str]) -> Outcome:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the case
        os.close(read_end)
        try:
            start_rss = _rss_kb()
            started = time.perf_counter()
            result = CliRunner().invoke(app, args, prog_name="batchctl")
            payload = {
                "exit_code": result.exit_code,
                "stdout": result.stdout,
                "stderr": result.stderr,
                "seconds": time.perf_counter() - started,
                "start_rss_kb": start_rss,
                "exception": None
                if result.exception is None or isinstance(result.exception, SystemExit)
                else repr(result.exception),
            }
            with os.fdopen(write_end, "w") as out:
                json.dump(payload, out)
        finally:
            os._exit(0)
    os.close(write_end)
    deadline = time.monotonic() + HARD_TIMEOUT_S
    while True:
        finished, _status, usage = os.wait4(pid, os.WNOHANG)
        if finished:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.wait4(pid, 0)
            os.close(read_end)
            return Outcome(None, "", "", HARD_TIMEOUT_S, 0.0, hung=True)
        time.sleep(0.01)
    with os.fdopen(read_end) as source:
        text = source.read()
    data = json.loads(text) if text else {"exit_code": None, "stdout": "", "stderr": "child died", "seconds": 0}
    stderr = data["stderr"] + (f"\nunhandled: {data['exception']}" if data.get("exception") else "")
    growth = max(0, usage.ru_maxrss - int(data.get("start_rss_kb", 0))) / 1024
    cpu = usage.ru_utime + usage.ru_stime
    return Outcome(data["exit_code"], data["stdout"], stderr, float(data["seconds"]), growth, cpu_seconds=cpu)


def copy_repo(target: Path) -> Path:
    """The committed input files (stacks, workloads and what they read) in a scratch repository."""
    for name in ["Pulumi.yaml", *sorted(path.name for path in REPO.glob("Pulumi.*.yaml"))]:
        shutil.copy2(REPO / name, target / name)
    for folder in ("workloads", "start-tasks"):
        shutil.copytree(REPO / folder, target / folder)
    return target


def committed_inputs() -> list[str]:
    """Every committed input file: stack configs and workloads, repository-relative."""
    stacks = sorted(path.name for path in REPO.glob("Pulumi.*.yaml"))
    workloads = sorted(f"workloads/{path.name}" for path in (REPO / "workloads").glob("*.yaml"))
    return [*stacks, *workloads]
