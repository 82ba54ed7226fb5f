"""Job schedules (`/jobschedules`): add, list, get, exists, update (PATCH), replace (PUT), disable, enable,
terminate, delete, and the jobs a schedule created. The behaviour lives in `batchforge.localbatch.schedules`.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from batchforge.localbatch.api.common import (
    check_conditions,
    done_response,
    endpoint,
    entity_response,
    list_response,
    read_json,
)
from batchforge.localbatch.api.pools import refuse_retired_pool_settings
from batchforge.localbatch.api.validation import (
    DISPLAY_NAME,
    JOB_ADD,
    METADATA,
    Duration,
    Obj,
    Str,
)
from batchforge.localbatch.entities import Entity
from batchforge.localbatch.errors import BatchApiError
from batchforge.localbatch.schedules import JobSchedule, ScheduleBook

SCHEDULE = Obj(
    {"doNotRunUntil": Str(), "doNotRunAfter": Str(), "startWindow": Duration(), "recurrenceInterval": Duration()}
)
JOB_SPECIFICATION = Obj({name: spec for name, spec in JOB_ADD.fields.items() if name != "id"}, required=("poolInfo",))
SCHEDULE_ADD = Obj(
    {
        "id": Str(),
        "displayName": DISPLAY_NAME,
        "schedule": SCHEDULE,
        "jobSpecification": JOB_SPECIFICATION,
        "metadata": METADATA,
    },
    required=("id", "schedule", "jobSpecification"),
)
SCHEDULE_PATCH = Obj({"schedule": SCHEDULE, "jobSpecification": JOB_SPECIFICATION, "metadata": METADATA})
SCHEDULE_REPLACE = Obj(SCHEDULE_PATCH.fields, required=("jobSpecification",))
METADATA_NAME = "jobschedules"


def book(request: Request) -> ScheduleBook:
    return request.app.state.schedules  # type: ignore[no-any-return]


async def _body(request: Request, spec: Obj) -> dict[str, Any]:
    body = await read_json(request)
    spec.check(body, "")
    job_spec = body.get("jobSpecification")
    pool_info = job_spec.get("poolInfo") if isinstance(job_spec, dict) else None
    auto_pool = pool_info.get("autoPoolSpecification") if isinstance(pool_info, dict) else None
    if isinstance(auto_pool, dict) and isinstance(auto_pool.get("pool"), dict):
        refuse_retired_pool_settings(auto_pool["pool"])  # as Pool - Add and Job - Add refuse them
    return body


def _expanded(request: Request, schedules: ScheduleBook, schedule: JobSchedule) -> JobSchedule:
    """The schedule as served: with `stats` when `$expand=stats` asks for them."""
    expand = {part.strip().lower() for part in (request.query_params.get("$expand") or "").split(",") if part}
    unknown = expand - {"stats"}
    if unknown:
        raise BatchApiError(
            400,
            "InvalidQueryParameterValue",
            "Value for one of the query parameters specified in the request URI is invalid.",
            {"QueryParameterName": "$expand", "QueryParameterValue": ",".join(sorted(unknown))},
        )
    if not expand:
        return schedule
    body = {**schedule.body, "stats": schedules.statistics(schedule)}
    return JobSchedule(key=schedule.key, seq=schedule.seq, body=body)


@endpoint
async def add_schedule(request: Request) -> Response:
    schedule = book(request).add(await _body(request, SCHEDULE_ADD))
    return done_response(request, 201, schedule)


@endpoint
async def list_schedules(request: Request) -> Response:
    schedules = book(request)
    entities = [_expanded(request, schedules, s) for s in schedules.schedules.values()]
    return list_response(request, entities, METADATA_NAME)


@endpoint
async def get_schedule(request: Request) -> Response:
    schedules = book(request)
    schedule = schedules.get(request.path_params["schedule_id"])
    check_conditions(request, schedule)
    if request.method == "HEAD":
        return done_response(request, 200, schedule)
    return entity_response(_expanded(request, schedules, schedule), request, METADATA_NAME)


@endpoint
async def update_schedule(request: Request) -> Response:
    schedules = book(request)
    check_conditions(request, schedules.get(request.path_params["schedule_id"]))
    replace = request.method == "PUT"
    body = await _body(request, SCHEDULE_REPLACE if replace else SCHEDULE_PATCH)
    schedule = schedules.update(request.path_params["schedule_id"], body, replace=replace)
    return done_response(request, 200, schedule)


@endpoint
async def delete_schedule(request: Request) -> Response:
    schedules = book(request)
    check_conditions(request, schedules.get(request.path_params["schedule_id"]))
    schedules.delete(request.path_params["schedule_id"])
    return done_response(request, 202)


@endpoint
async def disable_schedule(request: Request) -> Response:
    schedules = book(request)
    check_conditions(request, schedules.get(request.path_params["schedule_id"]))
    return done_response(request, 204, schedules.disable(request.path_params["schedule_id"]))


@endpoint
async def enable_schedule(request: Request) -> Response:
    schedules = book(request)
    check_conditions(request, schedules.get(request.path_params["schedule_id"]))
    return done_response(request, 204, schedules.enable(request.path_params["schedule_id"]))


@endpoint
async def terminate_schedule(request: Request) -> Response:
    schedules = book(request)
    check_conditions(request, schedules.get(request.path_params["schedule_id"]))
    return done_response(request, 202, schedules.terminate(request.path_params["schedule_id"]))


@endpoint
async def list_schedule_jobs(request: Request) -> Response:
    schedules = book(request)
    jobs: list[Entity] = list(schedules.jobs_of(schedules.get(request.path_params["schedule_id"])))
    return list_response(request, jobs, "jobs")


SCHEDULE_PATH = "/jobschedules/{schedule_id}"
routes = [
    Route("/jobschedules", add_schedule, methods=["POST"]),
    Route("/jobschedules", list_schedules, methods=["GET"]),
    Route(SCHEDULE_PATH, get_schedule, methods=["GET", "HEAD"]),
    Route(SCHEDULE_PATH, update_schedule, methods=["PATCH", "PUT"]),
    Route(SCHEDULE_PATH, delete_schedule, methods=["DELETE"]),
    Route(SCHEDULE_PATH + "/disable", disable_schedule, methods=["POST"]),
    Route(SCHEDULE_PATH + "/enable", enable_schedule, methods=["POST"]),
    Route(SCHEDULE_PATH + "/terminate", terminate_schedule, methods=["POST"]),
    Route(SCHEDULE_PATH + "/jobs", list_schedule_jobs, methods=["GET"]),
]
