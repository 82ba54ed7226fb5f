"""Container tasks on the local Batch service, through the unmodified SDK.

A stand-in runtime (a Python script written here, named with `localbatch serve --container-runtime PATH`)
records its exact argv, environment and working directory to `calls.jsonl` in its working directory (the
node's volatile/containers folder) and runs the command itself, without a container, so the argument building
is always tested. One test uses a real Docker or Podman where `info` succeeds, and is skipped elsewhere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.batch.models import _models  # BatchJobTerminateOptions is not exported in 15.1.0
from container_stand_in import write_stand_in

from batchforge.localbatch.execution import containers
from batchforge.localbatch.launcher import node_root
from batchforge.localbatch.testing import LocalBatch, wait_for, wait_for_idle_nodes, wait_for_tasks_completed

SH = "/bin/sh -c"
PREFETCHED = "registry.example/prefetched:1"
OTHER = "registry.example/other:2"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def stand_in_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder for stand-in runtimes, on the services' PATH: a node sandbox keeps PATH folders visible."""
    folder = tmp_path_factory.mktemp("runtimes")
    previous = os.environ.get("PATH", "")
    os.environ["PATH"] = f"{folder}{os.pathsep}{previous}"
    yield folder
    os.environ["PATH"] = previous


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, stand_in_dir: Path) -> Iterator[LocalBatch]:
    runtime = write_stand_in(stand_in_dir / "working")
    with LocalBatch.start(tmp_path_factory.mktemp("containers"), container_runtime=str(runtime)) as batch:
        yield batch


@pytest.fixture(scope="module")
def client(service: LocalBatch) -> BatchClient:
    return service.batch_client()


def container_configuration(**extra: Any) -> m.BatchContainerConfiguration:
    return m.BatchContainerConfiguration(type="dockerCompatible", container_image_names=[PREFETCHED], **extra)


def create_pool(client: BatchClient, prefix: str, *, containers: bool = True, **options: Any) -> str:
    pool_id = unique(prefix)
    client.create_pool(
        m.BatchPoolCreateOptions(
            id=pool_id,
            vm_size="standard_d2s_v3",
            target_dedicated_nodes=1,
            virtual_machine_configuration=m.VirtualMachineConfiguration(
                image_reference=m.BatchVmImageReference(
                    publisher="microsoft-dsvm", offer="ubuntu-hpc", sku="2204", version="latest"
                ),
                node_agent_sku_id="batch.node.ubuntu 22.04",
                container_configuration=container_configuration() if containers else None,
            ),
            **options,
        )
    )
    return pool_id


@pytest.fixture(scope="module")
def pool_id(client: BatchClient) -> str:
    pool_id = create_pool(client, "containers")
    wait_for_idle_nodes(client, pool_id, 1)
    return pool_id


def new_job(client: BatchClient, pool_id: str, **options: Any) -> str:
    job_id = unique("job")
    client.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id), **options))
    return job_id


def calls(service: LocalBatch, pool_id: str, node_id: str) -> list[dict[str, Any]]:
    path = node_root(service.data_dir, pool_id, node_id) / "volatile" / "containers" / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def run_call(service: LocalBatch, pool_id: str, node_id: str, job_id: str, task_id: str) -> dict[str, Any]:
    """The stand-in's record of the `run` for one task (found by the AZ_BATCH_TASK_ID it was handed)."""
    runs = [
        call
        for call in calls(service, pool_id, node_id)
        if call["argv"][1] == "run"
        and call["env"].get("AZ_BATCH_JOB_ID") == job_id
        and call["env"].get("AZ_BATCH_TASK_ID") == task_id
    ]
    assert len(runs) == 1, runs
    return runs[0]


def task_file(client: BatchClient, job_id: str, task_id: str, name: str) -> str:
    return b"".join(client.download_task_file(job_id, task_id, name)).decode()


def only_node(client: BatchClient, pool_id: str) -> str:
    return str(next(iter(client.list_nodes(pool_id))).id)


def test_container_pool_is_returned_as_sent(client: BatchClient, pool_id: str) -> None:
    registry = {
        "registryServer": "myregistry.azurecr.io",
        "identityReference": {"resourceId": "/subscriptions/0/resourceGroups/rg/providers/x/userAssignedIdentities/id"},
    }
    pool = unique("sent")
    client.create_pool(
        m.BatchPoolCreateOptions(
            id=pool,
            vm_size="standard_d2s_v3",
            virtual_machine_configuration=m.VirtualMachineConfiguration(
                image_reference=m.BatchVmImageReference(publisher="p", offer="o", sku="s"),
                node_agent_sku_id="batch.node.ubuntu 22.04",
                container_configuration=m.BatchContainerConfiguration(
                    {
                        "type": "criCompatible",
                        "containerImageNames": [PREFETCHED, OTHER],
                        "containerRegistries": [registry],
                    }
                ),
            ),
        )
    )
    configuration = client.get_pool(pool).virtual_machine_configuration.container_configuration
    assert configuration.as_dict() == {
        "type": "criCompatible",
        "containerImageNames": [PREFETCHED, OTHER],
        "containerRegistries": [registry],
    }
    assert client.get_pool(pool_id).virtual_machine_configuration.container_configuration.as_dict() == {
        "type": "dockerCompatible",
        "containerImageNames": [PREFETCHED],
    }


def test_container_task_runs_in_its_image_with_batchs_mounts_variables_and_options(
    service: LocalBatch, client: BatchClient, pool_id: str
) -> None:
    job_id = new_job(client, pool_id, common_environment_settings=[m.EnvironmentSetting(name="FROM_JOB", value="j")])
    client.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="in-image",
            command_line=f"{SH} 'echo out $FROM_TASK $FROM_JOB; pwd; echo err >&2; exit 3'",
            environment_settings=[m.EnvironmentSetting(name="FROM_TASK", value="t v")],
            container_settings=m.BatchTaskContainerSettings(
                image_name=PREFETCHED, container_run_options="--memory 64m --label 'purpose=local test'"
            ),
        ),
    )
    wait_for_tasks_completed(client, job_id)
    task = client.get_task(job_id, "in-image")
    node_id = task.node_info.node_id
    root = str(node_root(service.data_dir, pool_id, node_id))
    task_dir = f"{root}/workitems/{job_id}/job-1/in-image"
    call = run_call(service, pool_id, node_id, job_id, "in-image")
    argv = call["argv"]
    names = [argv[i + 1] for i in range(len(argv) - 1) if argv[i] == "-e"]
    assert argv[0] == str(service.container_runtime)
    assert argv[1:4] == ["run", "--rm", "--name"] and argv[4].startswith("localbatch-")
    assert argv[5:7] == ["-v", f"{root}:{root}"]
    assert argv[7 + 2 * len(names) :] == [
        "-w",
        f"{task_dir}/wd",
        "--memory",
        "64m",
        "--label",
        "purpose=local test",
        PREFETCHED,
        "/bin/sh",
        "-c",
        "echo out $FROM_TASK $FROM_JOB; pwd; echo err >&2; exit 3",
    ]
    # Every variable is handed on by name: its value is in the CLI's environment, not on its command line.
    assert all("=" not in name for name in names)
    env = call["env"]
    assert {
        name: env[name] for name in ("AZ_BATCH_TASK_DIR", "AZ_BATCH_TASK_WORKING_DIR", "FROM_TASK", "FROM_JOB")
    } == {
        "AZ_BATCH_TASK_DIR": task_dir,
        "AZ_BATCH_TASK_WORKING_DIR": f"{task_dir}/wd",
        "FROM_TASK": "t v",
        "FROM_JOB": "j",
    }
    assert {"AZ_BATCH_NODE_ROOT_DIR", "AZ_BATCH_NODE_SHARED_DIR", "AZ_BATCH_POOL_ID", "AZ_BATCH_JOB_ID"} <= set(names)
    assert env["AZ_BATCH_NODE_ROOT_DIR"] == root and env["AZ_BATCH_POOL_ID"] == pool_id
    # The service's own environment stays out, as for any task.
    assert "LOCALBATCH_NODE_AGENTS" not in env and "PYTEST_CURRENT_TEST" not in env
    # Exit code, output and failure as for a task on the node.
    assert task.execution_info.exit_code == 3
    assert task.execution_info.failure_info.code == "FailureExitCode"
    assert task_file(client, job_id, "in-image", "stdout.txt") == f"out t v j\n{task_dir}/wd\n"
    assert task_file(client, job_id, "in-image", "stderr.txt") == "err\n"


def test_images_are_pulled_once_per_node_prefetched_at_node_start(
    service: LocalBatch, client: BatchClient, pool_id: str
) -> None:
    job_id = new_job(client, pool_id)
    for number in range(3):
        client.create_task(
            job_id,
            m.BatchTaskCreateOptions(
                id=f"other-{number}",
                command_line="true",
                container_settings=m.BatchTaskContainerSettings(image_name=OTHER),
            ),
        )
    client.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="prefetched", command_line="true", container_settings=m.BatchTaskContainerSettings(image_name=PREFETCHED)
        ),
    )
    wait_for_tasks_completed(client, job_id)
    assert {task.execution_info.exit_code for task in client.list_tasks(job_id)} == {0}
    pulls = [
        call["argv"][1:] for call in calls(service, pool_id, only_node(client, pool_id)) if call["argv"][1] == "pull"
    ]
    assert pulls == [["pull", PREFETCHED], ["pull", OTHER]]


def test_image_workdir_and_selected_bind_mounts(service: LocalBatch, client: BatchClient, pool_id: str) -> None:
    job_id = new_job(client, pool_id)
    client.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="mounts",
            command_line="",
            container_settings=m.BatchTaskContainerSettings(
                image_name=PREFETCHED,
                working_directory="containerImageDefault",
                container_host_batch_bind_mounts=[
                    m.ContainerHostBatchBindMountEntry(source="Task"),
                    m.ContainerHostBatchBindMountEntry(source="Shared", is_read_only=True),
                    m.ContainerHostBatchBindMountEntry(source="JobPrep"),  # no job preparation task: nothing
                ],
            ),
        ),
    )
    wait_for_tasks_completed(client, job_id)
    node_id = client.get_task(job_id, "mounts").node_info.node_id
    root = str(node_root(service.data_dir, pool_id, node_id))
    argv = run_call(service, pool_id, node_id, job_id, "mounts")["argv"]
    mounts = [argv[i + 1] for i in range(len(argv) - 1) if argv[i] == "-v"]
    task_dir = f"{root}/workitems/{job_id}/job-1/mounts"
    assert mounts == [f"{task_dir}:{task_dir}", f"{root}/shared:{root}/shared:ro"]
    assert "-w" not in argv and argv[-1] == PREFETCHED  # the image's WORKDIR and its own command


def test_start_job_preparation_and_release_tasks_run_in_their_images(service: LocalBatch, client: BatchClient) -> None:
    settings = m.BatchTaskContainerSettings(image_name=OTHER)
    pool_id = create_pool(
        client, "start", start_task=m.BatchStartTask(command_line="echo started", container_settings=settings)
    )
    wait_for_idle_nodes(client, pool_id, 1)
    job_id = new_job(
        client,
        pool_id,
        job_preparation_task=m.BatchJobPreparationTask(command_line="echo prepared", container_settings=settings),
        job_release_task=m.BatchJobReleaseTask(command_line="echo released", container_settings=settings),
    )
    client.create_task(job_id, m.BatchTaskCreateOptions(id="t", command_line="true", container_settings=settings))
    wait_for_tasks_completed(client, job_id)
    client.begin_terminate_job(
        job_id, _models.BatchJobTerminateOptions(termination_reason="test"), polling_interval=0.1
    ).result()
    node_id = only_node(client, pool_id)
    root = str(node_root(service.data_dir, pool_id, node_id))

    def runs_by_task() -> dict[str, list[str]]:
        return {
            call["env"].get("AZ_BATCH_TASK_ID", "start"): call["argv"]
            for call in calls(service, pool_id, node_id)
            if call["argv"][1] == "run"
        }

    runs = wait_for(lambda: (found := runs_by_task()) and "jobrelease" in found and found, what="the release run")
    assert runs["jobrelease"][-3:] == [OTHER, "echo", "released"]
    assert f"{root}/workitems/{job_id}/job-1/jobrelease/wd" in runs["jobrelease"]
    assert runs["start"][-3:] == [OTHER, "echo", "started"] and f"{root}/startup/wd" in runs["start"]
    assert runs["jobpreparation"][-3:] == [OTHER, "echo", "prepared"]
    assert f"{root}/workitems/{job_id}/job-1/jobpreparation/wd" in runs["jobpreparation"]
    node = client.get_node(pool_id, node_id)
    assert node.start_task_info.exit_code == 0


def test_regular_task_without_container_settings_fails_on_a_container_pool(client: BatchClient, pool_id: str) -> None:
    job_id = new_job(client, pool_id)
    client.create_task(job_id, m.BatchTaskCreateOptions(id="plain", command_line="true"))
    wait_for_tasks_completed(client, job_id)
    info = client.get_task(job_id, "plain").execution_info
    assert info.exit_code is None
    assert (info.failure_info.category, info.failure_info.code, info.failure_info.message) == (
        "usererror",
        "ContainerTaskSettingsNotFound",
        "Container-enabled compute node requires task container settings",
    )


def test_container_settings_on_a_pool_without_container_configuration_fail(client: BatchClient) -> None:
    pool_id = create_pool(client, "plain", containers=False)
    wait_for_idle_nodes(client, pool_id, 1)
    job_id = new_job(client, pool_id)
    settings = m.BatchTaskContainerSettings(image_name=OTHER)
    client.create_task(job_id, m.BatchTaskCreateOptions(id="boxed", command_line="true", container_settings=settings))
    wait_for_tasks_completed(client, job_id)
    failure = client.get_task(job_id, "boxed").execution_info.failure_info
    assert (failure.code, failure.message) == (
        "ContainerInvalidSettings",
        "At least one value of specified task container settings is invalid",
    )


def test_a_killed_container_run_removes_its_container(service: LocalBatch, client: BatchClient, pool_id: str) -> None:
    job_id = new_job(client, pool_id)
    client.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="slow",
            command_line="sleep 30",
            constraints=m.BatchTaskConstraints(max_wall_clock_time="PT1S"),
            container_settings=m.BatchTaskContainerSettings(image_name=PREFETCHED),
        ),
    )
    wait_for_tasks_completed(client, job_id)
    assert client.get_task(job_id, "slow").execution_info.failure_info.code == "TaskEnded"
    node_id = only_node(client, pool_id)
    name = run_call(service, pool_id, node_id, job_id, "slow")["argv"][4]
    assert ["rm", "-f", name] in [call["argv"][1:] for call in calls(service, pool_id, node_id)]


def test_an_image_that_cannot_be_pulled_fails_the_task_or_makes_a_prefetching_node_unusable(
    client: BatchClient, pool_id: str
) -> None:
    job_id = new_job(client, pool_id)
    settings = m.BatchTaskContainerSettings(image_name="registry.example/missing:1")
    client.create_task(job_id, m.BatchTaskCreateOptions(id="nopull", command_line="true", container_settings=settings))
    wait_for_tasks_completed(client, job_id)
    failure = client.get_task(job_id, "nopull").execution_info.failure_info
    assert (failure.code, failure.message) == ("ContainerInvalidImage", "The container image could not be pulled")
    assert {d.name: d.value for d in failure.details} == {
        "ImageName": "registry.example/missing:1",
        "Message": "Error response from daemon: manifest unknown",
    }
    unusable = unique("prefetch")
    client.create_pool(
        m.BatchPoolCreateOptions(
            id=unusable,
            vm_size="standard_d2s_v3",
            target_dedicated_nodes=1,
            virtual_machine_configuration=m.VirtualMachineConfiguration(
                image_reference=m.BatchVmImageReference(publisher="p", offer="o", sku="s"),
                node_agent_sku_id="batch.node.ubuntu 22.04",
                container_configuration=m.BatchContainerConfiguration(
                    type="dockerCompatible", container_image_names=["registry.example/missing:2"]
                ),
            ),
        )
    )
    node = wait_for(
        lambda: next((n for n in client.list_nodes(unusable) if n.state == "unusable"), None), what="an unusable node"
    )
    assert [(error.code, error.message) for error in node.errors] == [
        ("ContainerInvalidImage", "The container image could not be pulled: registry.example/missing:2")
    ]


def test_a_variable_the_runtime_cli_reads_itself_is_handed_on_with_its_value() -> None:
    environment, arguments = containers.cli_environment({"PATH": "/opt/tool/bin", "MY_SETTING": "x y"})
    assert arguments == ["-e", "PATH=/opt/tool/bin", "-e", "MY_SETTING"]
    assert environment["MY_SETTING"] == "x y" and environment.get("PATH") != "/opt/tool/bin"


def test_invalid_container_configuration_is_refused(client: BatchClient) -> None:
    from azure.core.exceptions import HttpResponseError

    with pytest.raises(HttpResponseError) as refused:
        client.create_pool(
            m.BatchPoolCreateOptions(
                {
                    "id": unique("bad"),
                    "vmSize": "standard_d2s_v3",
                    "virtualMachineConfiguration": {
                        "imageReference": {"publisher": "p", "offer": "o", "sku": "s"},
                        "nodeAgentSKUId": "batch.node.ubuntu 22.04",
                        "containerConfiguration": {"type": "rkt"},
                    },
                }
            )
        )
    assert refused.value.error.code == "InvalidPropertyValue"


# ---- no usable runtime -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def broken_runtime(stand_in_dir: Path) -> Path:
    return write_stand_in(stand_in_dir / "broken", info_fails=True)


def run_one(batch: LocalBatch, command_line: str) -> tuple[BatchClient, str, Any]:
    client = batch.batch_client()
    pool_id = create_pool(client, "noruntime")
    wait_for_idle_nodes(client, pool_id, 1)
    job_id = new_job(client, pool_id)
    settings = m.BatchTaskContainerSettings(image_name=PREFETCHED)
    client.create_task(job_id, m.BatchTaskCreateOptions(id="t", command_line=command_line, container_settings=settings))
    wait_for_tasks_completed(client, job_id)
    return client, job_id, client.get_task(job_id, "t")


def test_without_a_usable_runtime_the_task_fails_saying_what_to_install(tmp_path: Path, broken_runtime: Path) -> None:
    with LocalBatch.start(tmp_path / "svc", container_runtime=str(broken_runtime)) as batch:
        client, job_id, task = run_one(batch, "true")
        failure = task.execution_info.failure_info
        assert task.execution_info.exit_code is None
        assert (failure.category, failure.code) == ("usererror", "ContainerRuntimeUnavailable")
        assert "Cannot connect to the container daemon" in failure.message
        assert "install Docker" in failure.message and "Podman" in failure.message
        assert "--run-containers-on-host" in failure.message
        assert {d.name: d.value for d in failure.details} == {"ImageName": PREFETCHED}
        assert "ContainerRuntimeUnavailable" in task_file(client, job_id, "t", "stderr.txt")


def test_the_opt_in_runs_container_tasks_on_the_node_and_says_so(tmp_path: Path, broken_runtime: Path) -> None:
    with LocalBatch.start(
        tmp_path / "svc", container_runtime=str(broken_runtime), run_containers_on_host=True
    ) as batch:
        client, job_id, task = run_one(batch, f"{SH} 'echo on host $AZ_BATCH_TASK_ID; exit 4'")
        assert task.execution_info.exit_code == 4
        assert task_file(client, job_id, "t", "stdout.txt") == "on host t\n"
        note = task_file(client, job_id, "t", "stderr.txt")
        assert "--run-containers-on-host" in note and f"not in image {PREFETCHED}" in note
        details = {d.name: d.value for d in task.execution_info.failure_info.details}
        assert details["RanOnHostNotInContainer"] == f"the command ran on the node, not in {PREFETCHED}"


# ---- a real runtime, where this machine has one ----------------------------------------------------------
def _usable_runtime() -> tuple[str | None, str]:
    reasons = []
    for name in ("docker", "podman"):
        path = shutil.which(name)
        if path is None:
            reasons.append(f"{name} is not installed")
            continue
        try:
            answer = subprocess.run([path, "info"], capture_output=True, timeout=15)
        except subprocess.TimeoutExpired:
            reasons.append(f"`{name} info` did not answer")
            continue
        if answer.returncode == 0:
            return path, ""
        reasons.append(f"`{name} info` failed: {answer.stderr.decode(errors='replace').strip().splitlines()[-1:]}")
    return None, "; ".join(reasons)


def test_a_real_runtime_runs_the_task_in_its_image(tmp_path: Path) -> None:
    runtime, reason = _usable_runtime()
    if runtime is None:
        print(f"no usable container runtime: {reason}")
        pytest.skip(f"no usable container runtime on this machine ({reason})")
    image = "busybox:1.36"
    pulled = subprocess.run([runtime, "pull", image], capture_output=True, timeout=300)
    if pulled.returncode != 0:
        pytest.skip(f"{runtime} cannot pull {image} here: {pulled.stderr.decode(errors='replace').strip()[-300:]}")
    with LocalBatch.start(tmp_path / "svc", container_runtime=runtime) as batch:
        client = batch.batch_client()
        pool_id = unique("real")
        client.create_pool(
            m.BatchPoolCreateOptions(
                id=pool_id,
                vm_size="standard_d2s_v3",
                target_dedicated_nodes=1,
                virtual_machine_configuration=m.VirtualMachineConfiguration(
                    image_reference=m.BatchVmImageReference(publisher="p", offer="o", sku="s"),
                    node_agent_sku_id="batch.node.ubuntu 22.04",
                    container_configuration=m.BatchContainerConfiguration(type="dockerCompatible"),
                ),
            )
        )
        wait_for_idle_nodes(client, pool_id, 1, timeout=120)
        job_id = new_job(client, pool_id)
        client.create_task(
            job_id,
            m.BatchTaskCreateOptions(
                id="real",
                command_line=f"{SH} 'busybox | head -1; echo $AZ_BATCH_TASK_ID > out.txt; exit 5'",
                container_settings=m.BatchTaskContainerSettings(image_name=image),
            ),
        )
        wait_for_tasks_completed(client, job_id, timeout=300)
        task = client.get_task(job_id, "real")
        assert task.execution_info.exit_code == 5
        assert task_file(client, job_id, "real", "stdout.txt").startswith("BusyBox")
        assert task_file(client, job_id, "real", "wd/out.txt") == "real\n"
        leftovers = subprocess.run(
            [runtime, "ps", "-a", "--filter", "name=localbatch-", "--format", "{{.Names}}"],
            capture_output=True,
            text=True,
        )
        assert leftovers.stdout.strip() == ""
