"""Account-level reads: supported images (and the older node agent SKU list) and pool node counts."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from batchforge.localbatch.api.common import account, endpoint, list_response
from batchforge.localbatch.entities import Entity, Node, Pool


def _image(
    agent: str, publisher: str, offer: str, sku: str, os_type: str, end_of_life: str | None = None
) -> dict[str, Any]:
    image: dict[str, Any] = {
        "nodeAgentSKUId": agent,
        "imageReference": {"publisher": publisher, "offer": offer, "sku": sku, "version": "latest"},
        "verificationType": "verified",
        "capabilities": ["DockerCompatible"] if os_type == "linux" else [],
        "osType": os_type,
    }
    if end_of_life is not None:
        image["batchSupportEndOfLife"] = end_of_life
    if not image["capabilities"]:
        del image["capabilities"]
    return image


# A plausible excerpt of what Batch lists today. Images whose node agent passed its end of support are not
# listed (Batch drops them), and batchSupportEndOfLife is set only where an end is announced; the dates agree
# with batchforge.config.lifecycle (a test checks it), which this subsystem may not import.
UBUNTU_2204_END = "2027-06-30T00:00:00Z"
SUPPORTED_IMAGES: tuple[dict[str, Any], ...] = (
    _image("batch.node.ubuntu 24.04", "canonical", "ubuntu-24_04-lts", "server", "linux"),
    _image("batch.node.ubuntu 24.04", "canonical", "ubuntu-24_04-lts", "server-arm64", "linux"),
    _image(
        "batch.node.ubuntu 22.04", "canonical", "0001-com-ubuntu-server-jammy", "22_04-lts", "linux", UBUNTU_2204_END
    ),
    _image(
        "batch.node.ubuntu 22.04",
        "canonical",
        "0001-com-ubuntu-server-jammy",
        "22_04-lts-gen2",
        "linux",
        UBUNTU_2204_END,
    ),
    _image("batch.node.ubuntu 22.04", "microsoft-dsvm", "ubuntu-hpc", "2204", "linux", UBUNTU_2204_END),
    _image("batch.node.el 9", "almalinux", "almalinux-x86_64", "9-gen2", "linux"),
    _image("batch.node.windows amd64", "microsoftwindowsserver", "windowsserver", "2022-datacenter", "windows"),
    _image("batch.node.windows amd64", "microsoftwindowsserver", "windowsserver", "2019-datacenter", "windows"),
)


def _entities(bodies: list[dict[str, Any]]) -> list[Entity]:
    # list_response pages by seq; the position in the table serves.
    return [Entity(key=str(index), seq=index, body=body) for index, body in enumerate(bodies)]


@endpoint
async def list_supported_images(request: Request) -> Response:
    return list_response(
        request,
        _entities([dict(image) for image in SUPPORTED_IMAGES]),
        "Collection(Microsoft.Azure.Batch.Protocol.Entities.ImageInformation)",
    )


@endpoint
async def list_node_agent_skus(request: Request) -> Response:
    """What SDKs before 8.x (api-version 2019-08-01) call instead of supported images."""
    skus: dict[str, dict[str, Any]] = {}
    for image in SUPPORTED_IMAGES:
        sku = skus.setdefault(
            image["nodeAgentSKUId"],
            {"id": image["nodeAgentSKUId"], "verifiedImageReferences": [], "osType": image["osType"]},
        )
        sku["verifiedImageReferences"].append(dict(image["imageReference"]))
    return list_response(request, _entities(list(skus.values())), "nodeagentskus")


NODE_COUNT_FIELDS = (
    "creating",
    "idle",
    "offline",
    "preempted",
    "rebooting",
    "reimaging",
    "running",
    "starting",
    "startTaskFailed",
    "leavingPool",
    "unknown",
    "unusable",
    "waitingForStartTask",
    "deallocated",
    "deallocating",
    "upgradingOS",
)
_FIELD_OF_STATE = {name.lower(): name for name in NODE_COUNT_FIELDS}


def _counts(nodes: list[Node]) -> dict[str, dict[str, int]]:
    counts = {kind: dict.fromkeys(NODE_COUNT_FIELDS, 0) for kind in ("dedicated", "lowPriority")}
    for node in nodes:
        bucket = counts["dedicated" if node.body.get("isDedicated", True) else "lowPriority"]
        bucket[_FIELD_OF_STATE.get(node.state, "unknown")] += 1
    for bucket in counts.values():
        bucket["total"] = sum(bucket.values())
    return counts


@endpoint
async def list_pool_node_counts(request: Request) -> Response:
    def render(pool: Entity) -> dict[str, Any]:
        assert isinstance(pool, Pool)
        return {"poolId": pool.id, **_counts(list(pool.nodes.values()))}

    return list_response(request, account(request).pools.values(), "poolnodecounts", render=render)


routes = [
    Route("/supportedimages", list_supported_images, methods=["GET"]),
    Route("/nodeagentskus", list_node_agent_skus, methods=["GET"]),
    Route("/nodecounts", list_pool_node_counts, methods=["GET"]),
]
