"""Jobs, their task counts and their preparation/release task status."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

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
)
from batchforge.localbatch.api.pools import refuse_retired_pool_settings
from batchforge.localbatch.entities import Entity, Node, add_node_info_urls
from batchforge.localbatch.errors import BatchApiError


@endpoint
async def add_job(request: Request) -> Response:
    body = await read_json(request)
    pool_info = body.get("poolInfo")
    auto_pool = pool_info.get("autoPoolSpecification") if isinstance(pool_info, dict) else None
    if isinstance(auto_pool, dict) and isinstance(auto_pool.get("pool"), dict):
        # Refused at once, as for Pool - Add, rather than as a scheduling error after the job was taken.
        refuse_retired_pool_settings(auto_pool["pool"])
    job = account(request).create_job(body)
    return done_response(request, 201, job)


@endpoint
async def list_jobs(request: Request) -> Response:
    return list_response(request, account(request).jobs.values(), "jobs")


@endpoint
async def get_job(request: Request) -> Response:
    job = account(request).job(request.path_params["job_id"])
    check_conditions(request, job)
    return entity_response(job, request, "jobs")


@endpoint
async def update_job(request: Request) -> Response:
    acct = account(request)
    check_conditions(request, acct.job(request.path_params["job_id"]))
    job = acct.patch_job(request.path_params["job_id"], await read_json(request), replace=request.method == "PUT")
    return done_response(request, 200, job)


@endpoint
async def delete_job(request: Request) -> Response:
    acct = account(request)
    check_conditions(request, acct.job(request.path_params["job_id"]))
    acct.delete_job(request.path_params["job_id"])
    return done_response(request, 202)


@endpoint
async def disable_job(request: Request) -> Response:
    acct = account(request)
    check_conditions(request, acct.job(request.path_params["job_id"]))
    job = acct.disable_job(request.path_params["job_id"], await read_json(request))
    return done_response(request, 202, job)


@endpoint
async def enable_job(request: Request) -> Response:
    acct = account(request)
    check_conditions(request, acct.job(request.path_params["job_id"]))
    job = acct.enable_job(request.path_params["job_id"])
    return done_response(request, 202, job)


@endpoint
async def terminate_job(request: Request) -> Response:
    acct = account(request)
    check_conditions(request, acct.job(request.path_params["job_id"]))
    body = await read_json(request)
    job = acct.terminate_job(request.path_params["job_id"], body.get("terminateReason"))
    return done_response(request, 202, job)


@endpoint
async def task_counts(request: Request) -> Response:
    acct = account(request)
    job = acct.job(request.path_params["job_id"])
    return json_response(acct.task_counts(job))


@endpoint
async def prep_release_status(request: Request) -> Response:
    acct = account(request)
    job = acct.job(request.path_params["job_id"])
    if not job.body.get("jobPreparationTask"):
        raise BatchApiError(
            409,
            "JobPreparationTaskOrReleaseTaskNotSpecified",
            "The specified job does not have a job preparation or release task.",
        )
    pool = acct.pools.get(job.pool_key)
    nodes = [n for n in pool.nodes.values() if job.key in n.body.get("_jobPrep", {})] if pool else []
    base = base_url(request)

    def render(entity: Entity) -> dict[str, Any]:
        assert isinstance(entity, Node)
        node_info = {"poolId": pool.id if pool else "", "nodeId": entity.id}
        add_node_info_urls(node_info, base)
        out: dict[str, Any] = {**node_info}
        for field, source in (
            ("jobPreparationTaskExecutionInfo", "_jobPrep"),
            ("jobReleaseTaskExecutionInfo", "_jobRelease"),
        ):
            info = entity.body.get(source, {}).get(job.key)
            if info is not None:
                info = dict(info)
                if info.get("taskRootDirectory"):
                    info["taskRootDirectoryUrl"] = f"{out['nodeUrl']}/files/{info['taskRootDirectory']}"
                out[field] = info
        return out

    return list_response(request, nodes, "jobpreparationandreleasetaskstatus", render=render)


JOB = "/jobs/{job_id}"
routes = [
    Route("/jobs", add_job, methods=["POST"]),
    Route("/jobs", list_jobs, methods=["GET"]),
    Route(JOB, get_job, methods=["GET"]),
    Route(JOB, update_job, methods=["PATCH", "PUT"]),
    Route(JOB, delete_job, methods=["DELETE"]),
    Route(JOB + "/disable", disable_job, methods=["POST"]),
    Route(JOB + "/enable", enable_job, methods=["POST"]),
    Route(JOB + "/terminate", terminate_job, methods=["POST"]),
    Route(JOB + "/taskcounts", task_counts, methods=["GET"]),
    Route(JOB + "/jobpreparationandreleasetaskstatus", prep_release_status, methods=["GET"]),
]
