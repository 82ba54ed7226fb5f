"""Repository paths are resolved and must stay inside the repository: symlinks out of it are refused wherever a
workload or a stack names local files (tests with real symlinks)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from batchforge.assets import OutsideRepository, expand_source
from batchforge.config import load_stack_file
from batchforge.core import InvalidInput
from batchforge.workload import load_workload

_STACK = {
    "config": {
        "batchforge:location": "westeurope",
        "batchforge:namePrefix": "tst",
        "batchforge:batchAccount": {"publicNetworkAccess": "Enabled"},
        "batchforge:pools": [
            {
                "id": "cpu",
                "vmSize": "Standard_D2s_v5",
                "image": {"publisher": "canonical", "offer": "ubuntu-24_04-lts", "sku": "server"},
                "nodeAgentSkuId": "batch.node.ubuntu 24.04",
                "scale": {"dedicated": 1},
                "startTask": {"commandLine": "sh prepare.sh", "resourceFiles": [{"source": "start-tasks/common"}]},
            }
        ],
    }
}


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    """A repository and, beside it, a folder with a file no upload may read."""
    repo, outside = tmp_path / "repo", tmp_path / "outside"
    (repo / "data").mkdir(parents=True)
    (repo / "start-tasks" / "common").mkdir(parents=True)
    (repo / "start-tasks" / "common" / "prepare.sh").write_text("echo ready\n")
    (repo / "data" / "in.csv").write_text("a,b\n")
    outside.mkdir()
    (outside / "id_rsa").write_text("not for upload\n")
    return repo, outside


def _workload(repo: Path, **task: object) -> list[str]:
    document = {"id": "w", "pool": "cpu", "tasks": {"list": [{"id": "t", "commandLine": "true", **task}]}}
    path = repo / "workloads" / "w.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(document))
    try:
        load_workload(path, repo_root=repo, source="workloads/w.yaml")
    except InvalidInput as invalid:
        return [str(problem) for problem in invalid.problems]
    return []


def test_a_symlinked_file_pointing_outside_is_refused(layout):
    repo, outside = layout
    (repo / "data" / "key").symlink_to(outside / "id_rsa")
    assert _workload(repo, resourceFiles=[{"source": "data/key"}]) == [
        f"workloads/w.yaml: tasks.list[0].resourceFiles[0].source: data/key is a symlink to "
        f"{(outside / 'id_rsa').resolve()}, outside the repository; only files inside it are uploaded"
    ]
    with pytest.raises(OutsideRepository):
        expand_source(repo, "data/key", "workloads/w")


def test_a_path_through_a_symlinked_folder_is_refused(layout):
    repo, outside = layout
    (repo / "linked").symlink_to(outside, target_is_directory=True)
    (problem,) = _workload(repo, resourceFiles=[{"source": "linked/id_rsa"}])
    assert problem.startswith("workloads/w.yaml: tasks.list[0].resourceFiles[0].source: linked/id_rsa is a symlink")
    (problem,) = _workload(repo, resourceFiles=[{"source": "linked"}])
    assert "outside the repository" in problem


def test_a_folder_holding_a_symlink_out_is_refused(layout):
    repo, outside = layout
    (repo / "data" / "nested").mkdir()
    (repo / "data" / "nested" / "key").symlink_to(outside / "id_rsa")
    (problem,) = _workload(repo, resourceFiles=[{"source": "data"}])
    assert problem.startswith("workloads/w.yaml: tasks.list[0].resourceFiles[0].source: data/nested/key is a symlink")
    with pytest.raises(OutsideRepository, match="data/nested/key"):
        expand_source(repo, "data", "workloads/w")


def test_symlinks_that_stay_inside_the_repository_are_uploaded(layout):
    repo, _ = layout
    (repo / "data" / "alias.csv").symlink_to(repo / "data" / "in.csv")
    assert _workload(repo, resourceFiles=[{"source": "data/alias.csv"}, {"source": "data"}]) == []
    names = sorted(asset.node_path for asset in expand_source(repo, "data", "p"))
    assert names == ["data/alias.csv", "data/in.csv"]


def test_a_per_file_folder_with_a_symlink_out_is_refused(layout):
    repo, outside = layout
    (repo / "data" / "secret.csv").symlink_to(outside / "id_rsa")
    document = {
        "id": "w",
        "pool": "cpu",
        "tasks": {"perFile": {"source": {"localFolder": "data"}, "task": {"commandLine": "cat {filePath}"}}},
    }
    path = repo / "workloads" / "w.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(InvalidInput) as caught:
        load_workload(path, repo_root=repo, source="workloads/w.yaml")
    assert [str(problem) for problem in caught.value.problems] == [
        f"workloads/w.yaml: tasks.perFile.source.localFolder: data/secret.csv is a symlink to "
        f"{(outside / 'id_rsa').resolve()}, outside the repository; only files inside it are uploaded"
    ]


def test_a_start_task_file_linked_outside_is_refused(layout):
    repo, outside = layout
    (repo / "start-tasks" / "common" / "key").symlink_to(outside / "id_rsa")
    path = repo / "Pulumi.test.yaml"
    path.write_text(yaml.safe_dump(_STACK))
    with pytest.raises(InvalidInput) as caught:
        load_stack_file(path, repo_root=repo)
    assert [str(problem) for problem in caught.value.problems] == [
        f"Pulumi.test.yaml: pools[0].startTask.resourceFiles[0].source: start-tasks/common/key is a symlink to "
        f"{(outside / 'id_rsa').resolve()}, outside the repository; only files inside it are uploaded"
    ]
    (repo / "start-tasks" / "common" / "key").unlink()
    assert load_stack_file(path, repo_root=repo).pools[0].id == "cpu"
