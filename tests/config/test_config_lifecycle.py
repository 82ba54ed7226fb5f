"""Retired settings and node agents' end of support: errors and warnings that depend on the day of the check."""

from __future__ import annotations

import functools
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from batchforge.cli import offline_check
from batchforge.cli.app import app
from batchforge.config import check_stack_file, from_pulumi_config, to_pulumi_config
from batchforge.config.lifecycle import NODE_AGENTS, RETIREMENTS, node_agent_note
from batchforge.core import InvalidInput

REPO_ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2026, 12, 2)
COMMITTED_STACKS = sorted(path for path in REPO_ROOT.glob("Pulumi.*.yaml") if path.name != "Pulumi.yaml")


def _staging_section() -> dict[str, Any]:
    return yaml.safe_load((REPO_ROOT / "Pulumi.staging.yaml").read_text())["config"]


def _pool(section: dict[str, Any]) -> dict[str, Any]:
    return section["batchforge:pools"][0]


def _write(tmp_path: Path, section: dict[str, Any]) -> Path:
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(yaml.safe_dump({"config": section}, sort_keys=False))
    return path


def _problems(tmp_path: Path, mutate, today: date = TODAY) -> str:
    section = _staging_section()
    mutate(section)
    with pytest.raises(InvalidInput) as caught:
        check_stack_file(_write(tmp_path, section), repo_root=REPO_ROOT, today=today)
    return str(caught.value)


def _warnings(tmp_path: Path, mutate, today: date = TODAY) -> list[str]:
    section = _staging_section()
    mutate(section)
    loaded = check_stack_file(_write(tmp_path, section), repo_root=REPO_ROOT, today=today)
    return [str(warning) for warning in loaded.warnings]


def _classic(section: dict[str, Any]) -> None:
    _pool(section).update(nodeCommunicationMode="Classic", publicIps=True)


def _token_auth(section: dict[str, Any]) -> None:
    section["batchforge:batchAccount"]["allowedAuthenticationModes"] = ["AAD", "TaskAuthenticationToken"]


def _retained_data(section: dict[str, Any]) -> None:
    _pool(section)["scale"]["nodeDeallocationOption"] = "RetainedData"


def _agent(sku: str):
    return lambda section: _pool(section).update(nodeAgentSkuId=sku)


RETIRED: list[tuple[str, Any, str]] = [
    (
        "classic node communication",
        _classic,
        "Pulumi.prod.yaml: pools[0].nodeCommunicationMode: Classic was retired on 2026-03-31; use Simplified",
    ),
    (
        "task authentication token",
        _token_auth,
        "Pulumi.prod.yaml: batchAccount.allowedAuthenticationModes[1]: TaskAuthenticationToken was retired on "
        "2024-09-30; use managed identities (the pools' user-assigned identity, Microsoft Entra ID) instead",
    ),
    (
        "retained data deallocation",
        _retained_data,
        "Pulumi.prod.yaml: pools[0].scale.nodeDeallocationOption: RetainedData was removed in Batch API version "
        "2026-08-01; use one of Requeue, Terminate, TaskCompletion",
    ),
    (
        "node agent past its end of support",
        _agent("batch.node.ubuntu 20.04"),
        "Pulumi.prod.yaml: pools[0].nodeAgentSkuId: batch.node.ubuntu 20.04 reached end of support on 2025-04-23; "
        "use batch.node.ubuntu 24.04 (image canonical/ubuntu-24_04-lts/server)",
    ),
    (
        "retired operating system's node agent",
        _agent("batch.node.centos 7"),
        "Pulumi.prod.yaml: pools[0].nodeAgentSkuId: batch.node.centos 7 reached end of support on 2024-12-31; "
        "use batch.node.ubuntu 24.04 (image canonical/ubuntu-24_04-lts/server)",
    ),
]


@pytest.mark.parametrize(("mutate", "expected"), [(m, e) for _, m, e in RETIRED], ids=[c[0] for c in RETIRED])
def test_retired_values_are_refused_with_date_and_replacement(tmp_path, mutate, expected):
    assert _problems(tmp_path, mutate) == expected


def test_retirements_are_listed_with_the_field_errors(tmp_path):
    def break_many(section: dict[str, Any]) -> None:
        _token_auth(section)
        _pool(section).update(nodeCommunicationMode="Classic", vmSize="D4s")
        _retained_data(section)

    assert _problems(tmp_path, break_many).splitlines() == [
        "Pulumi.prod.yaml: pools[0].vmSize: must be an Azure VM size such as Standard_D2s_v3",
        "Pulumi.prod.yaml: batchAccount.allowedAuthenticationModes[1]: TaskAuthenticationToken was retired on "
        "2024-09-30; use managed identities (the pools' user-assigned identity, Microsoft Entra ID) instead",
        "Pulumi.prod.yaml: pools[0].nodeCommunicationMode: Classic was retired on 2026-03-31; use Simplified",
        "Pulumi.prod.yaml: pools[0].scale.nodeDeallocationOption: RetainedData was removed in Batch API version "
        "2026-08-01; use one of Requeue, Terminate, TaskCompletion",
    ]


def test_a_retirement_not_reached_yet_is_a_warning(tmp_path):
    assert _warnings(tmp_path, _classic, today=date(2026, 3, 30)) == [
        "Pulumi.prod.yaml: pools[0].nodeCommunicationMode: Classic will be retired on 2026-03-31; use Simplified"
    ]
    # On the day itself it is gone.
    assert "Classic was retired on 2026-03-31" in _problems(tmp_path, _classic, today=date(2026, 3, 31))


def test_node_agent_within_twelve_months_of_its_end_is_a_warning_not_an_error(tmp_path):
    assert _warnings(tmp_path, _agent("batch.node.ubuntu 22.04")) == [
        "Pulumi.prod.yaml: pools[0].nodeAgentSkuId: batch.node.ubuntu 22.04 reaches end of support on 2027-06-30 "
        "(in 210 days); move to batch.node.ubuntu 24.04 (image canonical/ubuntu-24_04-lts/server)"
    ]


@pytest.mark.parametrize(
    ("today", "kind"),
    [
        (date(2026, 6, 29), None),  # more than 12 months before the end: nothing to say
        (date(2026, 6, 30), "warning"),  # 12 months before
        (date(2027, 6, 30), "warning"),  # the last supported day
        (date(2027, 7, 1), "error"),
    ],
)
def test_end_of_support_window_edges(today, kind):
    note = node_agent_note("batch.node.ubuntu 22.04", today)
    assert (None if note is None else ("error" if note[1] else "warning")) == kind


def test_unknown_and_open_ended_node_agents_have_no_note():
    assert node_agent_note("batch.node.ubuntu 24.04", date(2035, 1, 1)) is None
    assert node_agent_note("batch.node.windows amd64", TODAY) is None


def test_pulumi_config_path_refuses_retired_values_too():
    section = _staging_section()
    _retained_data(section)
    with pytest.raises(InvalidInput) as caught:
        from_pulumi_config("prod", to_pulumi_config(section), repo_root=REPO_ROOT, today=TODAY)
    assert str(caught.value).startswith("Pulumi.prod.yaml: pools[0].scale.nodeDeallocationOption: RetainedData")


@pytest.mark.parametrize("stack_file", COMMITTED_STACKS, ids=[path.name for path in COMMITTED_STACKS])
def test_committed_stacks_validate_without_end_of_life_warnings(stack_file):
    assert check_stack_file(stack_file, today=TODAY).warnings == ()
    # The real calendar too: a stack going stale is caught by CI, not at deploy time.
    assert check_stack_file(stack_file).warnings == ()


def test_every_date_names_its_source():
    assert all(r.source.startswith("https://") for r in RETIREMENTS)
    assert all(agent.source.startswith("https://") for agent in NODE_AGENTS)
    assert len({agent.sku for agent in NODE_AGENTS}) == len(NODE_AGENTS)


def test_batchctl_validate_prints_warnings_and_passes(tmp_path, monkeypatch):
    section = _staging_section()
    _pool(section).update(nodeAgentSkuId="batch.node.ubuntu 22.04")
    section["batchforge:workloads"] = []
    # A copy: a symlink to the checkout would lead outside this repository, and is refused.
    shutil.copytree(REPO_ROOT / "start-tasks", tmp_path / "start-tasks")
    _write(tmp_path, section)
    monkeypatch.setattr(offline_check, "check", functools.partial(offline_check.check, today=TODAY))

    result = CliRunner().invoke(app, ["validate", "--repo-root", str(tmp_path)])

    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "warning: Pulumi.prod.yaml: pools[0].nodeAgentSkuId: batch.node.ubuntu 22.04 reaches end of support on "
        "2027-06-30 (in 210 days); move to batch.node.ubuntu 24.04 (image canonical/ubuntu-24_04-lts/server)"
    ]
    assert result.stdout.strip() == "ok: 1 file(s) valid: Pulumi.prod.yaml"


def test_batchctl_validate_fails_on_an_end_of_life_node_agent(tmp_path):
    section = _staging_section()
    _pool(section).update(nodeAgentSkuId="batch.node.ubuntu 20.04")
    # A copy: a symlink to the checkout would lead outside this repository, and is refused.
    shutil.copytree(REPO_ROOT / "start-tasks", tmp_path / "start-tasks")
    _write(tmp_path, section)

    result = CliRunner().invoke(app, ["validate", "--repo-root", str(tmp_path)])

    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "Pulumi.prod.yaml: pools[0].nodeAgentSkuId: batch.node.ubuntu 20.04 reached end of support on 2025-04-23; "
        "use batch.node.ubuntu 24.04 (image canonical/ubuntu-24_04-lts/server)"
    ]
