"""`/localbatch/clock`: read the service's clock, and move it forward when the service runs with a test clock
(`localbatch serve --test-clock`). Not part of the Batch API; signed with the account key like every request.

    GET  /localbatch/clock            {"now": ..., "speed": 1.0, "leadSeconds": 0.0, "testClock": false}
    POST /localbatch/clock/advance    {"seconds": 3600} or {"by": "PT1H"}  -> the same document, once the
                                      schedules have created the jobs now due
"""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from batchforge.localbatch import clock
from batchforge.localbatch.api.common import account, json_response, read_json
from batchforge.localbatch.errors import BatchApiError, invalid_property, missing_property

PREFIX = "/localbatch/clock"


def _document(request: Request) -> dict[str, object]:
    return {
        "now": clock.iso_now(),
        "speed": clock.speed(),
        "leadSeconds": round(clock.lead().total_seconds(), 3),
        "testClock": bool(request.app.state.test_clock),
    }


def remember_lead(request: Request) -> None:
    """Kept in the store so that a restart with a test clock goes on from the same time."""
    store = account(request).store
    store.set_counter(clock.LEAD_COUNTER, int(clock.lead().total_seconds() * 1000))
    store.flush()


async def get_clock(request: Request) -> Response:
    return json_response(_document(request))


async def advance_clock(request: Request) -> Response:
    if not request.app.state.test_clock:
        raise BatchApiError(
            409, "TestClockNotEnabled", "The clock can be moved only when the service runs with --test-clock."
        )
    body = await read_json(request)
    if body.get("seconds") is not None:
        seconds = body["seconds"]
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise invalid_property("seconds", seconds, "A non-negative number of seconds.")
        by = timedelta(seconds=float(seconds))
    elif body.get("by") is not None:
        try:
            by = clock.parse_duration(str(body["by"]))
        except ValueError:
            raise invalid_property("by", body["by"], "Not a valid ISO 8601 duration.") from None
    else:
        raise missing_property("seconds")
    clock.advance(by)
    remember_lead(request)
    # Recurrences now due are created before the answer, so that a test sees their jobs right after it.
    request.app.state.schedules.step_all()
    request.app.state.schedules.poke()
    account(request).wake()
    return json_response(_document(request))


routes = [
    Route(PREFIX, get_clock, methods=["GET"]),
    Route(PREFIX + "/advance", advance_clock, methods=["POST"]),
]
