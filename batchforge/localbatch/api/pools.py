"""Pools and their compute nodes."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from batchforge.localbatch.account import set_state
from batchforge.localbatch.api.certificates import certificates_retired
from batchforge.localbatch.api.common import (
    account,
    check_conditions,
    done_response,
    endpoint,
    entity_response,
    json_response,
    list_response,
    read_json,
    scheduler,
)
from batchforge.localbatch.errors import BatchApiError, missing_property
from batchforge.localbatch.pool_updates import refuse_changes_a_busy_pool_cannot_take

CLOUD_SERVICES_MIGRATION_GUIDE = (
    "https://learn.microsoft.com/azure/batch/batch-pool-cloud-service-to-virtual-machine-configuration"
)


def refuse_retired_pool_settings(body: dict[str, Any]) -> None:
    """Pool settings of features Batch retired: refused with what to use instead, not silently ignored."""
    if body.get("cloudServiceConfiguration") is not None:
        raise BatchApiError(
            400,
            "FeatureNotSupported",
            "Cloud Services Configuration pools were retired on 2024-02-29 and cannot be created. Use "
            "virtualMachineConfiguration (Virtual Machine Configuration pools) instead; see "
            f"{CLOUD_SERVICES_MIGRATION_GUIDE}.",
            {"PropertyName": "cloudServiceConfiguration", "Reason": "Cloud Services pools were retired on 2024-02-29."},
        )
    if body.get("certificateReferences"):
        raise certificates_retired("certificateReferences (Batch account certificates)")


@endpoint
async def add_pool(request: Request) -> Response:
    body = await read_json(request)
    refuse_retired_pool_settings(body)
    pool = account(request).create_pool(body)
    return done_response(request, 201, pool)


@endpoint
async def list_pools(request: Request) -> Response:
    return list_response(request, account(request).pools.values(), "pools")


@endpoint
async def get_pool(request: Request) -> Response:
    pool = account(request).pool(request.path_params["pool_id"])
    check_conditions(request, pool)
    if request.method == "HEAD":
        return done_response(request, 200, pool)
    return entity_response(pool, request, "pools")


@endpoint
async def patch_pool(request: Request) -> Response:
    acct = account(request)
    current = acct.pool(request.path_params["pool_id"])
    check_conditions(request, current)
    body = await read_json(request)
    refuse_changes_a_busy_pool_cannot_take(current, body)
    pool = acct.patch_pool(request.path_params["pool_id"], body)
    return done_response(request, 200, pool)


@endpoint
async def delete_pool(request: Request) -> Response:
    acct = account(request)
    check_conditions(request, acct.pool(request.path_params["pool_id"]))
    acct.delete_pool(request.path_params["pool_id"])
    return done_response(request, 202)


@endpoint
async def update_properties(request: Request) -> Response:
    pool = account(request).replace_pool_properties(request.path_params["pool_id"], await read_json(request))
    return done_response(request, 204, pool)


@endpoint
async def resize_pool(request: Request) -> Response:
    acct = account(request)
    check_conditions(request, acct.pool(request.path_params["pool_id"]))
    pool = acct.resize_pool(request.path_params["pool_id"], await read_json(request))
    return done_response(request, 202, pool)


@endpoint
async def stop_resize(request: Request) -> Response:
    pool = account(request).stop_resize(request.path_params["pool_id"])
    return done_response(request, 202, pool)


@endpoint
async def enable_autoscale(request: Request) -> Response:
    acct = account(request)
    pool = acct.pool(request.path_params["pool_id"])
    body = await read_json(request)
    formula = body.get("autoScaleFormula") or pool.body.get("autoScaleFormula")
    if not formula:
        raise missing_property("autoScaleFormula")
    pool.body["enableAutoScale"] = True
    pool.body["autoScaleFormula"] = formula
    pool.body["autoScaleEvaluationInterval"] = body.get(
        "autoScaleEvaluationInterval", pool.body.get("autoScaleEvaluationInterval", "PT15M")
    )
    scheduler(request).evaluate_autoscale(pool, apply=True)
    acct.save(pool)
    return done_response(request, 200, pool)


@endpoint
async def disable_autoscale(request: Request) -> Response:
    acct = account(request)
    pool = acct.pool(request.path_params["pool_id"])
    pool.body["enableAutoScale"] = False
    for name in ("autoScaleFormula", "autoScaleEvaluationInterval", "autoScaleRun", "_autoScaleDue"):
        pool.body.pop(name, None)
    acct.save(pool)
    return done_response(request, 200, pool)


@endpoint
async def evaluate_autoscale(request: Request) -> Response:
    pool = account(request).pool(request.path_params["pool_id"])
    if not pool.body.get("enableAutoScale"):
        raise BatchApiError(409, "AutoScaleNotEnabled", "Automatic scaling is not enabled on the specified pool.")
    body = await read_json(request)
    if not body.get("autoScaleFormula"):
        raise missing_property("autoScaleFormula")
    run = scheduler(request).evaluate_autoscale(pool, apply=False, formula=str(body["autoScaleFormula"]))
    return json_response(run, headers={"DataServiceId": f"{pool.id}"})


@endpoint
async def remove_nodes(request: Request) -> Response:
    pool = account(request).remove_nodes(request.path_params["pool_id"], await read_json(request))
    return done_response(request, 202, pool)


@endpoint
async def list_nodes(request: Request) -> Response:
    pool = account(request).pool(request.path_params["pool_id"])
    return list_response(request, pool.nodes.values(), "nodes")


@endpoint
async def get_node(request: Request) -> Response:
    _, node = account(request).node(request.path_params["pool_id"], request.path_params["node_id"])
    return entity_response(node, request, "nodes")


@endpoint
async def reboot_node(request: Request) -> Response:
    acct = account(request)
    pool, node = acct.node(request.path_params["pool_id"], request.path_params["node_id"])
    option = (await read_json(request)).get("nodeRebootOption", "requeue")
    for task_key in list(node.running):
        scheduler(request).interrupt_task(task_key, requeue=option != "terminate")
    acct.reboot_node_state(pool, node, node.body["stateTransitionTime"])
    acct.wake()
    return done_response(request, 202)


@endpoint
async def set_scheduling(request: Request) -> Response:
    acct = account(request)
    _, node = acct.node(request.path_params["pool_id"], request.path_params["node_id"])
    enable = request.url.path.endswith("/enablescheduling")
    node.body["schedulingState"] = "enabled" if enable else "disabled"
    if not enable:
        option = (await read_json(request)).get("nodeDisableSchedulingOption", "requeue")
        if option in ("requeue", "terminate"):
            for task_key in list(node.running):
                scheduler(request).interrupt_task(task_key, requeue=option == "requeue")
    if node.state in ("idle", "running") and not node.running:
        set_state(node.body, "idle")
    acct.save(node)
    acct.wake()
    return done_response(request, 200)


POOL = "/pools/{pool_id}"
NODE = POOL + "/nodes/{node_id}"
routes = [
    Route("/pools", add_pool, methods=["POST"]),
    Route("/pools", list_pools, methods=["GET"]),
    Route(POOL, get_pool, methods=["GET", "HEAD"]),
    Route(POOL, patch_pool, methods=["PATCH"]),
    Route(POOL, delete_pool, methods=["DELETE"]),
    Route(POOL + "/updateproperties", update_properties, methods=["POST"]),
    Route(POOL + "/resize", resize_pool, methods=["POST"]),
    Route(POOL + "/stopresize", stop_resize, methods=["POST"]),
    Route(POOL + "/enableautoscale", enable_autoscale, methods=["POST"]),
    Route(POOL + "/disableautoscale", disable_autoscale, methods=["POST"]),
    Route(POOL + "/evaluateautoscale", evaluate_autoscale, methods=["POST"]),
    Route(POOL + "/removenodes", remove_nodes, methods=["POST"]),
    Route(POOL + "/nodes", list_nodes, methods=["GET"]),
    Route(NODE, get_node, methods=["GET"]),
    Route(NODE + "/reboot", reboot_node, methods=["POST"]),
    Route(NODE + "/disablescheduling", set_scheduling, methods=["POST"]),
    Route(NODE + "/enablescheduling", set_scheduling, methods=["POST"]),
]
