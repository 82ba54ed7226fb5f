"""The file API on task folders: links that lead nowhere or outside, maxresults bounds, ranged reads that
read only the range, and deletes that stay inside the folder."""

from __future__ import annotations

import uuid

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from batchforge.localbatch.testing import LocalBatch, wait_for_idle_nodes, wait_for_tasks_completed
from tests.localbatch.test_localbatch_auth import RawBatch

SPARSE_BYTES = 2 * 1024**3
# The task leaves: a dangling link, a link out of its folder, a folder reached through a link, a file of
# numbers for ranges, and a 2 GiB sparse file that a whole-file read would have to load to serve its tail.
COMMAND = (
    "/bin/sh -c 'echo hello > out.txt && ln -s /nonexistent/target dangling && ln -s /etc/hostname outside"
    " && mkdir data && echo kept > data/f && ln -s data link && seq 1 20000 > numbers.txt"
    f" && truncate -s {SPARSE_BYTES} sparse.bin && printf END >> sparse.bin'"
)


@pytest.fixture(scope="module")
def client(local_batch: LocalBatch) -> BatchClient:
    return local_batch.batch_client()


@pytest.fixture(scope="module")
def raw(local_batch: LocalBatch) -> RawBatch:
    return RawBatch(local_batch)


@pytest.fixture(scope="module")
def pool_id(client: BatchClient) -> str:
    pool_id = f"files-pool-{uuid.uuid4().hex[:8]}"
    client.create_pool(m.BatchPoolCreateOptions(id=pool_id, vm_size="standard_d2s_v3", target_dedicated_nodes=1))
    wait_for_idle_nodes(client, pool_id, 1)
    return pool_id


@pytest.fixture
def task(client: BatchClient, pool_id: str) -> tuple[str, str]:
    """A completed task whose folder holds what COMMAND leaves: (job id, task id)."""
    job_id = f"files-job-{uuid.uuid4().hex[:8]}"
    client.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id)))
    client.create_task(job_id, m.BatchTaskCreateOptions(id="t", command_line=COMMAND))
    wait_for_tasks_completed(client, job_id)
    assert client.get_task(job_id, "t").execution_info.exit_code == 0
    return job_id, "t"


def names(client: BatchClient, job_id: str, task_id: str, **kwargs: object) -> list[str]:
    return [f.name for f in client.list_task_files(job_id, task_id, recursive=True, **kwargs)]


def test_links_to_nowhere_or_outside_are_left_out_of_listings(client: BatchClient, task: tuple[str, str]) -> None:
    job_id, task_id = task
    listed = names(client, job_id, task_id)
    assert "wd/out.txt" in listed and "wd/data/f" in listed and "wd/link" in listed
    assert "wd/dangling" not in listed and "wd/outside" not in listed
    with pytest.raises(ResourceNotFoundError):
        b"".join(client.download_task_file(job_id, task_id, "wd/outside"))
    with pytest.raises(ResourceNotFoundError):
        b"".join(client.download_task_file(job_id, task_id, "wd/dangling"))


def test_node_listings_survive_dangling_links(client: BatchClient, pool_id: str, task: tuple[str, str]) -> None:
    (node,) = list(client.list_nodes(pool_id))
    listed = [f.name for f in client.list_node_files(pool_id, node.id, recursive=True)]
    assert any(name.endswith("/wd/out.txt") for name in listed)
    assert not any(name.endswith("/wd/dangling") for name in listed)


@pytest.mark.parametrize("value", ["0", "-1", "1001"])
def test_maxresults_out_of_range_is_refused(raw: RawBatch, task: tuple[str, str], value: str) -> None:
    job_id, task_id = task
    response = raw.request("GET", f"/jobs/{job_id}/tasks/{task_id}/files", query=[("maxresults", value)], timeout=10)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "OutOfRangeQueryParameterValue"


def test_maxresults_zero_through_the_sdk_fails_instead_of_looping(client: BatchClient, task: tuple[str, str]) -> None:
    job_id, task_id = task
    with pytest.raises(HttpResponseError) as caught:
        names(client, job_id, task_id, max_results=0)
    assert caught.value.status_code == 400


def test_small_pages_list_everything_once(client: BatchClient, task: tuple[str, str]) -> None:
    job_id, task_id = task
    assert names(client, job_id, task_id, max_results=2) == names(client, job_id, task_id)


def test_a_ranged_read_returns_exactly_the_range(client: BatchClient, task: tuple[str, str]) -> None:
    job_id, task_id = task
    whole = b"".join(client.download_task_file(job_id, task_id, "wd/numbers.txt"))
    assert (
        b"".join(client.download_task_file(job_id, task_id, "wd/numbers.txt", ocp_range="bytes=10-29")) == whole[10:30]
    )
    assert b"".join(client.download_task_file(job_id, task_id, "wd/numbers.txt", ocp_range="bytes=100-")) == whole[100:]
    assert b"".join(client.download_task_file(job_id, task_id, "wd/numbers.txt", ocp_range="bytes=-6")) == whole[-6:]


def test_a_ranged_read_of_a_huge_file_reads_only_the_range(raw: RawBatch, task: tuple[str, str]) -> None:
    job_id, task_id = task
    path = f"/jobs/{job_id}/tasks/{task_id}/files/wd/sparse.bin"
    # Loading 2 GiB to slice off 3 bytes would blow this timeout (or the memory); a seek answers at once.
    tail = raw.request("GET", path, headers={"ocp-range": f"bytes={SPARSE_BYTES}-{SPARSE_BYTES + 2}"}, timeout=5)
    assert tail.status_code == 200 and tail.content == b"END"
    assert tail.headers["content-length"] == "3"
    head = raw.request("HEAD", path, timeout=5)
    assert head.headers["content-length"] == str(SPARSE_BYTES + 3)


def test_a_range_past_the_end_is_invalid_range(raw: RawBatch, task: tuple[str, str]) -> None:
    job_id, task_id = task
    path = f"/jobs/{job_id}/tasks/{task_id}/files/wd/out.txt"
    response = raw.request("GET", path, headers={"ocp-range": "bytes=1000-2000"})
    assert response.status_code == 416 and response.json()["code"] == "InvalidRange"


# Dots percent-encoded: HTTP clients fold literal dot segments before sending.
@pytest.mark.parametrize("file_path", ["", "%2E", "wd/%2E%2E", "wd/%2E%2E/"])
def test_a_recursive_delete_of_the_folder_itself_is_refused(
    raw: RawBatch, client: BatchClient, task: tuple[str, str], file_path: str
) -> None:
    job_id, task_id = task
    before = names(client, job_id, task_id)
    response = raw.request("DELETE", f"/jobs/{job_id}/tasks/{task_id}/files/{file_path}", query=[("recursive", "true")])
    assert response.status_code == 400, response.text
    assert names(client, job_id, task_id) == before


def test_deleting_a_link_removes_the_link_not_its_target(client: BatchClient, task: tuple[str, str]) -> None:
    job_id, task_id = task
    client.delete_task_file(job_id, task_id, "wd/link", recursive=True)
    listed = names(client, job_id, task_id)
    assert "wd/link" not in listed and "wd/data/f" in listed
    client.delete_task_file(job_id, task_id, "wd/data", recursive=True)
    assert "wd/data/f" not in names(client, job_id, task_id)
