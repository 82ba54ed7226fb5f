"""Fixtures for workload tests: a throwaway repository with workloads/, and a deployed-looking target."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from batchforge.core import InvalidInput
from batchforge.submission.target import BatchTarget, EntraIdAuth
from batchforge.workload import load_workload

IDENTITY = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/pools"
RESOURCES = "https://acct.blob.core.windows.net/resources"
OUTPUTS = "https://acct.blob.core.windows.net/outputs"


@pytest.fixture
def target() -> BatchTarget:
    return BatchTarget(
        account_endpoint="https://acct.westeurope.batch.azure.com",
        auth=EntraIdAuth(),
        pool_ids={"cpu": "bforge-dev-cpu", "gpu": "bforge-dev-gpu"},
        resources_container_url=RESOURCES,
        outputs_container_url=OUTPUTS,
        identity_resource_id=IDENTITY,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "workloads" / "scripts").mkdir(parents=True)
    (tmp_path / "workloads" / "scripts" / "run.py").write_text("print('run')\n")
    (tmp_path / "inputs").mkdir()
    for name in ("a.csv", "b.csv", "notes.txt"):
        (tmp_path / "inputs" / name).write_text(f"{name}\n")
    return tmp_path


WriteWorkload = Callable[[str, str], Path]


@pytest.fixture
def write_workload(repo: Path) -> WriteWorkload:
    def write(name: str, text: str) -> Path:
        path = repo / "workloads" / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


@pytest.fixture
def problems_of(
    repo: Path, write_workload: WriteWorkload, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], list[str]]:
    """Writes ``workloads/w.yaml`` and returns the problem lines loading it reports."""
    monkeypatch.chdir(repo)

    def problems(text: str) -> list[str]:
        path = write_workload("w.yaml", text)
        with pytest.raises(InvalidInput) as caught:
            load_workload(path.relative_to(repo))
        return [str(problem) for problem in caught.value.problems]

    return problems
