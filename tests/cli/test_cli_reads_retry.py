"""The operator's reads (status, tasks, wait, download) retry throttled and busy pages, one page at a time."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

from azure.batch import models as batch_models
from azure.core.exceptions import HttpResponseError
from azure.core.paging import ItemPaged

from batchforge.jobs.status import read_statuses
from batchforge.jobs.tasks import task_rows


def _busy() -> HttpResponseError:
    error = HttpResponseError(message="ServerBusy: the server is busy")
    error.status_code = 503
    return error


class _PagesWithOneBusyAnswer:
    """Three pages of two tasks; the first request for page 2 answers 503."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()

    def list_tasks(self, job_id: str, **kwargs: Any) -> ItemPaged[batch_models.BatchTask]:
        def get_next(token: str | None) -> str:
            page = token or "1"
            self.requests[page] += 1
            if page == "2" and self.requests[page] == 1:
                raise _busy()
            return page

        def extract(page: str) -> tuple[str | None, Iterator[batch_models.BatchTask]]:
            number = int(page)
            tasks = [batch_models.BatchTask({"id": f"t{number}{i}", "state": "active"}) for i in range(2)]
            return (str(number + 1) if number < 3 else None), iter(tasks)

        return ItemPaged(get_next, extract)


def test_a_task_listing_retries_the_busy_page_without_starting_over() -> None:
    client = _PagesWithOneBusyAnswer()
    rows = list(task_rows(client, "job"))  # type: ignore[arg-type]
    assert [row.task_id for row in rows] == ["t10", "t11", "t20", "t21", "t30", "t31"]
    assert client.requests == Counter({"1": 1, "2": 2, "3": 1})


def test_a_status_read_survives_busy_and_throttled_answers_from_the_service(local_batch) -> None:
    # The client's own retries are off, so only the readers' per-page loop can save these reads.
    client = local_batch.batch_client(retry_total=0)
    job_id = f"reads-{uuid.uuid4().hex[:8]}"
    client.create_job(
        batch_models.BatchJobCreateOptions(id=job_id, pool_info=batch_models.BatchPoolInfo(pool_id="no-nodes-here"))
    )
    client.create_task_collection(
        job_id,
        batch_models.BatchTaskGroup(
            task_values=[batch_models.BatchTaskCreateOptions(id=f"t{i}", command_line="true") for i in range(3)]
        ),
    )
    try:
        local_batch.set_faults(
            server_busy_rate=0.5,
            throttle_rate=0.5,
            retry_after_seconds=0,
            max_faults=4,
            path_pattern=r"^/jobs$|/taskcounts$|/tasks$",
            methods=["GET"],
        )
        statuses = {status.job_id: status for status in read_statuses(client)}
        rows = list(task_rows(client, job_id))
        injected = local_batch.fault_counts()
    finally:
        local_batch.set_faults()
        client.begin_delete_job(job_id)
    assert statuses[job_id].counts.active == 3
    assert sorted(row.task_id for row in rows) == ["t0", "t1", "t2"]
    assert sum(injected.values()) == 4 and injected.get("server_busy") and injected.get("throttle"), injected
