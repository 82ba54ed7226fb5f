"""Containers through `batchctl local up` (issue 11, items 4 and 5).

- Before it submits, `local up` names the images each container pool needs and whether this machine can run
  them with the local service's runtime; a stack without container pools gets no such line.
- End to end: the example workloads/python-sweep.yaml (job-level containerSettings) on a container pool of a
  stack, run by `local up` against a local service whose container runtime is a stand-in executable (it records
  its argv and runs the command itself, as in tests/localbatch/test_localbatch_containers.py): its tasks succeed
  and the tasks the service received carry the containerSettings (read back with the azure-batch SDK).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import uuid
from pathlib import Path

from typer.testing import CliRunner

from batchforge.cli.app import app
from batchforge.localbatch.execution.containers import INSTALL_HINT
from batchforge.localbatch.testing import LocalBatch
from batchforge.localrun.container_needs import container_lines
from batchforge.workload.stack_inputs import load_stack_inputs
from tests.localbatch.container_stand_in import write_stand_in

REPO = Path(__file__).resolve().parents[2]
PY = "docker.io/library/python:3.12-slim"
runner = CliRunner()

STACK = """\
config:
  batchforge:location: westeurope
  batchforge:namePrefix: tst
  batchforge:batchAccount: {publicNetworkAccess: Enabled}
  batchforge:pools:
    - id: cpu
      vmSize: Standard_D2s_v5
      image: {publisher: canonical, offer: ubuntu-24_04-lts, sku: server}
      nodeAgentSkuId: batch.node.ubuntu 24.04
      scale: {dedicated: 1}
      taskSlotsPerNode: 4
CONTAINER  batchforge:workloads: [WORKLOADS]
"""

PLAIN_WORKLOAD = """\
id: plain
pool: cpu
tasks:
  list:
    - {id: hello, commandLine: /bin/sh -c 'echo hello'}
"""


def _repo(root: Path, container: str | None, workloads: dict[str, str]) -> Path:
    (root / "workloads" / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "workloads" / "scripts" / "integrate.py", root / "workloads" / "scripts")
    for name, text in workloads.items():
        (root / "workloads" / name).write_text(text)
    block = f"      container: {container}\n" if container else ""
    stack = STACK.replace("CONTAINER", block).replace("WORKLOADS", ", ".join(workloads))
    if container is None:
        # A pool of its own in the suite's shared service.
        stack = stack.replace("namePrefix: tst", f"namePrefix: p{uuid.uuid4().hex[:6]}")
    (root / "Pulumi.t.yaml").write_text(stack)
    return root


def _up(root: Path, data_dir: Path):
    return runner.invoke(
        app,
        ["local", "up", "--stack", "t", "--repo-root", str(root), "--data-dir", str(data_dir), "--timeout", "120"],
    )


def test_the_dev_stack_says_nothing_about_containers():
    inputs = load_stack_inputs(REPO, "dev")
    assert container_lines(inputs.config.pools, inputs.workloads, find=lambda choice: (None, "not asked")) == []


def test_the_lines_for_each_runtime_answer(tmp_path):
    sweep = (REPO / "workloads" / "python-sweep.yaml").read_text()
    other = sweep.replace("id: python-sweep", "id: other").replace(PY, "docker.io/library/python:3.13-slim")
    root = _repo(tmp_path, f"{{images: ['{PY}', 'busybox']}}", {"a.yaml": sweep, "b.yaml": other})
    inputs = load_stack_inputs(root, "t")
    needs = (
        f"containers: pool cpu needs {PY} (prefetched), busybox (prefetched), docker.io/library/python:3.13-slim "
        "(pulled by the first task on each node)"
    )

    def lines(info, answer):
        asked = []

        def find(choice):
            asked.append(choice)
            return answer

        found = container_lines(inputs.config.pools, inputs.workloads, info, find=find)
        return found, asked

    assert lines(None, ("/usr/bin/podman", "")) == (
        [needs, "containers: this machine runs them with /usr/bin/podman (--container-runtime auto)"],
        ["auto"],
    )
    reason = "docker: `docker info` failed (Cannot connect to the Docker daemon); podman: not found"
    assert lines({"container_runtime": "auto"}, (None, reason)) == (
        [
            needs,
            f"containers: this machine cannot run them ({reason}): their tasks will fail with "
            f"ContainerRuntimeUnavailable; {INSTALL_HINT}",
        ],
        ["auto"],
    )
    on_host = {"container_runtime": "docker", "run_containers_on_host": True}
    assert lines(on_host, (None, "docker: not found")) == (
        [
            needs,
            "containers: this machine cannot run them (docker: not found); the local service runs their tasks' "
            "command lines directly on the node instead (--run-containers-on-host), not in the images",
        ],
        ["docker"],
    )


def test_local_up_runs_the_container_sweep_and_its_tasks_carry_container_settings(tmp_path, monkeypatch):
    runtimes = tmp_path / "runtimes"
    stand_in = write_stand_in(runtimes)
    # A node sandbox keeps the folders on PATH visible: the stand-in and its Python stay reachable.
    monkeypatch.setenv("PATH", f"{runtimes}:{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin")
    # local up probes the runtime ("info") from its own working directory, where the stand-in records the call.
    monkeypatch.chdir(tmp_path)
    sweep = (REPO / "workloads" / "python-sweep.yaml").read_text()
    root = _repo(tmp_path / "repo", f"{{images: ['{PY}']}}", {"python-sweep.yaml": sweep})
    with LocalBatch.start(tmp_path / "data", container_runtime=str(stand_in)) as batch:
        result = _up(root, batch.data_dir)
        assert result.exit_code == 0, result.output
        out = result.stdout.splitlines()
        said = [line for line in out if line.startswith("containers:")]
        assert said == [
            f"containers: pool cpu needs {PY} (prefetched)",
            f"containers: this machine runs them with {stand_in} (--container-runtime {stand_in})",
        ]
        first_submission = next(index for index, line in enumerate(out) if line.startswith("submitted:"))
        assert out.index(said[-1]) < first_submission, "said before anything is submitted"
        assert any("all tasks succeeded: 1 job(s), 8 task(s), 8 succeeded, 0 failed" in line for line in out)
        job_id = re.search(r"(python-sweep-[0-9a-f]+)", result.stdout).group(1)

        client = batch.batch_client()
        tasks = sorted(client.list_tasks(job_id), key=lambda task: task.id)
        assert [task.id for task in tasks] == [f"{f}-{n}" for f in ("pi", "sine") for n in range(4)]
        for task in tasks:
            settings = client.get_task(job_id, task.id).container_settings
            assert settings is not None, task.id
            assert settings.image_name == PY
            assert settings.container_run_options == "--network none"
            assert settings.working_directory == "taskWorkingDirectory"
            assert settings.registry is None and settings.container_host_batch_bind_mounts is None
            assert task.state == "completed" and task.execution_info.exit_code == 0, task.id
        # The runtime was asked to run each task in the image, with the run options; outputs were uploaded.
        runs = [
            json.loads(line)["argv"]
            for path in batch.data_dir.rglob("calls.jsonl")
            for line in path.read_text().splitlines()
            if json.loads(line)["argv"][1] == "run"
        ]
        assert len(runs) == 8
        assert all(PY in argv and argv[argv.index("--network") + 1] == "none" for argv in runs)
        total = sum(
            json.loads(path.read_text())["value"]
            for path in (batch.data_dir / "outputs" / job_id / "integrals" / "pi").glob("integral-pi-*.json")
        )
        assert abs(total - 3.141592653589793) < 1e-9


def test_local_up_on_a_stack_without_container_pools_says_nothing_about_containers(tmp_path, local_batch):
    plain = _repo(tmp_path / "plain", None, {"plain.yaml": PLAIN_WORKLOAD})
    quiet = _up(plain, local_batch.data_dir)
    assert quiet.exit_code == 0, quiet.output
    assert "all tasks succeeded: 1 job(s), 1 task(s), 1 succeeded, 0 failed" in quiet.stdout
    assert "containers:" not in quiet.stdout
