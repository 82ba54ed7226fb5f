"""`/localbatch/quotas`: read and set the account's quota of active jobs and job schedules at run time (tests,
`localbatch serve --active-job-quota N` sets it at start). Not part of the Batch API; signed like every request.

    GET /localbatch/quotas    {"activeJobAndJobScheduleQuota": 100, "activeJobsAndJobSchedules": 3}
    PUT /localbatch/quotas    {"activeJobAndJobScheduleQuota": 2}  -> the same document
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from batchforge.localbatch.api.common import account, json_response, read_json
from batchforge.localbatch.errors import invalid_property, missing_property

PREFIX = "/localbatch/quotas"
FIELD = "activeJobAndJobScheduleQuota"


def _document(request: Request) -> dict[str, object]:
    quota = account(request).quota
    return {FIELD: quota.limit, "activeJobsAndJobSchedules": quota.in_use()}


async def get_quotas(request: Request) -> Response:
    return json_response(_document(request))


async def put_quotas(request: Request) -> Response:
    body = await read_json(request)
    if FIELD not in body:
        raise missing_property(FIELD)
    value = body[FIELD]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise invalid_property(FIELD, value, "A non-negative integer.")
    account(request).quota.limit = value
    return json_response(_document(request))


routes = [
    Route(PREFIX, get_quotas, methods=["GET"]),
    Route(PREFIX, put_quotas, methods=["PUT"]),
]
