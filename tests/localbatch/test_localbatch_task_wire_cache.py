"""List-tasks pages without $filter or $select join each task's JSON as last served (the wire cache) instead of
copying and encoding every task on every page; a change to a task, a different address or a new ETag is never
served stale, and the cache stays bounded."""

from __future__ import annotations

import uuid
from typing import Any

from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.rest import HttpRequest

from batchforge.localbatch.entities import Task, WireCache
from batchforge.localbatch.testing import LocalBatch


def _task(key: str, etag: str) -> Task:
    return Task(key=key, seq=1, body={"id": key, "eTag": etag}, job_key="j")


def test_an_entry_holds_for_its_address_and_etag_only_and_the_oldest_go_first() -> None:
    cache = WireCache(limit=2)
    first, second, third = _task("j/a", "1"), _task("j/b", "1"), _task("j/c", "1")
    cache.put(first, "http://h:1", "A")
    assert cache.get(first, "http://h:1") == "A"
    assert cache.get(first, "http://other:2") is None  # URLs in the JSON follow the client's address
    first.body["eTag"] = "2"
    assert cache.get(first, "http://h:1") is None  # changed without telling the cache: still not stale
    cache.put(first, "http://h:1", "A2")
    cache.put(second, "http://h:1", "B")
    cache.put(third, "http://h:1", "C")
    assert len(cache) == 2 and cache.get(first, "http://h:1") is None
    assert cache.get(third, "http://h:1") == "C"
    cache.drop("j/c")
    assert cache.get(third, "http://h:1") is None
    cache.put(Task(key="j/x", seq=2, body={"id": "x"}, job_key="j"), "http://h:1", "X")  # no ETag: not cached
    assert len(cache) == 1


def _page(client: BatchClient, job_id: str, host: str | None = None, query: str = "") -> dict[str, Any]:
    headers = {"host": host} if host else {}
    request = HttpRequest("GET", f"{{endpoint}}/jobs/{job_id}/tasks?api-version=2025-06-01{query}", headers=headers)
    response = client.send_request(request)
    assert response.status_code == 200, response.text()
    return response.json()  # type: ignore[no-any-return]


def test_pages_are_the_tasks_as_served_one_by_one_and_follow_every_change(local_batch: LocalBatch) -> None:
    client: BatchClient = local_batch.batch_client()
    job_id = f"wire-{uuid.uuid4().hex[:8]}"
    client.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id="no-such-pool")))
    client.create_tasks(job_id, [m.BatchTaskCreateOptions(id=f"t{i:03d}", command_line="true") for i in range(30)])
    first = _page(client, job_id, query="&maxresults=10")
    again = _page(client, job_id, query="&maxresults=10")  # served from the cache this time
    assert again == first and len(first["value"]) == 10 and "odata.nextLink" in first
    assert first["odata.metadata"].endswith("/$metadata#tasks")

    def single(task_id: str) -> dict[str, Any]:
        request = HttpRequest("GET", f"{{endpoint}}/jobs/{job_id}/tasks/{task_id}?api-version=2025-06-01")
        body = client.send_request(request).json()
        body.pop("odata.metadata")
        return body  # type: ignore[no-any-return]

    order = [t["id"] for t in _page(client, job_id)["value"]]  # the order the tasks were added in
    assert first["value"] == [single(task_id) for task_id in order[:10]]
    # A change to a served task shows on the next page; the others are as they were.
    client.terminate_task(job_id, order[3])
    changed = _page(client, job_id, query="&maxresults=10")
    assert changed["value"][3]["state"] == "completed" and changed["value"][3] == single(order[3])
    assert changed["value"][3]["eTag"] != first["value"][3]["eTag"]
    assert [t for i, t in enumerate(changed["value"]) if i != 3] == [t for i, t in enumerate(first["value"]) if i != 3]
    # The next page from the link, and the URLs of a client using another address.
    rest = client.send_request(HttpRequest("GET", first["odata.nextLink"] + "&api-version=2025-06-01")).json()
    assert [t["id"] for t in rest["value"]] == order[10:20]
    endpoint_host = local_batch.endpoint.split("//", 1)[1]
    other = _page(client, job_id, host=endpoint_host.replace("127.0.0.1", "localhost"), query="&maxresults=10")
    assert other["value"][0]["url"].startswith("http://localhost:")
    assert first["value"][0]["url"].startswith("http://127.0.0.1:")
    # A deleted task is gone, and $select still selects.
    client.delete_task(job_id, order[0])
    assert _page(client, job_id, query="&maxresults=10")["value"][0]["id"] == order[1]
    assert _page(client, job_id, query="&maxresults=2&$select=id")["value"] == [{"id": order[1]}, {"id": order[2]}]
