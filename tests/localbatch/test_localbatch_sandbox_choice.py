"""Which sandbox local nodes get, and the one message when they get none."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import pytest

from batchforge.localbatch import sandbox
from batchforge.localbatch.sandbox import ALLOW_HOST_CHANGES_VARIABLE, Sandbox, node_sandbox


@pytest.fixture(autouse=True)
def _not_announced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "_announced", False)
    monkeypatch.delenv(ALLOW_HOST_CHANGES_VARIABLE, raising=False)


def test_without_bubblewrap_nodes_run_unsandboxed_and_the_service_says_so_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    monkeypatch.setattr(sandbox.sys, "platform", "linux")
    with caplog.at_level(logging.WARNING, logger="batchforge.localbatch"):
        assert node_sandbox() is None
        assert node_sandbox() is None
    (record,) = caplog.records
    assert "tasks run unsandboxed" in record.getMessage() and "apt-get install bubblewrap" in record.getMessage()


def test_allow_host_changes_runs_nodes_on_the_host_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(ALLOW_HOST_CHANGES_VARIABLE, "1")
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: "/usr/bin/bwrap")
    with caplog.at_level(logging.WARNING, logger="batchforge.localbatch"):
        assert node_sandbox() is None
    assert "--allow-host-changes" in caplog.text and "install software" in caplog.text


def test_the_sandbox_hides_the_data_dir_home_and_tmp_and_binds_only_the_node_folder(tmp_path: Path) -> None:
    node_root = tmp_path / "data" / "nodes" / "pool" / "node-1"
    argv = Sandbox(bwrap="/usr/bin/bwrap", as_root=True).command(node_root, ["python", "-c", "pass"])
    pairs = list(itertools.pairwise(argv))
    assert ("--ro-bind", "/") in pairs and ("--bind", str(node_root.resolve())) in pairs
    for hidden in ("/tmp", str(Path.home()), str((tmp_path / "data").resolve())):
        assert ("--tmpfs", hidden) in pairs, hidden
    assert "--unshare-pid" in argv and ("--cap-drop", "ALL") in pairs and "CAP_SYS_ADMIN" not in argv
    assert argv[-4:] == ["--", "python", "-c", "pass"]


def test_a_bubblewrap_that_cannot_start_a_sandbox_means_unsandboxed_with_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # As where user namespaces are switched off: bwrap exists but fails, so no node agent could ever start.
    broken = tmp_path / "bwrap"
    broken.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: str(broken))
    monkeypatch.setattr(sandbox.sys, "platform", "linux")
    with caplog.at_level(logging.WARNING, logger="batchforge.localbatch"):
        assert node_sandbox() is None
    assert "setting up uid map: Permission denied" in caplog.text and "unsandboxed" in caplog.text


def test_a_checkout_re_bound_from_tmp_does_not_uncover_its_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A clone under /tmp: the checkout (on PATH here, as the package's folder is) is re-bound inside the private
    # /tmp, and its .localbatch is the data dir. bwrap mounts in order, so the data dir's tmpfs must come after.
    checkout = tmp_path / "clone"
    data_dir = checkout / ".localbatch"
    node_root = data_dir / "nodes" / "pool" / "node-1"
    checkout.mkdir()
    monkeypatch.setenv("PATH", f"{checkout}:/usr/bin:/bin")
    argv = Sandbox(bwrap="/usr/bin/bwrap", as_root=True).command(node_root, ["true"])
    position = {(flag, path): index for index, (flag, path) in enumerate(itertools.pairwise(argv))}
    checkout_bind = position[("--ro-bind-try", str(checkout.resolve()))]
    hide = position[("--tmpfs", str(data_dir.resolve()))]
    node_bind = position[("--bind", str(node_root.resolve()))]
    assert position[("--tmpfs", "/tmp")] < checkout_bind < hide < node_bind
    assert argv[hide - 1 : hide + 1] == ["0755", "--tmpfs"]


def test_a_host_folder_above_the_data_dir_that_others_cannot_search_is_named_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    checkout = tmp_path / "private-clone"
    checkout.mkdir(mode=0o700)
    monkeypatch.setenv("PATH", f"{checkout}:/usr/bin:/bin")
    monkeypatch.setattr(sandbox, "_warned_unreachable", set())
    with caplog.at_level(logging.WARNING, logger="batchforge.localbatch"):
        for node in ("node-1", "node-2"):
            Sandbox(bwrap="/usr/bin/bwrap", as_root=True).command(checkout / ".localbatch/nodes/pool" / node, ["true"])
    (record,) = caplog.records
    assert f"chmod o+x {checkout.resolve()}" in record.getMessage()


def test_a_version_managers_shims_on_path_keep_their_tools_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pyenv's `python3` shim runs $PYENV_ROOT/libexec/pyenv: the shims folder alone is not enough in a hidden HOME.
    home = tmp_path / "home"
    shims = home / ".pyenv" / "shims"
    shims.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PATH", f"{shims}:/usr/bin:/bin")
    argv = Sandbox(bwrap="/usr/bin/bwrap", as_root=True).command(tmp_path / "data/nodes/pool/node-1", ["true"])
    pairs = list(itertools.pairwise(argv))
    assert ("--tmpfs", str(home)) in pairs and ("--ro-bind-try", str((home / ".pyenv").resolve())) in pairs
