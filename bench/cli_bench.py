"""The CLI's own overhead on `status` and `tasks` for a 100,000-task job, printed as figures (not a test).

    .venv/bin/python bench/cli_bench.py [--tasks 100000]

A job with N tasks is added to a local service whose pool has no nodes (nothing runs). Each command runs
in-process through the CLI (typer's runner); the baseline from the same run is the raw SDK doing the
same service calls (task counts; listing every task with the same $select) without any CLI on top, so
the difference is the CLI's own cost. Target: CLI overhead under 2 s for each command.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from azure.batch import models as m
from typer.testing import CliRunner

from batchforge.cli.app import app
from batchforge.localbatch.testing import LocalBatch


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, LocalBatch.start(Path(folder)) as batch:
        client = batch.batch_client()
        job_id = "bench-cli"
        client.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id="no-nodes")))
        tasks = [m.BatchTaskCreateOptions(id=f"t{i:06d}", command_line="true") for i in range(args.tasks)]
        client.create_tasks(job_id, tasks, max_concurrency=8)
        runner = CliRunner()
        local = ["--local", "--data-dir", str(batch.data_dir)]

        def cli(*command: str) -> None:
            result = runner.invoke(app, [*command, *local])
            assert result.exit_code == 0, result.output

        raw_status = _timed(lambda: client.get_job_task_counts(job_id))
        cli_status = _timed(lambda: cli("status", job_id))
        raw_tasks = _timed(
            lambda: sum(1 for _ in client.list_tasks(job_id, select=["id", "state", "executionInfo", "nodeInfo"]))
        )
        cli_tasks = _timed(lambda: cli("tasks", job_id))
        print(f"job with {args.tasks} tasks")
        print(f"status: cli {cli_status:.2f}s, raw SDK {raw_status:.2f}s, overhead {cli_status - raw_status:.2f}s")
        print(f"tasks:  cli {cli_tasks:.2f}s, raw SDK {raw_tasks:.2f}s, overhead {cli_tasks - raw_tasks:.2f}s")


if __name__ == "__main__":
    main()
