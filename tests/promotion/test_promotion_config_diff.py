"""``config diff A B`` on validated effective stack configs."""

from pathlib import Path

import pytest
from rich.console import Console

from batchforge.core import InvalidInput
from batchforge.promotion import diff_stack_configs

REPO = Path(__file__).resolve().parents[2]


def changed(diff):
    return {row.path: (row.left, row.right) for row in diff.differences}


def test_committed_dev_and_staging_differ_where_the_files_differ():
    diff = diff_stack_configs("dev", "staging", REPO)
    found = changed(diff)
    assert found["tags.environment"] == ("dev", "staging")
    assert found["pools[cpu].vmSize"] == ("Standard_D2s_v5", "Standard_D4s_v5")
    assert found["pools[cpu].publicIps"] == (True, False)
    assert "location" not in found
    assert not diff.identical


def test_a_stack_against_itself_is_identical():
    diff = diff_stack_configs("prod", "Pulumi.prod.yaml", REPO)
    assert diff.identical
    assert diff.left_stack == diff.right_stack == "prod"
    assert diff.rows, "the effective config is listed even without differences"


def test_defaults_are_filled_in_before_comparing(stack_repo):
    stack_repo.edit("staging", lambda config: config["batchforge:storage"].update(resourcesContainer="resources"))
    stack_repo.edit("prod", lambda config: config["batchforge:storage"].pop("sku"))
    diff = diff_stack_configs("staging", "prod", stack_repo.root)
    found = changed(diff)
    assert "storage.resourcesContainer" not in found
    assert found["storage.sku"] == ("Standard_ZRS", "Standard_LRS")


def test_pools_are_matched_by_id_not_position(stack_repo):
    document = stack_repo.read("prod")
    document["config"]["batchforge:pools"].reverse()
    stack_repo.write("prod-reordered", document)
    assert diff_stack_configs("prod", "prod-reordered", stack_repo.root).identical


def test_added_and_removed_keys(stack_repo):
    diff = diff_stack_configs("staging", "prod", REPO)
    kinds = {row.path: row.kind for row in diff.differences}
    assert kinds["pools[mpi].vmSize"] == "added"
    assert kinds["tags.dataClassification"] == "added"
    reverse = {row.path: row.kind for row in diff_stack_configs("prod", "staging", REPO).differences}
    assert reverse["pools[mpi].vmSize"] == "removed"


def test_invalid_files_report_every_problem_of_both(stack_repo):
    stack_repo.edit("dev", lambda config: config["batchforge:pools"][0]["scale"].update(dedicated=-1))
    stack_repo.edit("prod", lambda config: config.update({"batchforge:namePrefix": "Bad Prefix"}))
    with pytest.raises(InvalidInput) as raised:
        diff_stack_configs("dev", "prod", stack_repo.root)
    sources = {problem.source for problem in raised.value.problems}
    assert sources == {"Pulumi.dev.yaml", "Pulumi.prod.yaml"}
    assert any(problem.path == "namePrefix" for problem in raised.value.problems)


def test_unknown_stack_is_a_problem_not_a_traceback():
    with pytest.raises(InvalidInput, match="no such stack file"):
        diff_stack_configs("dev", "qa", REPO)


def test_text_and_rich_output_show_the_differences():
    diff = diff_stack_configs("dev", "staging", REPO)
    text = diff.to_text()
    assert text.splitlines()[0] == f"config: dev vs staging: {len(diff.differences)} difference(s)"
    assert "~ pools[cpu].vmSize: Standard_D2s_v5 -> Standard_D4s_v5" in text.splitlines()
    console = Console(width=200, record=True)
    console.print(diff.render(only_differences=True))
    rendered = console.export_text()
    assert "pools[cpu].vmSize" in rendered
    assert "Standard_D4s_v5" in rendered
    assert "│ location " not in rendered


def test_json_lists_only_differences():
    payload = diff_stack_configs("dev", "staging", REPO).to_json()
    assert payload["left"] == "dev"
    assert {"path": "tags.environment", "kind": "changed", "left": "dev", "right": "staging"} in payload["differences"]
