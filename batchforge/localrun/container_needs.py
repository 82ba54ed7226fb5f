"""What ``batchctl local up`` says before it submits: the images each container pool needs, and whether this
machine can run them with the local service's container runtime (``localbatch serve --container-runtime``).

A stack without container pools gets no line at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from batchforge.localbatch.launcher import AUTO_CONTAINER_RUNTIME as AUTO
from batchforge.localbatch.launcher import CONTAINER_RUNTIME_INSTALL_HINT as INSTALL_HINT
from batchforge.localbatch.launcher import CONTAINER_RUNTIME_UNAVAILABLE
from batchforge.localbatch.launcher import find_container_runtime as find_runtime
from batchforge.workload.container_checks import normalized_image, workload_images

RuntimeFinder = Callable[[str], tuple[str | None, str]]
PREFIX = "containers:"


@dataclass(frozen=True)
class PoolImages:
    pool: str
    prefetched: tuple[str, ...]  # the pool's container.images, pulled when a node starts
    pulled: tuple[str, ...]  # images the workloads run that the pool does not prefetch

    def describe(self) -> str:
        parts = [f"{image} (prefetched)" for image in self.prefetched]
        parts += [f"{image} (pulled by the first task on each node)" for image in self.pulled]
        return f"pool {self.pool} needs {', '.join(parts)}" if parts else f"pool {self.pool} lists no image"


def pool_images(pools: Sequence[Any], workloads: Sequence[Any]) -> list[PoolImages]:
    """Every container-enabled pool of the stack with the images it prefetches and the others its workloads run."""
    found: list[PoolImages] = []
    for pool in pools:
        if pool.container is None:
            continue
        prefetched = tuple(dict.fromkeys(pool.container.images))
        known = {normalized_image(image) for image in prefetched}
        pulled: list[str] = []
        for workload in workloads:
            if workload.pool != pool.id:
                continue
            for image in workload_images(workload):
                if normalized_image(image) not in known:
                    known.add(normalized_image(image))
                    pulled.append(image)
        found.append(PoolImages(pool.id, prefetched, tuple(pulled)))
    return found


def runtime_choice(service_info: Mapping[str, object] | None) -> tuple[str, bool]:
    """(``--container-runtime``, ``--run-containers-on-host``) of the service the run uses: one already running
    says so in its service file; one ``local up`` starts uses the defaults (auto: docker, then podman)."""
    if not service_info:
        return AUTO, False
    return str(service_info.get("container_runtime") or AUTO), bool(service_info.get("run_containers_on_host"))


def container_lines(
    pools: Sequence[Any],
    workloads: Sequence[Any],
    service_info: Mapping[str, object] | None = None,
    *,
    find: RuntimeFinder = find_runtime,
) -> list[str]:
    """The lines to print; none for a stack without container pools."""
    needs = pool_images(pools, workloads)
    if not needs:
        return []
    lines = [f"{PREFIX} {need.describe()}" for need in needs]
    if not any(need.prefetched or need.pulled for need in needs):
        return lines
    choice, on_host = runtime_choice(service_info)
    runtime, reason = find(choice)
    if runtime is not None:
        lines.append(f"{PREFIX} this machine runs them with {runtime} (--container-runtime {choice})")
    elif on_host:
        lines.append(
            f"{PREFIX} this machine cannot run them ({reason}); the local service runs their tasks' command lines "
            "directly on the node instead (--run-containers-on-host), not in the images"
        )
    else:
        lines.append(
            f"{PREFIX} this machine cannot run them ({reason}): their tasks will fail with "
            f"{CONTAINER_RUNTIME_UNAVAILABLE}; {INSTALL_HINT}"
        )
    return lines
