"""Container tasks on a local node: a task's command line run in its image with Docker or Podman.

As on a Batch Linux node (TaskContainerSettings, "Batch container isolation task" in the Batch docs):
- the command line is the container's command (empty: the image's own ENTRYPOINT/CMD);
- without ``containerHostBatchBindMounts`` the whole AZ_BATCH_NODE_ROOT_DIR is bind-mounted read-write at the
  same path; with it, only the listed Batch data paths (Shared, Startup, VfsMounts, Task, JobPrep,
  Applications), each at the same path, read-only where ``isReadOnly``; an empty list mounts nothing;
- the AZ_BATCH_* variables and the job's and task's environment settings are set in the container;
- ``workingDirectory`` taskWorkingDirectory (the default) starts the command in AZ_BATCH_TASK_WORKING_DIR,
  containerImageDefault in the image's WORKDIR;
- ``containerRunOptions`` are added to the runtime's create/run arguments after the ones Batch controls;
- an image is pulled once per node: the pool's containerImageNames when the node starts, any other image
  by the first task that needs it.

The runtime is a docker-compatible CLI (`docker` or `podman`, or an executable named with
`localbatch serve --container-runtime PATH`), chosen once per service start by asking it `info`. Each run is
`<runtime> run --rm --name localbatch-<id> ...`, attached, so the container's output goes to stdout.txt and
stderr.txt and its exit code is the task's; a run that is killed (maxWallClockTime, terminate) also removes
its container. The CLI runs as the node agent's user, not the task's: the runtime's daemon is the boundary.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import shlex
import shutil
import subprocess
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from batchforge.localbatch.execution import failures
from batchforge.localbatch.execution.environment import batch_variables
from batchforge.localbatch.execution.failures import TaskFailure
from batchforge.localbatch.execution.layout import WORKING_DIR, job_preparation_dir_path, shared_dir, startup_dir
from batchforge.localbatch.execution.model import ContainerHost, NodeContext, TaskRun
from batchforge.localbatch.execution.process import ProcessExit, run_process
from batchforge.localbatch.execution.users import RunUser

# Failure codes. The first three are Batch's own (seen on real nodes: microsoft/ga4gh-tes#525 and
# MicrosoftDocs/azure-docs#16473 for the first, Azure/Batch#4 and #49 for the others); the last is ours.
CONTAINER_TASK_SETTINGS_NOT_FOUND = "ContainerTaskSettingsNotFound"
CONTAINER_INVALID_SETTINGS = "ContainerInvalidSettings"
CONTAINER_INVALID_IMAGE = "ContainerInvalidImage"
CONTAINER_RUNTIME_UNAVAILABLE = "ContainerRuntimeUnavailable"

RUNTIME_NAMES = ("docker", "podman")
AUTO = "auto"
INSTALL_HINT = (
    "install Docker (https://docs.docker.com/engine/install/) or Podman (e.g. sudo apt-get install podman) so that "
    "`docker info` or `podman info` succeeds, and restart the local Batch service; or start it with "
    "`localbatch serve --run-containers-on-host` to run container tasks' command lines directly on the node"
)
ON_HOST_NOTE = (
    "localbatch: no container runtime is usable here ({reason}); the service was started with "
    "--run-containers-on-host, so this container task's command line runs directly on the node, not in image {image}\n"
)
ON_HOST_DETAIL = "RanOnHostNotInContainer"
_PROBE_TIMEOUT_SECONDS = 15.0
_PULL_TIMEOUT_SECONDS = 1800.0
_REMOVE_TIMEOUT_SECONDS = 30.0
_TAIL_CHARACTERS = 2000
# What the runtime's CLI itself needs from the service's environment (its socket, config, registry logins);
# nothing else of it is passed on.
_CLI_VARIABLES = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TZ",
    "USER",
    "XDG_RUNTIME_DIR",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "DOCKER_HOST",
    "DOCKER_CONFIG",
    "DOCKER_CONTEXT",
    "DOCKER_CERT_PATH",
    "DOCKER_TLS_VERIFY",
    "CONTAINER_HOST",
    "CONTAINER_CONNECTION",
    "CONTAINERS_CONF",
    "CONTAINERS_STORAGE_CONF",
    "REGISTRY_AUTH_FILE",
)
_BIND_SOURCES = ("shared", "startup", "vfsmounts", "task", "jobprep", "applications")

log = logging.getLogger("batchforge.localbatch.containers")


# ---- the service's choice of runtime -------------------------------------------------------------
@dataclass(frozen=True)
class RuntimeChoice:
    """`localbatch serve --container-runtime auto|docker|podman|PATH [--run-containers-on-host]`."""

    runtime: str = AUTO
    run_on_host: bool = False


_choice = RuntimeChoice()
_resolved: tuple[str | None, str] | None = None
_resolve_lock = threading.Lock()


def configure(runtime: str = AUTO, *, run_on_host: bool = False) -> None:
    """Set at service start; the runtime is looked for once, when a container pool's node first needs it."""
    global _choice, _resolved
    with _resolve_lock:
        _choice = RuntimeChoice(runtime=runtime or AUTO, run_on_host=run_on_host)
        _resolved = None


def _probe(executable: str) -> str:
    """Why the runtime cannot run containers here ('' when `<runtime> info` succeeds)."""
    try:
        answer = subprocess.run(
            [executable, "info"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_PROBE_TIMEOUT_SECONDS,
            env={name: os.environ[name] for name in _CLI_VARIABLES if name in os.environ},
        )
    except subprocess.TimeoutExpired:
        return f"`{executable} info` did not answer within {_PROBE_TIMEOUT_SECONDS:g} s"
    except OSError as error:
        return f"`{executable} info` could not start: {error.strerror or error}"
    if answer.returncode == 0:
        return ""
    lines = [line.strip() for line in answer.stderr.decode(errors="replace").splitlines() if line.strip()]
    return f"`{executable} info` failed ({lines[-1] if lines else f'exit code {answer.returncode}'})"


def _candidates(choice: str) -> list[tuple[str, str | None]]:
    if choice == AUTO:
        return [(name, shutil.which(name)) for name in RUNTIME_NAMES]
    if choice in RUNTIME_NAMES:
        return [(choice, shutil.which(choice))]
    path = os.path.abspath(choice)
    return [(choice, path if os.path.isfile(path) and os.access(path, os.X_OK) else None)]


def find_runtime(choice: str = AUTO) -> tuple[str | None, str]:
    """(the executable `--container-runtime choice` runs containers with, '') or (None, why there is none),
    probed now (``resolve`` is the service's once-per-start answer)."""
    choice = choice or AUTO
    reasons = []
    for name, executable in _candidates(choice):
        if executable is None:
            reasons.append(
                f"{name}: not found" if choice in (AUTO, *RUNTIME_NAMES) else f"{name}: not an executable file"
            )
            continue
        problem = _probe(executable)
        if not problem:
            return executable, ""
        reasons.append(problem)
    return None, "; ".join(reasons)


def resolve() -> tuple[str | None, str]:
    """(the runtime's executable, '') or (None, why there is none); probed once per service start."""
    global _resolved
    with _resolve_lock:
        if _resolved is None:
            _resolved = find_runtime(_choice.runtime)
            found = _resolved[0]
            if found:
                log.info("localbatch: container tasks run with %s", found)
            else:
                log.warning("localbatch: no container runtime usable (%s)", _resolved[1])
        return _resolved


def container_host(pool_body: Mapping[str, Any]) -> ContainerHost | None:
    """The container side of a pool's nodes (None: the pool is not container-enabled)."""
    configuration = (pool_body.get("virtualMachineConfiguration") or {}).get("containerConfiguration")
    if not configuration:
        return None
    runtime, reason = resolve()
    return ContainerHost(
        pool_type=str(configuration.get("type") or "dockerCompatible"),
        images=tuple(str(name) for name in configuration.get("containerImageNames") or ()),
        runtime=runtime,
        unavailable=reason,
        run_on_host=_choice.run_on_host,
    )


# ---- the command lines -------------------------------------------------------------------------------
def cli_environment(container_variables: Mapping[str, str] = {}) -> tuple[dict[str, str], list[str]]:
    """The runtime CLI's own environment, with the container's variables in it, and the `-e` arguments that
    hand those on: `-e NAME` (value from the CLI's environment, so it is not on a command line others can
    read), or `-e NAME=VALUE` for a name the CLI itself reads."""
    environment = {name: os.environ[name] for name in _CLI_VARIABLES if name in os.environ}
    arguments: list[str] = []
    for name, value in container_variables.items():
        if name in environment or name in _CLI_VARIABLES:
            arguments += ["-e", f"{name}={value}"]
        else:
            environment[name] = value
            arguments += ["-e", name]
    return environment, arguments


def bind_mounts(node: NodeContext, run: TaskRun, directory: str, settings: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """(host path = container path, read-only) for each mount, as Batch makes them on Linux."""
    entries = settings.get("containerHostBatchBindMounts")
    if entries is None:
        return [(str(node.node_root), False)]
    root = str(node.node_root)
    places = {
        "shared": str(shared_dir(node)),
        "startup": str(startup_dir(node)),
        "vfsmounts": os.path.join(root, "fsmounts"),
        "task": directory,
        "applications": os.path.join(root, "applications"),
    }
    if run.job_id is not None:
        places["jobprep"] = job_preparation_dir_path(node, run.job_id)
    mounts: list[tuple[str, bool]] = []
    for entry in entries:
        source = str(entry.get("source") or "").lower()
        if source not in _BIND_SOURCES:
            raise TaskFailure(
                CONTAINER_INVALID_SETTINGS,
                "At least one value of specified task container settings is invalid",
                Message=f"containerHostBatchBindMounts source {entry.get('source')!r} is not a Batch data path",
            )
        path = places.get(source)
        if path is None or (source == "jobprep" and not os.path.isdir(path)):
            continue  # no job preparation task (or a start task): nothing of it on the node to mount
        os.makedirs(path, exist_ok=True)
        mounts.append((path, bool(entry.get("isReadOnly"))))
    return mounts


def run_argv(
    runtime: str,
    name: str,
    image: str,
    command_line: str,
    *,
    mounts: Sequence[tuple[str, bool]],
    environment_arguments: Sequence[str],
    workdir: str | None,
    run_options: str,
) -> list[str]:
    try:
        options, command = shlex.split(run_options), shlex.split(command_line)
    except ValueError as error:
        raise TaskFailure(failures.COMMAND_LAUNCH_FAILED, f"The command line cannot be parsed: {error}") from error
    argv = [runtime, "run", "--rm", "--name", name]
    for path, read_only in mounts:
        argv += ["-v", f"{path}:{path}{':ro' if read_only else ''}"]
    argv += environment_arguments
    if workdir is not None:
        argv += ["-w", workdir]
    return [*argv, *options, image, *command]


# ---- running ---------------------------------------------------------------------------------------------
def _state_dir(node: NodeContext) -> str:
    # Batch keeps its own files under the node root's volatile/ folder ("for internal purposes").
    return os.path.join(str(node.node_root), "volatile", "containers")


def _tail(text: bytes) -> str:
    return text.decode(errors="replace").strip()[-_TAIL_CHARACTERS:]


async def pull_once(node: NodeContext, runtime: str, image: str) -> None:
    """Pulls ``image`` unless this node has (a lock per image, so concurrent tasks of a node pull once)."""
    folder = _state_dir(node)
    os.makedirs(folder, exist_ok=True)
    key = hashlib.sha256(image.encode()).hexdigest()[:24]
    marker = os.path.join(folder, f"{key}.pulled")
    if os.path.exists(marker):
        return
    descriptor = os.open(os.path.join(folder, f"{key}.lock"), os.O_CREAT | os.O_RDWR, 0o600)
    try:
        await asyncio.to_thread(fcntl.flock, descriptor, fcntl.LOCK_EX)
        if os.path.exists(marker):
            return
        environment, _ = cli_environment()
        process = await asyncio.create_subprocess_exec(
            runtime,
            "pull",
            image,
            cwd=folder,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            output, _ = await asyncio.wait_for(process.communicate(), _PULL_TIMEOUT_SECONDS)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            raise
        if process.returncode != 0:
            raise TaskFailure(
                CONTAINER_INVALID_IMAGE,
                "The container image could not be pulled",
                ImageName=image,
                Message=_tail(output) or f"{runtime} pull exited with {process.returncode}",
            )
        with open(marker, "w") as written:
            written.write(image + "\n")
    finally:
        os.close(descriptor)  # releases the lock


async def prefetch(node: NodeContext) -> dict[str, Any] | None:
    """Pulls the pool's containerImageNames when a node starts; a ComputeNodeError when one fails (the node is
    then unusable, as on Batch)."""
    host = node.containers
    if host is None or host.runtime is None:
        return None
    for image in host.images:
        try:
            await pull_once(node, host.runtime, image)
        except TaskFailure as failure:
            return {
                "code": failure.code,
                "message": f"{failure.message}: {image}",
                "errorDetails": [{"name": name, "value": value} for name, value in failure.details.items()],
            }
    return None


async def _remove(runtime: str, name: str, cwd: str) -> None:
    environment, _ = cli_environment()
    with contextlib.suppress(Exception):
        process = await asyncio.create_subprocess_exec(
            runtime,
            "rm",
            "-f",
            name,
            cwd=cwd,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        await asyncio.wait_for(process.wait(), _REMOVE_TIMEOUT_SECONDS)


def _name_value_pairs(settings: Any) -> dict[str, str]:
    return {str(item["name"]): "" if item.get("value") is None else str(item["value"]) for item in settings or ()}


@dataclass(frozen=True)
class ContainerRun:
    """How one run's command lines start: in the image, or (the service's opt-in) directly on the node."""

    node: NodeContext
    run: TaskRun
    directory: str
    settings: Mapping[str, Any]
    runtime: str | None
    on_host_reason: str = ""

    @property
    def image(self) -> str:
        return str(self.settings.get("imageName") or "")

    @property
    def on_host(self) -> bool:
        return self.runtime is None

    def variables(self) -> dict[str, str]:
        return {
            **batch_variables(self.node, self.run, self.directory),
            **_name_value_pairs(self.run.job_environment),
            **_name_value_pairs(self.run.spec.get("environmentSettings")),
        }

    def argv(self, command_line: str, name: str) -> tuple[list[str], dict[str, str]]:
        assert self.runtime is not None
        environment, arguments = cli_environment(self.variables())
        default_workdir = str(self.settings.get("workingDirectory") or "").lower() == "containerimagedefault"
        argv = run_argv(
            self.runtime,
            name,
            self.image,
            command_line,
            mounts=bind_mounts(self.node, self.run, self.directory, self.settings),
            environment_arguments=arguments,
            workdir=None if default_workdir else os.path.join(self.directory, WORKING_DIR),
            run_options=str(self.settings.get("containerRunOptions") or ""),
        )
        return argv, environment

    async def __call__(
        self,
        command_line: str,
        *,
        cwd: str | Path,
        environment: Mapping[str, str],
        stdout: BinaryIO,
        stderr: BinaryIO,
        timeout_seconds: float | None,
        user: RunUser | None = None,
    ) -> ProcessExit:
        """Starts like `process.run_process` (the runner calls either the same way)."""
        if self.runtime is None:
            stderr.write(ON_HOST_NOTE.format(reason=self.on_host_reason, image=self.image).encode())
            stderr.flush()
            return await run_process(
                command_line,
                cwd=cwd,
                environment=environment,
                stdout=stdout,
                stderr=stderr,
                timeout_seconds=timeout_seconds,
                user=user,
            )
        await pull_once(self.node, self.runtime, self.image)
        name = f"localbatch-{uuid.uuid4().hex}"
        argv, cli_env = self.argv(command_line, name)
        state = _state_dir(self.node)
        try:
            exited = await run_process(
                shlex.join(argv),
                cwd=state,
                environment=cli_env,
                stdout=stdout,
                stderr=stderr,
                timeout_seconds=timeout_seconds,
            )
        except BaseException:
            # The CLI was killed; the container it attached to would run on in the runtime's daemon.
            await asyncio.shield(_remove(self.runtime, name, state))
            raise
        if exited.timed_out:
            await _remove(self.runtime, name, state)
        return exited


def plan(node: NodeContext, run: TaskRun, directory: str) -> ContainerRun | None:
    """How this run's command lines start (None: as processes on the node), or the TaskFailure Batch reports
    before the command for container settings that do not fit the pool.

    On Batch the node decides this when the task runs, not Task - Add (the pool is only known then: auto pools,
    a job moved to another pool): a task without containerSettings on a container-enabled node fails with
    ContainerTaskSettingsNotFound ("Container-enabled compute node requires task container settings", as
    reported on real nodes in microsoft/ga4gh-tes#525). The REST reference says containerSettings "must not be
    set" on a pool without containerConfiguration without naming the error; here that run fails with Batch's
    ContainerInvalidSettings. Start, job preparation and release tasks may leave containerSettings out on a
    container pool and then run on the node itself.
    """
    settings = run.spec.get("containerSettings")
    host = node.containers
    if host is None:
        if settings:
            raise TaskFailure(
                CONTAINER_INVALID_SETTINGS,
                "At least one value of specified task container settings is invalid",
                Message="the pool has no virtualMachineConfiguration.containerConfiguration, so its nodes cannot "
                "run tasks with containerSettings",
            )
        return None
    if not settings:
        if run.kind == "task":
            raise TaskFailure(
                CONTAINER_TASK_SETTINGS_NOT_FOUND, "Container-enabled compute node requires task container settings"
            )
        return None
    if not settings.get("imageName"):
        raise TaskFailure(
            CONTAINER_INVALID_SETTINGS,
            "At least one value of specified task container settings is invalid",
            Message="containerSettings.imageName is empty",
        )
    if host.runtime is None and not host.run_on_host:
        raise TaskFailure(
            CONTAINER_RUNTIME_UNAVAILABLE,
            f"The task runs in container image {settings.get('imageName')} but the local Batch service found no "
            f"usable container runtime ({host.unavailable}): {INSTALL_HINT}",
            ImageName=str(settings.get("imageName")),
        )
    return ContainerRun(node, run, directory, settings, host.runtime, host.unavailable)


def mark_on_host(container: ContainerRun | None, failure: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """A failed run that the opt-in ran on the node instead of in its image says so in its failureInfo."""
    if failure is None or container is None or not container.on_host:
        return failure
    details = [
        *failure.get("details", ()),
        {"name": ON_HOST_DETAIL, "value": f"the command ran on the node, not in {container.image}"},
    ]
    return {**failure, "details": details}
