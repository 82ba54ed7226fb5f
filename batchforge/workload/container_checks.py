"""A workload's containerSettings checked against its pool's container configuration in the stack config.

These are the mistakes Batch itself only reports once a task reaches a node (or refuses at submission), found
here, before anything is created, each naming the workload file and key path:

- a pool with ``container:`` (a container-enabled pool) runs every regular task, multi-instance tasks included,
  and every job manager task in a container: Batch requires their ``containerSettings`` ("Container-enabled
  compute node requires task container settings"). Job preparation and release tasks may leave them out there
  (they then run on the node itself). A workload's ``jobManagerTask`` cannot carry containerSettings, nor can
  the job manager batchforge adds to a scheduled workload, so neither can run on a container pool;
- a pool without ``container:`` refuses every task that has ``containerSettings`` (the REST reference: "must
  not be set" there), job preparation and release tasks included;
- registries: the nodes pull with the pool's managed identity, which is granted ``AcrPull`` only on the
  registries the pool lists (``container.registries``). An image needs its registry listed when the workload
  names the registry (``registry.registryServer``) or the image lives in an Azure Container Registry
  (``*.azurecr.io``, private unless made anonymous). Any other image without ``registry`` (Docker Hub, e.g.
  ``docker.io/library/python:3.12-slim`` or just ``python:3.12-slim``, ``mcr.microsoft.com``, ``ghcr.io``) is
  pulled as a public image, without credentials, as Batch does for a task that gives no registry: no entry;
- an image the pool does not prefetch (``container.images``) is a warning: the first task on each node pulls it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from batchforge.core import Problem
from batchforge.workload.model import ContainerSettings, Workload, image_registry, task_templates

DOCKER_HUB = "docker.io"
_DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"})
AZURE_CONTAINER_REGISTRY_SUFFIX = ".azurecr.io"


@dataclass(frozen=True)
class ContainerUse:
    """One place a workload's tasks get their container from."""

    path: str  # key path of the task, e.g. 'tasks.sweep.task' ('' for the job level)
    kind: str  # 'job', 'task', 'jobPreparationTask', 'jobReleaseTask'
    settings: ContainerSettings | None  # what the task runs in (its own, else the job's)
    own: bool  # the settings are written at this path (not inherited from the job level)

    @property
    def settings_path(self) -> str:
        return f"{self.path}.containerSettings" if self.path else "containerSettings"


def container_uses(workload: Workload) -> Iterator[ContainerUse]:
    """The job level, every task template and the job preparation/release tasks, with their effective settings."""
    job = workload.container_settings
    yield ContainerUse("", "job", job, job is not None)
    for path, template in task_templates(workload):
        own = template.container_settings
        yield ContainerUse(path, "task", own or job, own is not None)
    for key, special in (
        ("jobPreparationTask", workload.job_preparation_task),
        ("jobReleaseTask", workload.job_release_task),
    ):
        if special is not None:
            own = special.container_settings
            yield ContainerUse(key, key, own or job, own is not None)


def normalized_image(image_name: str) -> str:
    """An image reference as a runtime resolves it: registry host, Docker Hub's 'library/' and ':latest' added."""
    registry = image_registry(image_name)
    rest = image_name
    first, _, after = image_name.partition("/")
    if after and first == registry:
        rest = after
    if registry in _DOCKER_HUB_ALIASES:
        registry = DOCKER_HUB
        if "/" not in rest:
            rest = f"library/{rest}"
    last = rest.rsplit("/", 1)[-1]
    if ":" not in last and "@" not in last:
        rest = f"{rest}:latest"
    return f"{registry}/{rest}"


def pool_registry_servers(container: Any) -> list[str]:
    """Login servers of the registries a pool's container configuration lists (as the stack config names them)."""
    servers: list[str] = []
    for registry in getattr(container, "registries", None) or ():
        server = getattr(registry, "server", None) or getattr(registry, "login_server", None)
        if not server:
            resource_id = str(getattr(registry, "resource_id", "") or getattr(registry, "id", "") or "")
            name = resource_id.rstrip("/").rsplit("/", 1)[-1] if "/registries/" in resource_id.lower() else ""
            server = f"{name.lower()}{AZURE_CONTAINER_REGISTRY_SUFFIX}" if name else ""
        if server:
            servers.append(str(server).lower())
    return servers


def _listed_text(servers: Sequence[str]) -> str:
    return ", ".join(servers) if servers else "none"


def _registry_problem(use: ContainerUse, pool: str, servers: Sequence[str], source: str) -> Problem | None:
    settings = use.settings
    assert settings is not None
    if settings.registry is not None:
        server = settings.registry.registry_server.lower()
        if server in servers:
            return None
        return Problem(
            source,
            f"{use.settings_path}.registry.registryServer",
            f"registry '{settings.registry.registry_server}' is not one of pool '{pool}''s container registries "
            f"({_listed_text(servers)}): the nodes pull with the pool's managed identity, which may pull only from "
            f"the registries listed under container.registries of pool '{pool}' in the stack config",
        )
    host = image_registry(settings.image_name).lower()
    if host.endswith(AZURE_CONTAINER_REGISTRY_SUFFIX) and host not in servers:
        return Problem(
            source,
            f"{use.settings_path}.imageName",
            f"image '{settings.image_name}' is in Azure Container Registry '{host}', which pool '{pool}' does not "
            f"list ({_listed_text(servers)}): add it under container.registries of pool '{pool}' in the stack "
            "config, so the nodes' identity may pull from it (public images, e.g. from docker.io, need no entry)",
        )
    return None


def _missing_settings_problems(workload: Workload, pool: str, uses: Sequence[ContainerUse]) -> list[Problem]:
    source = workload.source
    needed = "Batch requires every task there to run in a container ('Container-enabled compute node requires "
    needed += "task container settings')"
    tasks = [use for use in uses if use.kind == "task"]
    missing = [use for use in tasks if use.settings is None]
    problems: list[Problem] = []
    if missing and len(missing) == len(tasks):
        problems.append(
            Problem(
                source,
                "containerSettings",
                f"is not set, but pool '{pool}' is container-enabled (container: in the stack config) and {needed}: "
                "set containerSettings (imageName at least) at the job level, every task's default, or on each task",
            )
        )
    else:
        problems.extend(
            Problem(
                source,
                use.settings_path,
                f"is not set and the job sets none, but pool '{pool}' is container-enabled and {needed}: "
                "give this task containerSettings, or set them at the job level",
            )
            for use in missing
        )
    if workload.job_manager_task is not None:
        problems.append(
            Problem(
                source,
                "jobManagerTask",
                f"cannot run on pool '{pool}': the pool is container-enabled, Batch requires a job manager task there "
                "to run in a container, and a workload's jobManagerTask cannot set containerSettings; run the "
                "workload on a pool without container:",
            )
        )
    if workload.schedule is not None:
        problems.append(
            Problem(
                source,
                "schedule",
                f"cannot be used on pool '{pool}': a scheduled workload's jobs start with batchforge's job manager "
                "task, which runs on the node, not in a container, and a container-enabled pool runs job manager "
                "tasks only in containers; run the scheduled workload on a pool without container:",
            )
        )
    return problems


def _no_container_pool_problems(workload: Workload, pool: str, uses: Sequence[ContainerUse]) -> list[Problem]:
    problems: list[Problem] = []
    for use in uses:
        if not use.own:
            continue  # inherited from the job level: reported there, once
        assert use.settings is not None
        what = {
            "job": "every task of the job would run in a container",
            "task": "this task would run in a container",
        }.get(use.kind, f"the {use.kind} would run in a container")
        problems.append(
            Problem(
                workload.source,
                use.settings_path,
                f"sets image '{use.settings.image_name}', so {what}, but pool '{pool}' has no container configuration "
                "and Batch refuses containerSettings on such a pool: add container: (type, images, registries) to "
                f"pool '{pool}' in the stack config, or remove containerSettings",
            )
        )
    return problems


def container_problems(workload: Workload, pool: str, container: Any | None) -> list[Problem]:
    """What Batch would refuse or fail about the workload's containers on its pool (``container``: the pool's
    ``ContainerConfig`` from the stack config, None for a pool without one)."""
    uses = list(container_uses(workload))
    if container is None:
        return _no_container_pool_problems(workload, pool, uses)
    problems = _missing_settings_problems(workload, pool, uses)
    servers = pool_registry_servers(container)
    for use in uses:
        if use.settings is None or not use.own:
            continue
        found = _registry_problem(use, pool, servers, workload.source)
        if found is not None:
            problems.append(found)
    return problems


def container_warnings(workload: Workload, pool: str, container: Any | None) -> list[Problem]:
    """Images the workload runs that its container pool does not prefetch (one warning per image)."""
    if container is None:
        return []
    prefetched = {normalized_image(name) for name in getattr(container, "images", None) or ()}
    warnings: list[Problem] = []
    seen: set[str] = set()
    for use in container_uses(workload):
        if use.settings is None or not use.own:
            continue
        image = normalized_image(use.settings.image_name)
        if image in prefetched or image in seen:
            continue
        seen.add(image)
        warnings.append(
            Problem(
                workload.source,
                f"{use.settings_path}.imageName",
                f"image '{use.settings.image_name}' is not in pool '{pool}''s container.images, so the first task "
                "on each node waits for it to be pulled; add it there to have nodes pull it when they start",
            )
        )
    return warnings


def workload_images(workload: Workload) -> list[str]:
    """Every image the workload's tasks run in, in the order first used (job level, tasks, preparation/release)."""
    images: list[str] = []
    for use in container_uses(workload):
        if use.settings is not None and use.settings.image_name not in images:
            images.append(use.settings.image_name)
    return images
