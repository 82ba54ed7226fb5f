"""A workload's containerSettings against its pool's container configuration in the stack config (issue 11,
item 2): each mistake is one problem naming the workload file and key path, through `batchctl validate`, the
stack inputs every command plans with, and the program's validation; an image the pool does not prefetch is a
warning. Also: the example workloads/python-sweep.yaml passes against a container-enabled pool."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from batchforge.cli.app import app
from batchforge.cli.offline_check import check
from batchforge.config.model import ContainerRegistryConfig
from batchforge.core import InvalidInput
from batchforge.providers.workload_submission import validate_workload_files
from batchforge.workload.container_checks import normalized_image, pool_registry_servers
from batchforge.workload.schema import SCHEMA_PATH
from batchforge.workload.stack_inputs import load_stack_inputs, placeholder_target

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()
PY = "docker.io/library/python:3.12-slim"
REGISTRY_ID = "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/myregistry"


def _registry_entry() -> str:
    """myregistry.azurecr.io as the stack config's registry entry names it (by resource id where it has one)."""
    if "resource_id" in ContainerRegistryConfig.model_fields:
        return f"{{resourceId: '{REGISTRY_ID}'}}"
    return "{server: myregistry.azurecr.io}"


def _stack(container: str | None, workloads: list[str]) -> str:
    text = """\
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
"""
    if container is not None:
        text += f"      container: {container}\n"
    return text + f"  batchforge:workloads: [{', '.join(workloads)}]\n"


def _repo(tmp_path: Path, workload: str, container: str | None) -> Path:
    (tmp_path / "workloads").mkdir(parents=True, exist_ok=True)
    (tmp_path / "workloads" / "w.yaml").write_text(workload)
    (tmp_path / "Pulumi.t.yaml").write_text(_stack(container, ["w.yaml"]))
    return tmp_path


def _validate(tmp_path: Path, workload: str, container: str | None) -> tuple[list[str], list[str]]:
    """(problems, warnings) of `batchctl validate`'s check, as the lines it prints."""
    report = check(_repo(tmp_path, workload, container))
    return [str(problem) for problem in report.problems], [str(warning) for warning in report.warnings]


CONTAINER_POOL = f"{{images: ['{PY}']}}"
CONTAINER_POOL_WITH_REGISTRY = f"{{images: ['{PY}'], registries: [{_registry_entry()}]}}"

BARE = """\
id: w
pool: cpu
tasks:
  list:
    - {id: a, commandLine: /bin/true}
    - {id: b, commandLine: /bin/true}
"""

JOB_LEVEL = f"""\
id: w
pool: cpu
containerSettings: {{imageName: '{PY}'}}
tasks:
  list:
    - {{id: a, commandLine: /bin/true}}
"""

NEEDED = (
    "Batch requires every task there to run in a container ('Container-enabled compute node requires task "
    "container settings')"
)


def test_a_workload_without_container_settings_on_a_container_pool_is_one_problem(tmp_path):
    problems, _ = _validate(tmp_path, BARE, CONTAINER_POOL)
    assert problems == [
        "workloads/w.yaml: containerSettings: is not set, but pool 'cpu' is container-enabled (container: in the "
        f"stack config) and {NEEDED}: set containerSettings (imageName at least) at the job level, every task's "
        "default, or on each task"
    ]


def test_each_task_without_settings_when_others_have_them(tmp_path):
    workload = f"""\
id: w
pool: cpu
tasks:
  list:
    - {{id: a, commandLine: /bin/true, containerSettings: {{imageName: '{PY}'}}}}
    - id: mpi
      commandLine: /bin/true
      multiInstance: {{numberOfInstances: 2, coordinationCommandLine: /bin/true}}
  sweep:
    parameters: [{{name: n, values: [1, 2]}}]
    task: {{id: "s{{n}}", commandLine: /bin/true}}
"""
    problems, _ = _validate(tmp_path, workload, CONTAINER_POOL)
    tail = f"is not set and the job sets none, but pool 'cpu' is container-enabled and {NEEDED}: give this task "
    tail += "containerSettings, or set them at the job level"
    assert problems == [
        f"workloads/w.yaml: tasks.list[1].containerSettings: {tail}",
        f"workloads/w.yaml: tasks.sweep.task.containerSettings: {tail}",
    ]


def test_job_level_settings_cover_every_task_and_preparation_and_release_may_run_on_the_node(tmp_path):
    workload = JOB_LEVEL + "jobPreparationTask: {commandLine: /bin/true}\njobReleaseTask: {commandLine: /bin/true}\n"
    assert _validate(tmp_path, workload, CONTAINER_POOL) == ([], [])


def test_a_job_manager_task_and_a_schedule_cannot_run_on_a_container_pool(tmp_path):
    workload = JOB_LEVEL + "jobManagerTask: {commandLine: /bin/true}\n"
    problems, _ = _validate(tmp_path, workload, CONTAINER_POOL)
    assert problems == [
        "workloads/w.yaml: jobManagerTask: cannot run on pool 'cpu': the pool is container-enabled, Batch requires "
        "a job manager task there to run in a container, and a workload's jobManagerTask cannot set "
        "containerSettings; run the workload on a pool without container:"
    ]
    scheduled = JOB_LEVEL + "schedule: {recurrenceInterval: P1D}\n"
    problems, _ = _validate(tmp_path, scheduled, CONTAINER_POOL)
    assert problems == [
        "workloads/w.yaml: schedule: cannot be used on pool 'cpu': a scheduled workload's jobs start with "
        "batchforge's job manager task, which runs on the node, not in a container, and a container-enabled pool "
        "runs job manager tasks only in containers; run the scheduled workload on a pool without container:"
    ]


def _no_container_message(image: str, what: str) -> str:
    return (
        f"sets image '{image}', so {what}, but pool 'cpu' has no container configuration and Batch refuses "
        "containerSettings on such a pool: add container: (type, images, registries) to pool 'cpu' in the stack "
        "config, or remove containerSettings"
    )


def test_container_settings_on_a_pool_without_container_configuration(tmp_path):
    problems, _ = _validate(tmp_path, JOB_LEVEL, None)
    assert problems == [
        "workloads/w.yaml: containerSettings: "
        + _no_container_message(PY, "every task of the job would run in a container")
    ]
    workload = f"""\
id: w
pool: cpu
jobPreparationTask: {{commandLine: /bin/true, containerSettings: {{imageName: 'busybox'}}}}
jobReleaseTask: {{commandLine: /bin/true, containerSettings: {{imageName: 'busybox'}}}}
tasks:
  list:
    - {{id: a, commandLine: /bin/true, containerSettings: {{imageName: '{PY}'}}}}
    - {{id: b, commandLine: /bin/true}}
"""
    problems, _ = _validate(tmp_path, workload, None)
    assert problems == [
        "workloads/w.yaml: tasks.list[0].containerSettings: "
        + _no_container_message(PY, "this task would run in a container"),
        "workloads/w.yaml: jobPreparationTask.containerSettings: "
        + _no_container_message("busybox", "the jobPreparationTask would run in a container"),
        "workloads/w.yaml: jobReleaseTask.containerSettings: "
        + _no_container_message("busybox", "the jobReleaseTask would run in a container"),
    ]


def test_a_registry_the_pool_does_not_list(tmp_path):
    workload = f"""\
id: w
pool: cpu
containerSettings: {{imageName: '{PY}'}}
jobPreparationTask:
  commandLine: /bin/true
  containerSettings: {{imageName: 'other.azurecr.io/tools:1'}}
tasks:
  list:
    - id: a
      commandLine: /bin/true
      containerSettings: {{imageName: 'sim:2', registry: {{registryServer: other.azurecr.io}}}}
    - {{id: b, commandLine: /bin/true, containerSettings: {{imageName: 'myregistry.azurecr.io/sim:3'}}}}
"""
    problems, _ = _validate(tmp_path, workload, CONTAINER_POOL_WITH_REGISTRY)
    assert problems == [
        "workloads/w.yaml: tasks.list[0].containerSettings.registry.registryServer: registry 'other.azurecr.io' is "
        "not one of pool 'cpu''s container registries (myregistry.azurecr.io): the nodes pull with the pool's "
        "managed identity, which may pull only from the registries listed under container.registries of pool "
        "'cpu' in the stack config",
        "workloads/w.yaml: jobPreparationTask.containerSettings.imageName: image 'other.azurecr.io/tools:1' is in "
        "Azure Container Registry 'other.azurecr.io', which pool 'cpu' does not list (myregistry.azurecr.io): add "
        "it under container.registries of pool 'cpu' in the stack config, so the nodes' identity may pull from it "
        "(public images, e.g. from docker.io, need no entry)",
    ]
    # Without any registry listed: 'none'; a registered one (named or by its image's host) passes.
    problems, _ = _validate(tmp_path, workload, CONTAINER_POOL)
    assert [problem.split(": ", 2)[1] for problem in problems] == [
        "tasks.list[0].containerSettings.registry.registryServer",
        "tasks.list[1].containerSettings.imageName",
        "jobPreparationTask.containerSettings.imageName",
    ]
    assert all("(none)" in problem for problem in problems)


def test_public_images_need_no_registry_entry(tmp_path):
    workload = """\
id: w
pool: cpu
tasks:
  list:
    - {id: a, commandLine: /bin/true, containerSettings: {imageName: 'python:3.12-slim'}}
    - {id: b, commandLine: /bin/true, containerSettings: {imageName: 'mcr.microsoft.com/azurelinux/base/core:3.0'}}
    - {id: c, commandLine: /bin/true, containerSettings: {imageName: 'ghcr.io/org/tool:1'}}
"""
    problems, warnings = _validate(tmp_path, workload, CONTAINER_POOL)
    assert problems == []
    # python:3.12-slim is docker.io/library/python:3.12-slim, which the pool prefetches.
    assert [warning.split(": ", 2)[1] for warning in warnings] == [
        "tasks.list[1].containerSettings.imageName",
        "tasks.list[2].containerSettings.imageName",
    ]


def test_an_image_the_pool_does_not_prefetch_is_a_warning_not_an_error(tmp_path):
    workload = JOB_LEVEL.replace(PY, "docker.io/library/python:3.13-slim")
    problems, warnings = _validate(tmp_path, workload, CONTAINER_POOL)
    assert problems == []
    assert warnings == [
        "workloads/w.yaml: containerSettings.imageName: image 'docker.io/library/python:3.13-slim' is not in pool "
        "'cpu''s container.images, so the first task on each node waits for it to be pulled; add it there to have "
        "nodes pull it when they start"
    ]
    _repo(tmp_path, workload, CONTAINER_POOL)
    result = runner.invoke(app, ["validate", "--repo-root", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == f"warning: {warnings[0]}"


def test_batchctl_validate_prints_each_problem_and_exits_2(tmp_path):
    _repo(tmp_path, BARE, CONTAINER_POOL)
    result = runner.invoke(app, ["validate", "--repo-root", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "workloads/w.yaml: containerSettings: is not set, but pool 'cpu' is container-enabled (container: in the "
        f"stack config) and {NEEDED}: set containerSettings (imageName at least) at the job level, every task's "
        "default, or on each task"
    ]
    assert "Traceback" not in result.output


def test_the_stack_inputs_and_the_program_refuse_the_same(tmp_path):
    root = _repo(tmp_path, BARE, CONTAINER_POOL)
    inputs = load_stack_inputs(root, "t")
    with pytest.raises(InvalidInput) as planned:
        inputs.plan(placeholder_target(inputs.config))
    assert [problem.path for problem in planned.value.problems] == ["containerSettings"]
    with pytest.raises(InvalidInput) as program:
        validate_workload_files(inputs.config.workloads, root, inputs.config.pools)
    assert [problem.path for problem in program.value.problems] == ["containerSettings"]
    assert program.value.problems[0].message == planned.value.problems[0].message
    # Without the pools (as before) only the file itself is checked.
    validate_workload_files(inputs.config.workloads, root)


def test_the_example_python_sweep_passes_against_a_container_pool_and_matches_the_schema(tmp_path):
    (tmp_path / "workloads" / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "workloads" / "python-sweep.yaml", tmp_path / "workloads")
    shutil.copy(REPO / "workloads" / "scripts" / "integrate.py", tmp_path / "workloads" / "scripts")
    (tmp_path / "Pulumi.t.yaml").write_text(_stack(CONTAINER_POOL, ["python-sweep.yaml"]))
    report = check(tmp_path)
    assert (report.problems, report.warnings) == ([], [])
    inputs = load_stack_inputs(tmp_path, "t")
    (planned,) = inputs.plan(placeholder_target(inputs.config))
    assert len(planned.tasks) == 8
    assert {task.container_settings.image_name for task in planned.tasks} == {PY}
    assert {task.container_settings.container_run_options for task in planned.tasks} == {"--network none"}
    assert all(task.output_files for task in planned.tasks)
    # On the dev stack's kind of pool (no container:) the same file is refused, naming the fix.
    (tmp_path / "Pulumi.t.yaml").write_text(_stack(None, ["python-sweep.yaml"]))
    assert [str(problem).split(": ", 2)[1] for problem in check(tmp_path).problems] == ["containerSettings"]
    text = (REPO / "workloads" / "python-sweep.yaml").read_text()
    jsonschema.validate(yaml.safe_load(text), json.loads(SCHEMA_PATH.read_text()))


def test_the_dev_stack_has_no_container_problem():
    report = check(REPO, [REPO / "Pulumi.dev.yaml"])
    assert not [problem for problem in report.problems if "container" in str(problem)]


@pytest.mark.parametrize(
    ("image", "normalized"),
    [
        ("python:3.12-slim", PY),
        ("docker.io/python:3.12-slim", PY),
        (PY, PY),
        ("ubuntu", "docker.io/library/ubuntu:latest"),
        ("org/tool", "docker.io/org/tool:latest"),
        ("myregistry.azurecr.io/sim", "myregistry.azurecr.io/sim:latest"),
        ("localhost:5000/sim@sha256:ab", "localhost:5000/sim@sha256:ab"),
    ],
)
def test_image_names_compare_as_a_runtime_resolves_them(image, normalized):
    assert normalized_image(image) == normalized


def test_pool_registry_servers_read_the_stack_config(tmp_path):
    from batchforge.config import load_stack_file

    (tmp_path / "Pulumi.t.yaml").write_text(_stack(CONTAINER_POOL_WITH_REGISTRY, []))
    config = load_stack_file(tmp_path / "Pulumi.t.yaml", tmp_path)
    assert pool_registry_servers(config.pools[0].container) == ["myregistry.azurecr.io"]
