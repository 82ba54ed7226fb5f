"""Status, waiting, summaries and logs from typed values and a scripted fake service (no network)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import typer
from cli_fake_batch import FakeBatch, counts, job, task
from rich.console import Console

from batchforge.cli.errors import CliError, ExitCode
from batchforge.cli.render import format_duration, print_run_summary, status_table, statuses_json
from batchforge.cli.task_logs import follow_log, last_lines, read_log
from batchforge.jobs.progress import JobProgress
from batchforge.jobs.status import read_statuses
from batchforge.jobs.summary import RunSummary, summarize_job
from batchforge.jobs.waiting import wait_for_jobs


def _console() -> Console:
    return Console(width=200, record=True, color_system=None)


def test_status_table_and_json_show_every_count():
    fake = FakeBatch(
        jobs={"j1": job("j1", workload="hello"), "j2": job("j2", state="completed", pool="pool-b")},
        job_counts={"j1": [counts(active=3, running=2, succeeded=4, failed=1)], "j2": [counts(succeeded=5)]},
    )
    statuses = read_statuses(fake)
    console = _console()
    console.print(status_table(statuses))
    text = console.export_text()
    assert "j1" in text and "pool-a" in text and "j2" in text and "completed" in text
    row = next(line for line in text.splitlines() if "j1" in line)
    assert [cell.strip() for cell in row.split("│")[4:9]] == ["3", "2", "5", "4", "1"]
    data = json.loads(statuses_json(statuses))
    first = data["jobs"][0]
    assert first["job_id"] == "j1" and first["workload"] == "hello" and first["finished"] is False
    assert first["counts"] == {"active": 3, "running": 2, "completed": 5, "succeeded": 4, "failed": 1, "total": 10}
    assert data["jobs"][1]["finished"] is True


def test_unknown_job_is_a_clean_not_found():
    with pytest.raises(CliError) as caught:
        read_statuses(FakeBatch(), ["nope"])
    assert caught.value.message == "job 'nope' not found"
    assert caught.value.exit_code == ExitCode.NOT_FOUND


def test_wait_polls_until_every_task_completed_and_reports_each_round():
    fake = FakeBatch(
        jobs={"j1": job("j1")},
        job_counts={"j1": [counts(active=2), counts(running=2), counts(running=1, succeeded=1), counts(succeeded=2)]},
    )
    rounds: list[int] = []
    final = wait_for_jobs(
        fake, ["j1"], timeout=None, on_update=lambda s: rounds.append(s[0].counts.completed), sleep=lambda _: None
    )
    assert rounds == [0, 0, 1, 2]
    assert final[0].finished and not final[0].has_failures


def test_wait_times_out_with_the_pending_jobs_named():
    fake = FakeBatch(jobs={"j1": job("j1")}, job_counts={"j1": [counts(running=1)]})
    ticks = iter(range(100))
    with pytest.raises(CliError) as caught:
        wait_for_jobs(fake, ["j1"], timeout=3, clock=lambda: next(ticks), sleep=lambda _: None)
    assert caught.value.exit_code == ExitCode.TIMED_OUT
    assert caught.value.message == "timed out after 3s waiting for: j1"


def test_progress_renders_counts_per_job():
    fake = FakeBatch(jobs={"j1": job("j1")}, job_counts={"j1": [counts(active=1, running=1, succeeded=2, failed=1)]})
    console = _console()
    with JobProgress(console) as progress:
        progress.update(read_statuses(fake))
    text = console.export_text()
    assert "j1" in text and "3/5" in text and "active 1" in text and "running 1" in text
    assert "ok 2" in text and "failed 1" in text


def test_summary_points_failed_tasks_to_their_stderr_and_lists_outputs():
    fake = FakeBatch(
        jobs={"j1": job("j1", state="completed", workload="sweep")},
        tasks={
            "j1": [
                task("t-ok", output_container="http://127.0.0.1:1/acct/outputs?sv=secret&sig=abc"),
                task("t-bad", exit_code=3, failure={"category": "usererror", "code": "FailureExitCode"}),
            ]
        },
    )
    summary = summarize_job(fake, "j1")
    assert [t.task_id for t in summary.tasks] == ["t-bad", "t-ok"]
    assert summary.succeeded == 1 and summary.failed == 1 and not summary.ok
    assert summary.tasks[1].duration == timedelta(seconds=2.5)
    assert summary.tasks[1].output_files == ("http://127.0.0.1:1/acct/outputs/t-ok/out",)
    console = _console()
    print_run_summary(console, RunSummary(jobs=(summary,)), verbose=True)
    text = console.export_text()
    assert "FAIL j1  1 succeeded, 1 failed" in text
    assert "stderr: batchctl logs j1 t-bad --stderr" in text
    assert "failure: FailureExitCode" in text
    assert "exit 3" in text
    assert "secret" not in text and "sig=" not in text
    assert "output files under http://127.0.0.1:1/acct/outputs/t-ok/" in text
    assert "ok   t-ok  exit 0  2.5s  batchctl logs j1 t-ok  |  batchctl logs j1 t-ok --stderr  outputs: out" in text
    assert "run failed: 1 job(s), 2 task(s), 1 succeeded, 1 failed" in text


def test_summary_of_a_fully_successful_run_says_so():
    fake = FakeBatch(jobs={"j1": job("j1", state="completed")}, tasks={"j1": [task("a"), task("b")]})
    summary = RunSummary(jobs=(summarize_job(fake, "j1"),))
    assert summary.ok
    console = _console()
    print_run_summary(console, summary)
    assert "all tasks succeeded: 1 job(s), 2 task(s), 2 succeeded, 0 failed" in console.export_text()


def test_a_run_with_no_jobs_or_with_problems_is_not_ok():
    assert not RunSummary(jobs=()).ok
    fake = FakeBatch(jobs={"j1": job("j1", state="completed")}, tasks={"j1": [task("a")]})
    assert not RunSummary(jobs=(summarize_job(fake, "j1"),), problems=("pool p: start task failed",)).ok


@pytest.mark.parametrize(("seconds", "text"), [(0.25, "0.2s"), (59.94, "59.9s"), (61, "1m01s"), (3725, "1h02m05s")])
def test_durations_read_naturally(seconds, text):
    assert format_duration(timedelta(seconds=seconds)) == text
    assert format_duration(None) == "-"


def test_logs_whole_tail_and_missing_file():
    fake = FakeBatch(
        jobs={"j1": job("j1")},
        tasks={"j1": [task("t1"), task("t2", state="active")]},
        files={("j1", "t1", "stdout.txt"): [b"one\ntwo\nthree\n"], ("j1", "t1", "stderr.txt"): [b"boom\n"]},
    )
    assert read_log(fake, "j1", "t1", stderr=False, tail=None) == b"one\ntwo\nthree\n"
    assert read_log(fake, "j1", "t1", stderr=False, tail=2) == b"two\nthree\n"
    assert read_log(fake, "j1", "t1", stderr=True, tail=None) == b"boom\n"
    with pytest.raises(CliError) as caught:
        read_log(fake, "j1", "t2", stderr=False, tail=None)
    assert caught.value.message == "task 't2' in job 'j1' has no stdout.txt yet (task state: active)"
    with pytest.raises(CliError) as unknown_task:
        read_log(fake, "j1", "t9", stderr=False, tail=None)
    assert unknown_task.value.message == "task 't9' not found in job 'j1'"
    with pytest.raises(CliError) as unknown_job:
        read_log(fake, "j9", "t1", stderr=False, tail=None)
    assert unknown_job.value.message == "job 'j9' not found"


def test_follow_prints_only_new_bytes_until_the_task_completes():
    fake = FakeBatch(
        jobs={"j1": job("j1")},
        tasks={"j1": [task("t1", state="running")]},
        files={("j1", "t1", "stdout.txt"): [b"a\nb\n", b"a\nb\nc\n", b"a\nb\nc\n", b"a\nb\nc\nd\n"]},
        task_states={("j1", "t1"): ["running", "running", "running", "running", "completed"]},
    )
    chunks = list(follow_log(fake, "j1", "t1", stderr=False, tail=1, sleep=lambda _: None))
    assert chunks == [b"b\n", b"c\n", b"d\n"]
    # After the first read only new bytes are asked for, from where the last read ended.
    assert fake.ranges == [None, "bytes=4-", "bytes=6-", "bytes=6-"]


def test_last_lines_edges():
    assert last_lines(b"x\ny", 1) == b"y"
    assert last_lines(b"x\ny\n", 0) == b""
    assert last_lines(b"", 3) == b""


def test_service_and_credential_errors_become_one_line():
    from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError
    from rich.console import Console as RichConsole

    from batchforge.cli.errors import reported_errors

    def message_of(error: Exception) -> tuple[int, str]:
        console = RichConsole(width=300, record=True, color_system=None)
        try:
            with reported_errors(console):
                raise error
        except typer.Exit as stopped:
            return stopped.exit_code, console.export_text().strip()
        raise AssertionError("not reported")

    no_identity = ClientAuthenticationError(
        message="DefaultAzureCredential failed to retrieve a token.\nAttempted: ..."
    )
    assert message_of(no_identity) == (
        ExitCode.SERVICE_ERROR,
        "error: authentication failed: DefaultAzureCredential failed to retrieve a token. "
        "(sign in with `az login` (CI: workload identity federation), or use --local for the local service)",
    )
    unreachable = ServiceRequestError("Connection refused\nmore detail")
    assert message_of(unreachable) == (ExitCode.SERVICE_ERROR, "error: cannot reach the service: Connection refused")
