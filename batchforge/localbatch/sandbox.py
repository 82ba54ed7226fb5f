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
        # bwrap mounts in the order given, and a later mount covers whatever an earlier one put at or below
        # its path. So: first the private /tmp (every user writes there) and HOME; then what the agent needs
        # from under them, read-only (a checkout in /tmp or HOME re-binds the data dir inside it too); only
        # then the data dir, hidden whatever was bound above it; last the node's own folder, writable.
        private = [Path("/tmp"), Path.home()]
        argv += ["--perms", "1777", "--tmpfs", "/tmp", "--perms", "0755", "--tmpfs", str(Path.home())]
        rebound = [
            needed
            for needed in _needed_paths()
            if any(_is_within(needed, folder) for folder in private) and not _is_within(needed, data_dir)
        ]
        # The folders bwrap makes on the way to a mount copy nothing from the host, but come out 0700: made
        # here instead, 0755, so that the tasks' users can go through them (to a checkout in /tmp, say).
        bound: list[Path] = []
        for needed in rebound:
            argv += _made_parents(needed, private, bound)
            argv += ["--ro-bind-try", str(needed), str(needed)]
            bound.append(needed)
        if self.as_root:
            _warn_if_unreachable(data_dir, private, rebound)
        # The folders from the data dir down to the node's root are the sandbox's own, traversable by the
        # tasks' users, who own nothing above their own folders (the data dir itself is 0700 on the host).
        argv += _made_parents(data_dir, private, bound)
        argv += ["--perms", "0755", "--tmpfs", str(data_dir)]
        for parent in reversed(node_root.parents):
            if data_dir in parent.parents:
                argv += ["--perms", "0755", "--dir", str(parent)]
        node_root.mkdir(parents=True, exist_ok=True)
        if self.as_root:  # the node folder is the service's (its umask decides); task users go through it
            node_root.chmod(0o755)
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


def _made_parents(path: Path, private: list[Path], bound: list[Path]) -> list[str]:
    """bwrap arguments making the folders above `path` that lie in a private folder and in nothing bound."""
    argv: list[str] = []
    for parent in reversed(path.parents):
        inside = any(folder in parent.parents for folder in private)
        if inside and not any(_is_within(parent, folder) for folder in bound):
            argv += ["--perms", "0755", "--dir", str(parent)]
    return argv


_warned_unreachable: set[Path] = set()


def _warn_if_unreachable(data_dir: Path, private: list[Path], rebound: list[Path]) -> None:
    """Says once when a host folder above the data dir keeps the tasks' users out of their node folders: one
    that stays the host's inside the sandbox (not replaced by a private folder, or re-bound) and that other
    users cannot search (a checkout made 0700, say). The sandbox cannot change its mode without changing it
    on the host."""
    for parent in data_dir.parents:
        own = any(_is_within(parent, folder) for folder in private) and not any(
            _is_within(parent, folder) for folder in rebound
        )
        try:
            searchable = own or bool(parent.stat().st_mode & 0o001)
        except OSError:
            continue
        if not searchable and parent not in _warned_unreachable:
            _warned_unreachable.add(parent)
            _log.warning(
                "localbatch: %s is not searchable by other users, so non-admin tasks cannot reach their node "
                "folders under %s (their runs fail with Permission denied); run `chmod o+x %s` or use a data dir "
                "elsewhere (--data-dir)",
                parent,
                data_dir,
                parent,
            )


def _needed_paths() -> list[Path]:
    """What the agent and typical tasks need that may live under a hidden folder (a checkout in HOME, a
    pyenv Python, a test's stand-in programs in /tmp)."""
    import batchforge

    paths = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent}
    paths.add(Path(batchforge.__file__).resolve().parent.parent)
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        if entry and os.path.isabs(entry):
            paths.add(Path(entry))
            # A version manager's shims (pyenv, rbenv, asdf: `python3` on PATH is one) run the tool from its
            # root, the shims folder's parent: without it every task's `python3` fails.
            if Path(entry).name == "shims":
                paths.add(Path(entry).parent)
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
