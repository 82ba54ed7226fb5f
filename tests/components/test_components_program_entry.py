"""``__main__.py`` as the Pulumi language host runs it: what it refuses before declaring anything, and warnings."""

from __future__ import annotations

from datetime import date
from importlib import metadata

import pulumi
import pytest
import yaml
from components_mocks import REPO_ROOT, RecordingMocks, run_program

from batchforge.config import loading, to_pulumi_config

DEV = REPO_ROOT / "Pulumi.dev.yaml"


def _dev_config(**changes: object) -> dict[str, str]:
    section = yaml.safe_load(DEV.read_text())["config"]
    section.update(changes)
    return to_pulumi_config(section)


def test_a_virtualenv_without_the_package_is_refused_before_anything_is_declared(monkeypatch):
    created: list[RecordingMocks] = []
    original = RecordingMocks.__init__

    def remember(self):
        original(self)
        created.append(self)

    def not_installed(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(RecordingMocks, "__init__", remember)
    monkeypatch.setattr(metadata, "version", not_installed)
    with pytest.raises(pulumi.RunError) as caught:
        run_program("dev", _dev_config())
    assert str(caught.value).startswith("the batchforge package is not installed in the project's virtualenv")
    assert "scripts/setup" in str(caught.value)
    assert created and all(mocks.resources == [] for mocks in created)


def test_node_agent_end_of_support_warnings_reach_the_pulumi_log(monkeypatch):
    section = yaml.safe_load(DEV.read_text())["config"]
    pool = section["batchforge:pools"][0]
    pool["image"] = {"publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts"}
    pool["nodeAgentSkuId"] = "batch.node.ubuntu 22.04"
    warned: list[str] = []

    class FixedDate(date):
        @classmethod
        def today(cls) -> date:
            # Within the 12 months before 22.04's end of support, whatever day the suite runs.
            return date(2026, 12, 2)

    monkeypatch.setattr(loading, "date", FixedDate)
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *args, **kwargs: warned.append(message))
    run_program("dev", to_pulumi_config(section), modes=("update",))
    assert any("batch.node.ubuntu 22.04 reaches end of support on 2027-06-30" in message for message in warned), warned
