"""Node execution without storage: folder layout, environment, exit codes, wall clock, cancellation.

Every fact about the environment and folders is read from what the task process itself printed.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from batchforge.localbatch.execution import NodeContext, TaskRun, kill_node_processes, prepare_node, run_task, task_dir

# A task that prints its environment and working directory as JSON to stdout.
PRINT_ENV = f"{shlex.quote(sys.executable)} -c " + shlex.quote(
    "import json, os; print(json.dumps({'env': dict(os.environ), 'cwd': os.getcwd()}))"
)


def printed(outcome_dir: Path) -> dict:
    return json.loads((outcome_dir / "stdout.txt").read_text())


def run(node: NodeContext, task: TaskRun, **kwargs):
    return asyncio.run(run_task(node, task, **kwargs))


def test_folder_layout_and_environment_of_every_task_kind(execution_node: NodeContext) -> None:
    root = execution_node.node_root
    prepare_node(execution_node)
    assert sorted(p.name for p in root.iterdir()) == ["shared", "startup", "workitems"]

    start = run(
        execution_node, TaskRun(kind="start", job_id=None, task_id="starttask", spec={"commandLine": PRINT_ENV})
    )
    prep = run(
        execution_node,
        TaskRun(kind="jobprep", job_id="job-7", task_id="jobpreparation", spec={"commandLine": PRINT_ENV}),
    )
    task = run(
        execution_node,
        TaskRun(kind="task", job_id="job-7", task_id="task-1", spec={"commandLine": PRINT_ENV}, retry_count=2),
    )
    release = run(
        execution_node,
        TaskRun(kind="jobrelease", job_id="job-7", task_id="jobrelease", spec={"commandLine": PRINT_ENV}),
    )

    assert start.task_dir == root / "startup"
    assert prep.task_dir == root / "workitems" / "job-7" / "job-1" / "jobpreparation"
    assert task.task_dir == root / "workitems" / "job-7" / "job-1" / "task-1"
    assert release.task_dir == root / "workitems" / "job-7" / "job-1" / "jobrelease"
    for outcome in (start, prep, task, release):
        assert outcome.result == "success", outcome.failure_info
        assert outcome.exit_code == 0
        assert outcome.start_time <= outcome.end_time
        assert (outcome.task_dir / "stderr.txt").read_text() == ""
        seen = printed(outcome.task_dir)
        assert seen["cwd"] == str(outcome.task_dir / "wd")
        env = seen["env"]
        assert env["AZ_BATCH_ACCOUNT_NAME"] == "localaccount"
        assert env["AZ_BATCH_ACCOUNT_URL"] == "http://127.0.0.1:8123"
        assert env["AZ_BATCH_POOL_ID"] == "pool-a"
        assert env["AZ_BATCH_NODE_ID"] == "tvm-1_1-local"
        assert env["AZ_BATCH_NODE_IS_DEDICATED"] == "true"
        assert env["AZ_BATCH_NODE_ROOT_DIR"] == str(root)
        assert env["AZ_BATCH_NODE_SHARED_DIR"] == str(root / "shared")
        assert env["AZ_BATCH_NODE_STARTUP_DIR"] == str(root / "startup")
        assert env["AZ_BATCH_TASK_DIR"] == str(outcome.task_dir)
        assert env["AZ_BATCH_TASK_WORKING_DIR"] == str(outcome.task_dir / "wd")
        assert env["AZ_BATCH_TASK_USER_IDENTITY"] == "PoolNonAdmin"
        assert env["HOME"] == str(outcome.task_dir / "wd")
        assert env["PATH"].split(":")[-2:] == [str(root / "shared"), str(outcome.task_dir / "wd")]
        assert "AZ_BATCH_HOST_LIST" not in env

    start_env, prep_env = printed(start.task_dir)["env"], printed(prep.task_dir)["env"]
    task_env, release_env = printed(task.task_dir)["env"], printed(release.task_dir)["env"]
    assert "AZ_BATCH_JOB_ID" not in start_env and "AZ_BATCH_TASK_ID" not in start_env
    assert (prep_env["AZ_BATCH_JOB_ID"], prep_env["AZ_BATCH_TASK_ID"]) == ("job-7", "jobpreparation")
    assert (task_env["AZ_BATCH_JOB_ID"], task_env["AZ_BATCH_TASK_ID"]) == ("job-7", "task-1")
    assert task_env["AZ_BATCH_TASK_RETRY_COUNT"] == "2"
    assert start_env["AZ_BATCH_TASK_RETRY_COUNT"] == "0"
    for env in (start_env, prep_env):
        assert "AZ_BATCH_JOB_PREP_DIR" not in env
    for env in (task_env, release_env):
        assert env["AZ_BATCH_JOB_PREP_DIR"] == str(prep.task_dir)
        assert env["AZ_BATCH_JOB_PREP_WORKING_DIR"] == str(prep.task_dir / "wd")


def test_job_prep_dir_only_when_the_job_has_a_preparation_task(execution_node: NodeContext) -> None:
    outcome = run(execution_node, TaskRun(kind="task", job_id="plain", task_id="t", spec={"commandLine": PRINT_ENV}))
    assert "AZ_BATCH_JOB_PREP_DIR" not in printed(outcome.task_dir)["env"]


def test_task_environment_overrides_job_environment(execution_node: NodeContext) -> None:
    spec = {
        "commandLine": PRINT_ENV,
        "environmentSettings": [{"name": "SHARED", "value": "from-task"}, {"name": "TASK_ONLY", "value": "t"}],
        "userIdentity": {"autoUser": {"scope": "task", "elevationLevel": "admin"}},
    }
    job_env = [{"name": "SHARED", "value": "from-job"}, {"name": "JOB_ONLY", "value": "j"}]
    outcome = run(execution_node, TaskRun(kind="task", job_id="j1", task_id="t1", spec=spec, job_environment=job_env))
    env = printed(outcome.task_dir)["env"]
    assert (env["SHARED"], env["TASK_ONLY"], env["JOB_ONLY"]) == ("from-task", "t", "j")
    assert env["AZ_BATCH_TASK_USER_IDENTITY"] == "TaskAdmin"


def test_service_environment_does_not_leak_into_tasks(execution_node: NodeContext, monkeypatch) -> None:
    monkeypatch.setenv("LOCALBATCH_SECRET_FOR_TEST", "do-not-leak")
    outcome = run(execution_node, TaskRun(kind="task", job_id="j1", task_id="t1", spec={"commandLine": PRINT_ENV}))
    assert "LOCALBATCH_SECRET_FOR_TEST" not in printed(outcome.task_dir)["env"]


def test_command_line_is_not_run_by_a_shell_and_streams_go_to_files(execution_node: NodeContext) -> None:
    spec = {"commandLine": "/bin/echo $HOME 'two words' > not-a-redirect"}
    outcome = run(execution_node, TaskRun(kind="task", job_id="j", task_id="literal", spec=spec))
    assert outcome.result == "success"
    assert (outcome.task_dir / "stdout.txt").read_text() == "$HOME two words > not-a-redirect\n"

    spec = {"commandLine": "/bin/sh -c 'echo out; echo err >&2; echo $AZ_BATCH_TASK_ID'"}
    outcome = run(execution_node, TaskRun(kind="task", job_id="j", task_id="viashell", spec=spec))
    assert (outcome.task_dir / "stdout.txt").read_text() == "out\nviashell\n"
    assert (outcome.task_dir / "stderr.txt").read_text() == "err\n"


def test_programs_are_found_on_the_task_path_including_the_shared_dir(execution_node: NodeContext) -> None:
    prepare_node(execution_node)
    tool = execution_node.node_root / "shared" / "hello-tool"
    tool.write_text("#!/bin/sh\necho hello from shared\n")
    tool.chmod(0o755)
    outcome = run(execution_node, TaskRun(kind="task", job_id="j", task_id="t", spec={"commandLine": "hello-tool"}))
    assert outcome.result == "success"
    assert (outcome.task_dir / "stdout.txt").read_text() == "hello from shared\n"


def test_non_zero_exit_is_a_failure_exit_code(execution_node: NodeContext) -> None:
    outcome = run(
        execution_node, TaskRun(kind="task", job_id="j", task_id="t", spec={"commandLine": "/bin/sh -c 'exit 3'"})
    )
    assert (outcome.exit_code, outcome.result, outcome.timed_out) == (3, "failure", False)
    assert outcome.failure_info["category"] == "usererror"
    assert outcome.failure_info["code"] == "FailureExitCode"


def test_missing_program_is_command_program_not_found(execution_node: NodeContext) -> None:
    spec = {"commandLine": "no-such-program-anywhere --flag"}
    outcome = run(execution_node, TaskRun(kind="task", job_id="j", task_id="t", spec=spec))
    assert (outcome.exit_code, outcome.result) == (None, "failure")
    assert outcome.failure_info["code"] == "CommandProgramNotFound"


def test_unparseable_command_line_is_a_launch_failure(execution_node: NodeContext) -> None:
    outcome = run(execution_node, TaskRun(kind="task", job_id="j", task_id="t", spec={"commandLine": "echo 'unclosed"}))
    assert outcome.failure_info["code"] == "CommandLaunchFailed"


def _is_gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"  # a zombie no longer runs


def _wait_gone(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _is_gone(pid):
            return True
        time.sleep(0.05)
    return False


def test_max_wall_clock_kills_the_whole_process_group(execution_node: NodeContext) -> None:
    spec = {"commandLine": "/bin/sh -c 'sleep 60 & echo $! > child.pid; echo $$ > shell.pid; sleep 60'"}
    started = time.monotonic()
    outcome = run(
        execution_node,
        TaskRun(kind="task", job_id="j", task_id="slow", spec=spec),
        max_wall_clock=timedelta(seconds=1),
    )
    assert time.monotonic() - started < 10
    assert outcome.timed_out and outcome.result == "failure"
    assert outcome.failure_info["code"] == "TaskEnded"
    assert outcome.exit_code == 128 + 9
    wd = outcome.task_dir / "wd"
    for pid_file in ("child.pid", "shell.pid"):
        assert _wait_gone(int((wd / pid_file).read_text())), f"{pid_file} still running"


def test_fast_task_is_not_affected_by_its_wall_clock_limit(execution_node: NodeContext) -> None:
    outcome = run(
        execution_node,
        TaskRun(kind="task", job_id="j", task_id="t", spec={"commandLine": "/bin/true"}),
        max_wall_clock=timedelta(seconds=30),
    )
    assert (outcome.result, outcome.timed_out) == ("success", False)


def test_cancelling_the_run_kills_the_process_group(execution_node: NodeContext) -> None:
    spec = {"commandLine": "/bin/sh -c 'sleep 60 & echo $! > child.pid; sleep 60'"}
    task_run = TaskRun(kind="task", job_id="j", task_id="cancelled", spec=spec)
    pid_file = task_dir(execution_node, task_run) / "wd" / "child.pid"

    async def cancel_when_running() -> None:
        running = asyncio.create_task(run_task(execution_node, task_run))
        while not (pid_file.exists() and pid_file.read_text().strip()):
            await asyncio.sleep(0.05)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running

    asyncio.run(asyncio.wait_for(cancel_when_running(), 20))
    assert _wait_gone(int(pid_file.read_text()))


def test_each_attempt_starts_with_fresh_output_streams(execution_node: NodeContext) -> None:
    spec = {"commandLine": "/bin/sh -c 'echo attempt $AZ_BATCH_TASK_RETRY_COUNT'"}
    for retry in (0, 1):
        outcome = run(execution_node, TaskRun(kind="task", job_id="j", task_id="t", spec=spec, retry_count=retry))
    assert (outcome.task_dir / "stdout.txt").read_text() == "attempt 1\n"


def test_multi_instance_host_list_and_master(execution_make_node) -> None:
    primary = execution_make_node(node_id="tvm-primary", ip_address="127.0.0.2")
    secondary = execution_make_node(node_id="tvm-secondary", ip_address="127.0.0.3")
    spec = {
        "commandLine": "/bin/sh -c 'echo application > app.txt'",
        "multiInstanceSettings": {
            "numberOfInstances": 2,
            "coordinationCommandLine": "/bin/sh -c 'env > ../coordination-env.txt'",
        },
    }
    hosts = ["127.0.0.2", "127.0.0.3"]
    outcomes = {
        node.node_id: run(node, TaskRun(kind="task", job_id="mpi", task_id="t", spec=spec, host_list=hosts))
        for node in (primary, secondary)
    }
    for node_id, is_master in (("tvm-primary", "true"), ("tvm-secondary", "false")):
        outcome = outcomes[node_id]
        assert outcome.result == "success", outcome.failure_info
        lines = (outcome.task_dir / "coordination-env.txt").read_text().splitlines()
        env = dict(line.split("=", 1) for line in lines if "=" in line)
        assert env["AZ_BATCH_HOST_LIST"] == "127.0.0.2,127.0.0.3"
        assert env["AZ_BATCH_NODE_LIST"] == "127.0.0.2;127.0.0.3"
        assert env["AZ_BATCH_MASTER_NODE"].startswith("127.0.0.2:")
        assert env["AZ_BATCH_IS_CURRENT_NODE_MASTER"] == is_master
        assert env["AZ_BATCH_TASK_SHARED_DIR"] == str(outcome.task_dir)
    # The application command runs on the primary only.
    assert (outcomes["tvm-primary"].task_dir / "wd" / "app.txt").exists()
    assert not (outcomes["tvm-secondary"].task_dir / "wd" / "app.txt").exists()


def test_ids_that_would_leave_the_node_folder_are_refused(execution_node: NodeContext) -> None:
    with pytest.raises(ValueError):
        task_dir(execution_node, TaskRun(kind="task", job_id="../escape", task_id="t", spec={}))


def test_processes_left_behind_by_a_node_are_killed_on_request(execution_make_node) -> None:
    # A start task that leaves a daemon behind, as start tasks often do; a "reboot" must end it.
    node, other = execution_make_node(node_id="tvm-a"), execution_make_node(node_id="tvm-b")
    spec = {"commandLine": "/bin/sh -c 'sleep 60 > /dev/null 2>&1 & echo $! > daemon.pid'"}
    pids = {}
    for each in (node, other):
        outcome = run(each, TaskRun(kind="start", job_id=None, task_id="start", spec=spec))
        assert outcome.result == "success"
        pids[each.node_id] = int((outcome.task_dir / "wd" / "daemon.pid").read_text())
    assert not _is_gone(pids["tvm-a"])

    assert kill_node_processes(node) == 1
    assert _wait_gone(pids["tvm-a"])
    assert not _is_gone(pids["tvm-b"])  # another node's processes are left alone
    assert kill_node_processes(other) == 1
    assert _wait_gone(pids["tvm-b"])
