"""List-tasks pages continue from the last task served (a keyed continuation over the job's tasks kept in
order), so that a page costs the same at task 99,000 as at task 0, with $filter and $select carried on."""

from __future__ import annotations

import uuid

from azure.batch import BatchClient
from azure.batch import models as m

from batchforge.localbatch.entities import Task, TaskTable
from batchforge.localbatch.testing import LocalBatch


def _task(seq: int) -> Task:
    return Task(key=f"j/t{seq}", seq=seq, body={"id": f"t{seq}"}, job_key="j")


def test_the_table_serves_tasks_after_a_seq_in_order_across_deletes_and_compaction() -> None:
    table = TaskTable()
    for seq in range(1, 5001):
        table[f"j/t{seq}"] = _task(seq)
    for seq in range(1, 5001, 3):  # enough holes to compact at least once
        assert table.pop(f"j/t{seq}") is not None
    assert table.pop("j/missing", None) is None
    kept = [seq for seq in range(1, 5001) if seq % 3 != 1]
    assert [task.seq for task in table.after(0)] == kept
    assert [task.seq for task in table.after(2500)] == [seq for seq in kept if seq > 2500]
    assert [task.seq for task in table.after(1)][:2] == [2, 3]
    assert len(table) == len(kept) and list(table) == [f"j/t{seq}" for seq in kept]


def test_the_table_keeps_seq_order_for_entries_loaded_out_of_order_and_replaced() -> None:
    table = TaskTable()
    for seq in (5, 2, 9):
        table[f"j/t{seq}"] = _task(seq)
    table["j/t2"] = _task(2)  # the same key again: one entry
    assert [task.seq for task in table.after(0)] == [2, 5, 9]
    del table["j/t5"]
    assert [task.seq for task in table.after(0)] == [2, 9]


def test_pages_follow_on_after_tasks_of_the_page_are_deleted(local_batch: LocalBatch) -> None:
    client: BatchClient = local_batch.batch_client()
    job_id = f"paging-{uuid.uuid4().hex[:8]}"
    client.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id="no-such-pool")))
    ids = [f"t{i:04d}" for i in range(250)]
    client.create_tasks(job_id, [m.BatchTaskCreateOptions(id=i, command_line="true") for i in ids])
    order = [task.id for task in client.list_tasks(job_id, select=["id"])]  # the order tasks were added in
    assert sorted(order) == ids
    pages = client.list_tasks(job_id, max_results=100, select=["id"]).by_page()
    first = [task.id for task in next(pages)]
    assert first == order[:100]
    # The last task of the page served and one ahead go away: the next page starts right after the first page.
    client.delete_task(job_id, order[99])
    client.delete_task(job_id, order[150])
    rest = [task.id for page in pages for task in page]
    assert rest == [i for i in order[100:] if i != order[150]]


def test_a_filter_and_select_hold_on_every_page(local_batch: LocalBatch) -> None:
    client: BatchClient = local_batch.batch_client()
    job_id = f"paging-filter-{uuid.uuid4().hex[:8]}"
    client.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id="no-such-pool")))
    tasks = [
        m.BatchTaskCreateOptions(id=f"t{i:04d}", command_line="true", display_name="even" if i % 2 == 0 else "odd")
        for i in range(300)
    ]
    client.create_tasks(job_id, tasks)
    listing = client.list_tasks(job_id, max_results=40, filter="displayName eq 'even'", select=["id", "displayName"])
    pages = list(listing.by_page())
    served = [task for page in pages for task in page]
    assert len(pages) == 4
    order = [task.id for task in client.list_tasks(job_id, select=["id"])]
    assert [task.id for task in served] == [i for i in order if int(i[1:]) % 2 == 0]
    assert {task.display_name for task in served} == {"even"}
    assert all(task.command_line is None for task in served)
