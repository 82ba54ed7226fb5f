"""Pool replacement, start-task roll-outs and invalid config, under mocks."""

from __future__ import annotations

import shutil
from functools import cache
from pathlib import Path

import pulumi
import pytest
import yaml
from components_mocks import REPO_ROOT, run_build, run_program

from batchforge.config import load_stack_file, to_pulumi_config

DEV = REPO_ROOT / "Pulumi.dev.yaml"


def _pool_names(run) -> dict[str, str]:
    return {p.inputs["displayName"]: p.inputs["poolName"] for p in run.of_type("azure-native:batch:Pool")}


def _dev():
    """dev without its workloads: these tests are about pools, and planning workloads costs time."""
    return load_stack_file(DEV).model_copy(update={"workloads": []})


@cache
def _dev_run():
    """The unchanged ``_dev()`` built once: the baseline several tests compare a change against (read-only)."""
    return run_build(_dev(), "dev")


def _with_pool_change(**changes):
    config = _dev()
    pool = config.pools[0].model_copy(update=changes)
    return config.model_copy(update={"pools": [pool]})


@pytest.mark.parametrize(
    "change",
    [
        {"vm_size": "Standard_D4s_v5"},
        {"task_slots_per_node": 4},
        {"node_agent_sku_id": "batch.node.el 9"},
        {"inter_node_communication": True},
    ],
    ids=["vmSize", "taskSlotsPerNode", "nodeAgentSkuId", "interNodeCommunication"],
)
def test_a_change_batch_cannot_apply_in_place_renames_the_pool(change):
    before = _dev_run()
    after = run_build(_with_pool_change(**change), "dev")
    old, new = before.outputs["poolIds"]["cpu"], after.outputs["poolIds"]["cpu"]
    assert old != new and old.startswith("cpu-") and new.startswith("cpu-")
    # Same logical resource, new physical name: Pulumi plans a replacement (create new, then delete old).
    assert [p.name for p in after.of_type("azure-native:batch:Pool")] == ["pool-cpu-pool"]


def test_moving_pools_to_another_subnet_renames_them():
    config = load_stack_file(REPO_ROOT / "Pulumi.prod.yaml").model_copy(update={"workloads": []})
    moved = config.model_copy(
        update={"network": config.network.model_copy(update={"subnet_id": config.network.subnet_id + "2"})}
    )
    assert run_build(config, "prod").outputs["poolIds"]["cpu"] != run_build(moved, "prod").outputs["poolIds"]["cpu"]


def test_scale_and_start_task_changes_update_the_pool_in_place():
    config = _dev()
    pool = config.pools[0]
    resized = pool.model_copy(
        update={
            "scale": pool.scale.model_copy(update={"formula": "$TargetLowPriorityNodes = 1;"}),
            "start_task": pool.start_task.model_copy(update={"command_line": "/bin/true"}),
            "metadata": {"purpose": "other"},
        }
    )
    before = _dev_run()
    after = run_build(config.model_copy(update={"pools": [resized]}), "dev")
    assert before.outputs["poolIds"] == after.outputs["poolIds"]


def _repo_copy(tmp_path: Path) -> Path:
    shutil.copytree(REPO_ROOT / "start-tasks", tmp_path / "start-tasks")
    return tmp_path


def _start_task_urls(run) -> list[str]:
    (pool,) = run.of_type("azure-native:batch:Pool")
    return sorted(f["httpUrl"] for f in pool.inputs["startTask"]["resourceFiles"])


def test_editing_a_start_task_file_rolls_out_only_that_file(tmp_path):
    root = _repo_copy(tmp_path)
    config = load_stack_file(DEV, repo_root=root).model_copy(update={"workloads": []})
    before = run_build(config, "dev", root)
    script = root / "start-tasks/common/prepare-node.sh"
    script.write_text(script.read_text() + "\necho changed\n")
    after = run_build(config, "dev", root)

    changed = set(_start_task_urls(after)) - set(_start_task_urls(before))
    kept = set(_start_task_urls(after)) & set(_start_task_urls(before))
    assert len(changed) == 1 and next(iter(changed)).endswith("/common/prepare-node.sh")
    assert len(kept) == 1 and next(iter(kept)).endswith("/common/README.md")
    assert before.outputs["poolIds"] == after.outputs["poolIds"], "a start-task change does not replace the pool"
    blob_names = {b.name for b in after.of_type("pulumi-python:dynamic/storage:ContentAddressedBlob")}
    assert len(blob_names) == 2 and all(name.startswith("pool-cpu-start-tasks/cpu/") for name in blob_names)


def test_http_resource_files_pass_through_without_identity(tmp_path):
    config = _dev()
    pool = config.pools[0]
    task = pool.start_task.model_copy(
        update={
            "resource_files": [
                *pool.start_task.resource_files,
                type(pool.start_task.resource_files[0])(source="https://example.org/tools/setup.tar.gz"),
            ]
        }
    )
    run = run_build(config.model_copy(update={"pools": [pool.model_copy(update={"start_task": task})]}), "dev")
    (pool_resource,) = run.of_type("azure-native:batch:Pool")
    external = [f for f in pool_resource.inputs["startTask"]["resourceFiles"] if "example.org" in f["httpUrl"]]
    assert external == [{"httpUrl": "https://example.org/tools/setup.tar.gz", "filePath": "setup.tar.gz"}]


def test_invalid_config_declares_nothing_and_lists_every_problem():
    section = yaml.safe_load(DEV.read_text())["config"]
    section["batchforge:pools"][0]["scale"]["dedicated"] = -1
    section["batchforge:namePrefix"] = "Bad Prefix"
    with pytest.raises(pulumi.RunError) as caught:
        run_program("dev", to_pulumi_config(section))
    assert str(caught.value) == (
        "invalid stack config:\n"
        "Pulumi.dev.yaml: namePrefix: must be 2-10 lowercase letters or digits, starting with a letter\n"
        "Pulumi.dev.yaml: pools[0].scale.dedicated: must be >= 0"
    )


def test_invalid_config_registers_no_resources(monkeypatch):
    from components_mocks import RecordingMocks

    created: list[RecordingMocks] = []
    original = RecordingMocks.__init__

    def remember(self):
        original(self)
        created.append(self)

    monkeypatch.setattr(RecordingMocks, "__init__", remember)
    with pytest.raises(pulumi.RunError):
        run_program("dev", {"batchforge:location": "westeurope"})
    assert created and created[-1].resources == []


def test_an_invalid_workload_stops_the_program_before_anything_is_declared(monkeypatch):
    from components_mocks import RecordingMocks

    created: list[RecordingMocks] = []
    original = RecordingMocks.__init__

    def remember(self):
        original(self)
        created.append(self)

    monkeypatch.setattr(RecordingMocks, "__init__", remember)
    section = yaml.safe_load(DEV.read_text())["config"]
    section["batchforge:workloads"] = ["hello.yaml", "missing.yaml"]
    with pytest.raises(pulumi.RunError) as caught:
        run_program("dev", to_pulumi_config(section))
    lines = str(caught.value).splitlines()
    assert lines[0] == "invalid stack config:"
    assert len(lines) == 2 and lines[1].endswith("missing.yaml: file not found")
    assert created[-1].resources == []
