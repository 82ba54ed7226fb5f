"""A throwaway copy of the repository's stacks (and the files they reference) to modify in tests."""

import shutil
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


class StackRepo:
    def __init__(self, root: Path) -> None:
        self.root = root

    def read(self, stack: str) -> dict:
        return yaml.safe_load((self.root / f"Pulumi.{stack}.yaml").read_text())

    def write(self, stack: str, document: dict) -> None:
        (self.root / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))

    def edit(self, stack: str, change) -> None:
        document = self.read(stack)
        change(document["config"])
        self.write(stack, document)


@pytest.fixture
def stack_repo(tmp_path) -> StackRepo:
    for path in REPO.glob("Pulumi*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    for folder in ("start-tasks", "workloads"):
        if (REPO / folder).is_dir():
            shutil.copytree(REPO / folder, tmp_path / folder)
    return StackRepo(tmp_path)
