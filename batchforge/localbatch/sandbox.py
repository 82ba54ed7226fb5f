"""The sandbox a local node's agent runs in (bubblewrap on Linux), so that tasks cannot change the host.

Entered once per node when its agent starts, not per task. Inside: the host's file system read-only; the
service's data directory (its keys, state and the other nodes' folders), HOME and /tmp replaced by empty
private ones; the node's own folder writable; its own process namespace (no signal to, or /proc of, another
node's processes). When the service runs as root, task processes run as users of their own (see
`execution.users`): admin elevation as root without the capabilities that could undo the sandbox,
non-admin users each under their own uid. What the agent needs to start stays visible read-only: the
Python installation, this package and the directories on the service's PATH (where tests put stand-in
programs such as a container runtime).

`LOCALBATCH_ALLOW_HOST_CHANGES=1` (`localbatch serve --allow-host-changes`) runs nodes on the host
instead, for start tasks that are meant to install software on this machine.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from batchforge.localbatch.execution.confinement import SANDBOX_VARIABLE
from batchforge.localbatch.execution.users import TASK_USERS_VARIABLE

ALLOW_HOST_CHANGES_VARIABLE = "LOCALBATCH_ALLOW_HOST_CHANGES"
INSTALL_HINT = "sudo apt-get install bubblewrap (Debian/Ubuntu) or sudo dnf install bubblewrap (Fedora)"
# What an agent as root keeps: switching to a task's user, handing it its folder, reading its output files
# for upload, and killing its processes. Not CAP_SYS_ADMIN (mounts), so nothing inside can remount the host.
_AGENT_CAPABILITIES = (
    "CAP_SETUID",
    "CAP_SETGID",
    "CAP_CHOWN",
    "CAP_FOWNER",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_KILL",
)

_log = logging.getLogger("batchforge.localbatch")


@dataclass(frozen=True)
class Sandbox:
    """How to start a node's agent inside bubblewrap."""

    bwrap: str
    as_root: bool

    def command(self, node_root: Path, program: Sequence[str]) -> list[str]:
        node_root = node_root.resolve()
        argv = [self.bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
        data_dir = _data_dir_of(node_root)
        hidden = [Path("/tmp"), Path.home(), data_dir]
        # A private /tmp as on any machine (every user writes there); the folders leading to the node's root
        # traversable by the tasks' users, who own nothing above their own folders.
        argv += [
            "--perms",
            "1777",
            "--tmpfs",
            "/tmp",
            "--tmpfs",
            str(Path.home()),
            "--perms",
            "0755",
            "--tmpfs",
            str(data_dir),
        ]
        for parent in reversed(node_root.parents):
            if data_dir in parent.parents:
                argv += ["--perms", "0755", "--dir", str(parent)]
        for needed in _needed_paths():
            if any(_is_within(needed, folder) for folder in hidden):
                argv += ["--ro-bind-try", str(needed), str(needed)]
        node_root.mkdir(parents=True, exist_ok=True)
        argv += ["--bind", str(node_root), str(node_root)]
        argv += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--new-session"]
        argv += ["--setenv", "HOME", "/tmp", "--setenv", SANDBOX_VARIABLE, "1"]
        if self.as_root:
            argv += ["--cap-drop", "ALL"]
            for capability in _AGENT_CAPABILITIES:
                argv += ["--cap-add", capability]
            argv += ["--setenv", TASK_USERS_VARIABLE, "1"]
        else:  # unprivileged: one user namespace with the service's own uid, no other users to switch to
            argv += ["--unshare-user"]
        return [*argv, "--", *program]


def _data_dir_of(node_root: Path) -> Path:
    # A node's root is <data dir>/nodes/<pool>/<node> (the scheduler's layout); the whole data dir is hidden.
    for parent in node_root.parents:
        if parent.name == "nodes":
            return parent.parent
    return node_root.parent


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _needed_paths() -> list[Path]:
    """What the agent and typical tasks need that may live under a hidden folder (a checkout in HOME, a
    pyenv Python, a test's stand-in programs in /tmp)."""
    import batchforge

    paths = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent}
    paths.add(Path(batchforge.__file__).resolve().parent.parent)
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        if entry and os.path.isabs(entry):
            paths.add(Path(entry))
    return sorted(path.resolve() for path in paths if path.exists())


_announced = False


def _trial_failure(sandbox: Sandbox) -> str:
    """Why a sandbox like a node's cannot start on this machine ("" when it can)."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        trial = Path(folder) / "nodes" / "pool" / "node"
        try:
            done = subprocess.run(
                sandbox.command(trial, ["/bin/true"]), capture_output=True, timeout=30, stdin=subprocess.DEVNULL
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            return str(error)
    if done.returncode == 0:
        return ""
    text = done.stderr.decode(errors="replace").strip().splitlines()
    return text[-1] if text else f"exit code {done.returncode}"


def node_sandbox() -> Sandbox | None:
    """The sandbox nodes run in, or None (said once per service, with the reason and the way to change it)."""
    global _announced
    sandbox: Sandbox | None = None
    if os.environ.get(ALLOW_HOST_CHANGES_VARIABLE, "").strip() in ("1", "true", "yes"):
        reason = (
            "the service was started with --allow-host-changes: tasks run unsandboxed, directly on this machine, "
            "and start tasks can install software on it"
        )
    elif not sys.platform.startswith("linux"):
        reason = f"no sandbox on {sys.platform}: tasks run unsandboxed, directly on this machine as its user"
    elif (bwrap := shutil.which("bwrap")) is None:
        reason = f"bubblewrap (bwrap) is not installed: tasks run unsandboxed on this machine; {INSTALL_HINT}"
    else:
        sandbox = Sandbox(bwrap=bwrap, as_root=os.geteuid() == 0)
        reason = ""
        failure = _trial_failure(sandbox)
        if failure:  # e.g. user namespaces disabled: every agent would fail to start, so none is sandboxed
            sandbox = None
            reason = f"bubblewrap cannot start a sandbox here ({failure}): tasks run unsandboxed on this machine"
    if not _announced:
        _announced = True
        if sandbox is None:
            _log.warning("localbatch: %s", reason)
        elif not sandbox.as_root:
            _log.warning(
                "localbatch: nodes run sandboxed; the service is not root, so admin and non-admin tasks share its user"
            )
    return sandbox
