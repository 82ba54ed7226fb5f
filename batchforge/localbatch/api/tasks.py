"""Tasks: add one, add a collection, read, list, change, terminate, reactivate, delete."""

from __future__ import annotations

import copy
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from batchforge.localbatch.api import validation
from batchforge.localbatch.api.common import (
    account,
    base_url,
    check_conditions,
    done_response,
    endpoint,
    entity_response,
    json_response,
    list_response,
    read_json,
    scheduler,
)
from batchforge.localbatch.clock import check_duration_value
from batchforge.localbatch.entities import Task, add_node_info_urls
from batchforge.localbatch.errors import BatchApiError, missing_property

MAX_TASKS_PER_COLLECTION = 100
MAX_COLLECTION_BYTES = 1024 * 1024


def _too_large(reason: str) -> BatchApiError:
    return BatchApiError(
        413,
        "RequestBodyTooLarge",
        "The request body is too large and exceeds the maximum permissible limit.",
        {"Reason": reason},
    )


@endpoint
async def add_task(request: Request) -> Response:
    acct = account(request)
    job = acct.job(request.path_params["job_id"])
    acct.check_job_accepts_tasks(job)
    task = acct.add_task(job, await read_json(request))
    return done_response(request, 201, task)


@endpoint
async def add_task_collection(request: Request) -> Response:
    acct = account(request)
    raw = await request.body()
    if len(raw) > MAX_COLLECTION_BYTES:
        raise _too_large(f"The request body is larger than {MAX_COLLECTION_BYTES} bytes.")
    body = await read_json(request)
    values = body.get("value")
    if values is None:
        raise missing_property("value")
    if not isinstance(values, list):
        raise BatchApiError(400, "InvalidRequestBody", "The value property must be a list of tasks.")
    if len(values) > MAX_TASKS_PER_COLLECTION:
        raise _too_large(f"At most {MAX_TASKS_PER_COLLECTION} tasks can be added in one request.")
    job = acct.job(request.path_params["job_id"])
    acct.check_job_accepts_tasks(job)
    base = base_url(request)
    results: list[dict[str, Any]] = []
    for entry in values:
        # Each task is checked on its own: a bad one gets its own clienterror entry, the others are added.
        task_id = entry.get("id") if isinstance(entry, dict) else None
        try:
            if not isinstance(entry, dict):
                raise BatchApiError(400, "InvalidRequestBody", "Each task must be a JSON object.")
            task = acct.add_task(job, validation.checked(validation.TASK_ADD, entry))
        except BatchApiError as err:
            result: dict[str, Any] = {
                "status": "clienterror" if err.status < 500 else "servererror",
                "taskId": task_id if isinstance(task_id, str) or task_id is None else json.dumps(task_id),
                "error": {"code": err.code, "message": {"lang": "en-US", "value": err.message}},
            }
            if err.values:
                result["error"]["values"] = [{"key": k, "value": v} for k, v in err.values.items()]
            results.append(result)
            continue
        public = task.public(base)
        results.append(
            {
                "status": "success",
                "taskId": task.id,
                "eTag": task.body["eTag"],
                "lastModified": task.body["lastModified"],
                "location": public["url"],
            }
        )
    return json_response({"odata.metadata": f"{base}/$metadata#taskaddresult", "value": results})


@endpoint
async def list_tasks(request: Request) -> Response:
    job = account(request).job(request.path_params["job_id"])
    return list_response(request, job.tasks, "tasks")


def _task(request: Request) -> tuple[Any, Task]:
    return account(request).task(request.path_params["job_id"], request.path_params["task_id"])


@endpoint
async def get_task(request: Request) -> Response:
    _, task = _task(request)
    check_conditions(request, task)
    return entity_response(task, request, "tasks")


@endpoint
async def replace_task(request: Request) -> Response:
    _job, task = _task(request)
    check_conditions(request, task)
    body = await read_json(request)
    constraints = body.get("constraints")
    if constraints is not None:
        for name in ("maxWallClockTime", "retentionTime"):
            check_duration_value(f"constraints.{name}", constraints.get(name))
        merged = copy.deepcopy(task.body.get("constraints", {}))
        merged.update({k: v for k, v in constraints.items() if v is not None})
        task.body["constraints"] = merged
    account(request).save(task)
    return done_response(request, 200, task)


@endpoint
async def delete_task(request: Request) -> Response:
    job, task = _task(request)
    check_conditions(request, task)
    scheduler(request).delete_task(job, task)
    return done_response(request, 200)


@endpoint
async def terminate_task(request: Request) -> Response:
    job, task = _task(request)
    check_conditions(request, task)
    scheduler(request).terminate_task(job, task)
    return done_response(request, 204, task)


@endpoint
async def reactivate_task(request: Request) -> Response:
    job, task = _task(request)
    check_conditions(request, task)
    account(request).reactivate_task(job, task)
    return done_response(request, 204, task)


@endpoint
async def list_subtasks(request: Request) -> Response:
    _, task = _task(request)
    base = base_url(request)
    subtasks = json.loads(json.dumps(task.body.get("_subtasks", [])))
    for subtask in subtasks:
        add_node_info_urls(subtask.get("nodeInfo"), base)
    return json_response({"odata.metadata": f"{base}/$metadata#subtaskinformation", "value": subtasks})


TASKS = "/jobs/{job_id}/tasks"
TASK = TASKS + "/{task_id}"
routes = [
    Route(TASKS, add_task, methods=["POST"]),
    Route(TASKS, list_tasks, methods=["GET"]),
    Route("/jobs/{job_id}/addtaskcollection", add_task_collection, methods=["POST"]),
    Route(TASK, get_task, methods=["GET"]),
    Route(TASK, replace_task, methods=["PUT"]),
    Route(TASK, delete_task, methods=["DELETE"]),
    Route(TASK + "/terminate", terminate_task, methods=["POST"]),
    Route(TASK + "/reactivate", reactivate_task, methods=["POST"]),
    Route(TASK + "/subtasksinfo", list_subtasks, methods=["GET"]),
]
