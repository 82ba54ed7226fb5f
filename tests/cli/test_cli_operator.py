"""Operator experience against the local service: blocked work, downloads, logs after the node, restarts."""

from __future__ import annotations

import re
import time
from datetime import timedelta

from cli_fake_batch import FakeBatch, job, task
from rich.console import Console
from test_cli_local_up import _repo, _up
from typer.testing import CliRunner

from batchforge.cli.app import app
from batchforge.cli.render import print_run_summary
from batchforge.jobs.progress import JobProgress
from batchforge.jobs.status import JobStatus
from batchforge.jobs.summary import RunSummary, summarize_job
from batchforge.localbatch.testing import LocalBatch
from batchforge.submission.result import TaskCounts

runner = CliRunner()

_BLOCKED = """\
id: blocked
pool: POOL
tasks:
  list:
    - id: first
      commandLine: /bin/sh -c 'exit 3'
    - id: second
      commandLine: /bin/sh -c 'echo never'
      dependsOn: {ids: [first]}
    - id: third
      commandLine: /bin/sh -c 'echo never'
      dependsOn: {ids: [second]}
"""

_SWEEP = """\
id: sweep
pool: POOL
tasks:
  sweep:
    parameters: [{name: n, range: {start: 0, stop: 4}}]
    task:
      id: "s-{index}"
      commandLine: /bin/sh -c 'mkdir -p out; echo {n} > out/r-{n}.txt'
      outputFiles: [{pattern: "out/*.txt", destination: results}]
"""


def test_a_failed_task_with_dependents_stops_the_run_and_names_the_blocking(tmp_path, local_batch: LocalBatch):
    root = _repo(tmp_path, {"blocked.yaml": _BLOCKED})
    started = time.monotonic()
    result = _up(root, local_batch.data_dir)
    assert time.monotonic() - started < 30, "the run must not wait for its timeout"
    assert result.exit_code == 1, result.output
    assert "2 task(s) can never run" in result.stdout
    assert "second: waits for first (failed)" in result.stdout
    assert "third: waits for second (blocked)" in result.stdout


def test_download_fetches_a_sweeps_outputs(tmp_path):
    root = _repo(tmp_path, {"sweep.yaml": _SWEEP})
    data_dir = tmp_path / "data"
    kept = _up(root, data_dir, "--keep")
    try:
        assert kept.exit_code == 0, kept.output
        job_id = re.search(r"(sweep-[0-9a-f]+)", kept.stdout).group(1)
        dest = tmp_path / "dl"
        local = ["--local", "--data-dir", str(data_dir)]
        result = runner.invoke(app, ["download", job_id, *local, "--prefix", "results/", "--dest", str(dest)])
        assert result.exit_code == 0, result.output
        got = sorted(path.name for path in (dest / job_id / "results").iterdir())
        assert got == [f"r-{n}.txt" for n in range(5)]
        assert (dest / job_id / "results" / "r-3.txt").read_text() == "3\n"
        one = runner.invoke(app, ["download", job_id, *local, "--task", "s-1", "--dest", str(tmp_path / "one")])
        assert one.exit_code == 0, one.output
        assert (tmp_path / "one" / job_id / "logs" / "s-1" / "stdout.txt").exists()
        listed = runner.invoke(app, ["tasks", job_id, *local, "--state", "succeeded"])
        assert listed.exit_code == 0, listed.output
        assert len(listed.stdout.strip().splitlines()) == 6  # header + 5 tasks
        missing = runner.invoke(app, ["download", "nope", *local])
        assert missing.exit_code == 3, missing.output
    finally:
        runner.invoke(app, ["local", "down", "--data-dir", str(data_dir)])


def test_logs_of_a_finished_task_after_its_node_is_gone(tmp_path):
    root = _repo(tmp_path, {"sweep.yaml": _SWEEP})
    data_dir = tmp_path / "data"
    kept = _up(root, data_dir, "--keep")
    try:
        assert kept.exit_code == 0, kept.output
        job_id = re.search(r"(sweep-[0-9a-f]+)", kept.stdout).group(1)
        pool_id = re.search(r"pool \S+ -> (\S+) \(created\)", kept.stdout).group(1)
        local = ["--local", "--data-dir", str(data_dir)]
        from batchforge.localrun.state import find_running_service
        from batchforge.submission.client import make_batch_client

        client = make_batch_client(find_running_service(data_dir.resolve()).target())
        client.begin_delete_pool(pool_id, polling_interval=1).wait(60)
        result = runner.invoke(app, ["logs", job_id, "s-2", *local])
        assert result.exit_code == 0, result.output
        assert result.stdout == ""  # the task wrote its result to a file; stdout.txt exists and is empty
        err = runner.invoke(app, ["logs", job_id, "s-2", *local, "--stderr"])
        assert err.exit_code == 0, err.output
    finally:
        runner.invoke(app, ["local", "down", "--data-dir", str(data_dir)])


def test_a_restart_keeps_the_storage_endpoint(local_batch_factory):
    batch = local_batch_factory()
    before = batch.blob_endpoint
    batch.shutdown()
    batch.launch()
    assert batch.blob_endpoint == before


def test_a_5000_task_summary_is_short_and_points_to_the_rest():
    tasks = [task(f"t-{i:04d}") for i in range(4970)]
    tasks += [
        task(f"f-{i:02d}", exit_code=1, failure={"category": "usererror", "code": "FailureExitCode"}) for i in range(30)
    ]
    fake = FakeBatch(jobs={"j1": job("j1", state="completed")}, tasks={"j1": tasks})
    console = Console(width=240, record=True, color_system=None)
    print_run_summary(console, RunSummary(jobs=(summarize_job(fake, "j1"),)))
    lines = console.export_text().strip().splitlines()
    assert len(lines) < 40 + 20 * 3  # 20 failed tasks of 4 lines each at most, plus the counts
    assert "... and 10 more; list them with: batchctl tasks j1 --state failed" in lines[-2]


def test_progress_without_a_terminal_prints_plain_lines_every_few_seconds():
    console = Console(width=240, record=True, color_system=None, force_terminal=False)
    now = [0.0]
    progress = JobProgress(console, plain=True, plain_every_s=5, clock=lambda: now[0])
    with progress:
        for second in range(0, 12):
            now[0] = float(second)
            done = second * 100
            counts = TaskCounts(active=5000 - done - 4, running=4, completed=done, succeeded=done, failed=0)
            progress.update([JobStatus("j1", "active", "p", counts)])
    lines = console.export_text().strip().splitlines()
    assert len(lines) == 3  # at 0 s, 5 s and 10 s
    assert lines[1].startswith("progress j1: 500/5000 (10%)")
    assert "rate 100.0/s eta 45s" in lines[1]


def test_durations_line_in_the_summary():
    fake = FakeBatch(jobs={"j1": job("j1", state="completed")}, tasks={"j1": [task("a"), task("b")]})
    summary = summarize_job(fake, "j1")
    assert summary.tasks[0].duration == timedelta(seconds=2.5)
    console = Console(width=240, record=True, color_system=None)
    print_run_summary(console, RunSummary(jobs=(summary,)))
    assert "task durations: min 2.5s, median 2.5s, max 2.5s" in console.export_text()


_BIG_SWEEP = """\
id: big
pool: POOL
uploadLogs: false
tasks:
  sweep:
    parameters: [{name: n, range: {start: 0, stop: 4999}}]
    task:
      id: "b-{index}"
      commandLine: "true"
"""


def test_a_real_5000_task_run_prints_a_short_summary_and_plain_progress_lines(tmp_path, local_batch: LocalBatch):
    root = _repo(tmp_path, {"big.yaml": _BIG_SWEEP})
    result = _up(root, local_batch.data_dir, "--timeout", "240")
    assert result.exit_code == 0, result.output[-3000:]
    lines = result.stdout.strip().splitlines()
    summary = lines[next(i for i, line in enumerate(lines) if line.startswith("submitted:")) + 1 :]
    summary = [line for line in summary if not line.startswith("progress ")]
    assert len(summary) < 40, "\n".join(summary)
    assert "all tasks succeeded: 1 job(s), 5000 task(s), 5000 succeeded, 0 failed" in result.stdout
    # CliRunner is not a terminal: progress comes as plain lines, not a live bar.
    assert any(re.match(r"progress big-[0-9a-f]+: \d+/5000", line) for line in lines), result.stdout[-2000:]
