"""``batchctl local up`` / ``local down`` end to end on a tiny stack in a temporary repository."""

from __future__ import annotations

import json
import os
import re
import socket
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from batchforge.cli.app import app

runner = CliRunner()

_STACK = """\
config:
  batchforge:location: westeurope
  batchforge:namePrefix: tst
  batchforge:batchAccount: {publicNetworkAccess: Enabled}
  batchforge:pools:
    - id: POOL
      vmSize: Standard_D2s_v5
      image: {publisher: canonical, offer: ubuntu-24_04-lts, sku: server}
      nodeAgentSkuId: batch.node.ubuntu 24.04
      scale: {dedicated: 1}
      taskSlotsPerNode: 4
      startTask:
        commandLine: START_COMMAND
        resourceFiles: [{source: setup}]
  batchforge:workloads: [WORKLOADS]
"""

_OK_WORKLOAD = """\
id: tiny
pool: POOL
tasks:
  list:
    - id: greet
      commandLine: /bin/sh -c 'cat $AZ_BATCH_NODE_SHARED_DIR/ready.txt; echo result > answer.txt'
      outputFiles: [{pattern: answer.txt}]
    - id: second
      commandLine: /bin/sh -c 'echo second'
"""

_FAILING_WORKLOAD = """\
id: broken
pool: POOL
tasks:
  list:
    - id: fine
      commandLine: /bin/sh -c 'echo fine'
    - id: crash
      commandLine: /bin/sh -c 'echo something went wrong >&2; exit 4'
"""


def _repo(tmp_path: Path, workloads: dict[str, str], start_command: str = "/bin/sh setup/prep.sh") -> Path:
    """A repository with stack ``t``; its pool id is unique so runs can share one local service."""
    pool = f"p{uuid.uuid4().hex[:8]}"
    workloads = {name: text.replace("POOL", pool) for name, text in workloads.items()}
    root = tmp_path / "repo"
    (root / "setup").mkdir(parents=True)
    (root / "setup" / "prep.sh").write_text('echo node ready > "$AZ_BATCH_NODE_SHARED_DIR/ready.txt"\n')
    (root / "workloads").mkdir()
    for name, text in workloads.items():
        (root / "workloads" / name).write_text(text)
    stack = _STACK.replace("START_COMMAND", start_command).replace("WORKLOADS", ", ".join(workloads))
    stack = stack.replace("POOL", pool)
    (root / "Pulumi.t.yaml").write_text(stack)
    return root


def _up(root: Path, data_dir: Path, *extra: str):
    return runner.invoke(
        app,
        [
            "local",
            "up",
            "--stack",
            "t",
            "--repo-root",
            str(root),
            "--data-dir",
            str(data_dir),
            "--timeout",
            "60",
            *extra,
        ],
    )


def test_local_up_runs_the_stack_then_again_with_keep_then_down(tmp_path):
    root = _repo(tmp_path, {"ok.yaml": _OK_WORKLOAD})
    data_dir = tmp_path / "data"
    result = _up(root, data_dir, "--verbose")
    assert result.exit_code == 0, result.output
    assert "stopped the local Batch service and Azurite" in result.stdout
    assert not (data_dir / "service.json").exists(), "the services this run started must be stopped"
    out = result.stdout
    assert "all tasks succeeded: 1 job(s), 2 task(s), 2 succeeded, 0 failed" in out
    job_id = re.search(r"(tiny-[0-9a-f]+)", out).group(1)
    task_dir = Path(re.search(r"ok   greet  exit 0  \S+  (\S+)/\{stdout,stderr\}\.txt  outputs: greet", out).group(1))
    assert (task_dir / "stdout.txt").read_text() == "node ready\n"
    # Outputs are downloaded before the services stop; the summary names the local folder.
    assert f"outputs downloaded to {data_dir.resolve() / 'outputs' / job_id}" in out
    assert (data_dir / "outputs" / job_id / "greet").read_text() == "result\n"
    assert (data_dir / "outputs" / job_id / "logs" / "greet" / "stdout.txt").read_text() == "node ready\n"
    # Same data dir, unchanged workload: state survived the restart and nothing is submitted twice.
    kept = _up(root, data_dir, "--keep")
    assert kept.exit_code == 0, kept.output
    assert f"job {job_id} (already existed): 0 tasks added, 2 already present" in kept.stdout
    assert "services kept running" in kept.stdout
    status = runner.invoke(app, ["status", "--local", "--data-dir", str(data_dir), "--json"])
    assert status.exit_code == 0, status.output
    (job,) = json.loads(status.stdout)["jobs"]
    assert job["job_id"] == job_id and job["counts"]["succeeded"] == 2
    down = runner.invoke(app, ["local", "down", "--data-dir", str(data_dir)])
    assert down.exit_code == 0 and "stopped" in down.stdout
    again = runner.invoke(app, ["local", "down", "--data-dir", str(data_dir)])
    assert again.exit_code == 0 and "nothing running" in again.stdout


def test_a_failing_task_makes_local_up_fail_and_points_to_its_stderr(tmp_path, local_batch):
    root = _repo(tmp_path, {"broken.yaml": _FAILING_WORKLOAD})
    result = _up(root, local_batch.data_dir)
    assert result.exit_code == 1, result.output
    assert "using the local Batch service already running" in result.stdout
    out = result.stdout
    assert "run failed: 1 job(s), 2 task(s), 1 succeeded, 1 failed" in out
    stderr_path = Path(re.search(r"stderr: (\S+/crash/stderr\.txt)", out).group(1))
    assert stderr_path.read_text() == "something went wrong\n"
    assert "exit 4" in out
    assert (local_batch.data_dir / "service.json").exists(), "a service this run did not start is left running"


def test_a_failed_start_task_stops_the_run_with_the_node_stderr_path(tmp_path, local_batch):
    root = _repo(tmp_path, {"ok.yaml": _OK_WORKLOAD}, start_command="/bin/sh -c 'echo no disk >&2; exit 9'")
    result = _up(root, local_batch.data_dir)
    assert result.exit_code == 1, result.output
    match = re.search(r"start task failed on node \S+ \(exit code 9\); see (\S+startup/stderr\.txt)", result.stdout)
    assert match, result.stdout
    assert Path(match.group(1)).read_text() == "no disk\n"


def test_invalid_input_fails_before_any_service_starts(tmp_path):
    root = _repo(tmp_path, {"ok.yaml": _OK_WORKLOAD.replace("pool: POOL", "pool: POOL\nprioritty: 3")})
    data_dir = tmp_path / "data"
    result = _up(root, data_dir)
    assert result.exit_code == 2
    assert result.stderr.strip() == "workloads/ok.yaml: prioritty: unknown key; did you mean 'priority'?"
    assert not data_dir.exists()
    (root / "workloads" / "ok.yaml").write_text(_OK_WORKLOAD.replace("pool: POOL", "pool: nosuch"))
    unknown_pool = _up(root, data_dir)
    assert unknown_pool.exit_code == 2
    assert unknown_pool.stderr.strip().startswith("workloads/ok.yaml: pool: ")
    assert "nosuch" in unknown_pool.stderr
    assert not data_dir.exists()
    missing = runner.invoke(app, ["local", "up", "--stack", "nope", "--repo-root", str(root)])
    assert missing.exit_code == 2
    assert missing.stderr.strip() == f"Pulumi.nope.yaml: no such stack file in {root}; stack files here: Pulumi.t.yaml"


@pytest.mark.parametrize("command", [["local", "up", "--help"], ["local", "down", "--help"]])
def test_local_help(command):
    assert runner.invoke(app, command).exit_code == 0


def test_the_readme_command_reaches_local_up():
    """`scripts/run-local` (the README's first command) sets up the environment, then runs `batchctl local up`."""
    import subprocess

    repo = Path(__file__).resolve().parents[2]
    finished = subprocess.run(
        [str(repo / "scripts" / "run-local"), "--help"], capture_output=True, text=True, timeout=120, check=False
    )
    assert finished.returncode == 0, finished.stderr
    assert "Usage: batchctl local up" in finished.stdout
    assert "--stack" in finished.stdout and "--keep" in finished.stdout


def test_local_down_then_up_keeps_start_tasks_working(tmp_path):
    """After a restart the pool's start-task files must still download (Azurite keeps its endpoint)."""
    root = _repo(tmp_path, {"ok.yaml": _OK_WORKLOAD})
    data_dir = tmp_path / "data"
    first = _up(root, data_dir, "--keep")
    assert first.exit_code == 0, first.output
    endpoint_before = json.loads((data_dir / "localbatch.json").read_text())["storage"]["blob_endpoint"]
    assert runner.invoke(app, ["local", "down", "--data-dir", str(data_dir)]).exit_code == 0
    # A changed workload is a new job: its task needs the start task's file on the node again.
    (root / "workloads" / "ok.yaml").write_text(
        (root / "workloads" / "ok.yaml").read_text().replace("echo second", "echo second run")
    )
    second = _up(root, data_dir, "--verbose")
    assert second.exit_code == 0, second.output
    assert "start task failed" not in second.output
    assert json.loads((data_dir / "localbatch.json").read_text())["storage"]["blob_endpoint"] == endpoint_before
    greet = re.findall(r"ok   greet  exit 0  \S+  (\S+)/\{stdout,stderr\}\.txt", second.stdout)
    assert greet, second.stdout
    assert (Path(greet[-1]) / "stdout.txt").read_text() == "node ready\n"


def test_local_up_refuses_to_move_storage_when_its_port_is_held(tmp_path):
    """Pools keep their start tasks' storage URLs: a taken port is an error naming the holder, never a new port."""
    root = _repo(tmp_path, {"ok.yaml": _OK_WORKLOAD})
    data_dir = tmp_path / "data"
    assert _up(root, data_dir, "--keep").exit_code == 0
    config_before = (data_dir / "localbatch.json").read_text()
    endpoint = json.loads(config_before)["storage"]["blob_endpoint"]
    port = int(endpoint.rsplit(":", 1)[1].split("/")[0])
    assert runner.invoke(app, ["local", "down", "--data-dir", str(data_dir)]).exit_code == 0
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", port))
        holder.listen()
        for extra in ((), ("--keep",)):
            refused = _up(root, data_dir, *extra)
            assert refused.exit_code == 4, refused.output
            assert f"Port {port} is held by pid {os.getpid()}" in refused.output
            assert f"kill {os.getpid()}" in refused.output
            assert (data_dir / "localbatch.json").read_text() == config_before
            assert not (data_dir / "service.json").exists()
