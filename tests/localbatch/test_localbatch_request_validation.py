"""The local service validates requests as Batch does: a malformed body, header or path is 400 with the
service's error code (InvalidRequestBody, InvalidPropertyValue, MissingRequiredProperty, InvalidHeaderValue,
InvalidUri) and changes nothing; an add-collection reports each bad task in its own entry.

Besides the named examples, a mutation table runs over the bodies azure-batch 15.x sends for Job - Add,
Task - Add, Pool - Add and Task - Add Collection: every property replaced by each value of the wrong JSON
type, plus out-of-range values and removed required properties.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import http.client
import itertools
import json
import stat
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from azure.batch import models as m

from batchforge.localbatch.api.validation import MAX_JSON_DEPTH, json_depth_exceeds
from batchforge.localbatch.testing import LocalBatch, wait_for_idle_nodes
from tests.localbatch.test_localbatch_auth import RawBatch, RawResponse, documented_string_to_sign

API_VERSION = "2025-06-01"
REFUSED_BODY_CODES = {"InvalidRequestBody", "InvalidPropertyValue", "MissingRequiredProperty"}
_numbers = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}-{next(_numbers)}"


def send(
    raw: RawBatch, method: str, path: str, data: bytes = b"", headers: Mapping[str, str] | None = None
) -> RawResponse:
    """A signed request with exactly `data` as its body (RawBatch serializes a mapping itself)."""
    params = [("api-version", API_VERSION)]
    sent: dict[str, str] = {"ocp-date": formatdate(usegmt=True), **(headers or {})}
    if method not in ("GET", "HEAD"):
        sent["Content-Length"] = str(len(data))
        sent["Content-Type"] = "application/json; odata=minimalmetadata; charset=utf-8"
    text = documented_string_to_sign(method, path, params, sent, raw.account)
    signature = base64.b64encode(hmac.new(raw.key, text.encode(), hashlib.sha256).digest()).decode()
    sent["Authorization"] = f"SharedKey {raw.account}:{signature}"
    target = f"{path}?api-version={quote(API_VERSION)}"
    connection = http.client.HTTPConnection(urlsplit(raw.endpoint).netloc, timeout=30)
    try:
        connection.request(method, target, body=data or None, headers=sent)
        answer = connection.getresponse()
        return RawResponse(answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read())
    finally:
        connection.close()


def send_json(
    raw: RawBatch, method: str, path: str, body: object, headers: Mapping[str, str] | None = None
) -> RawResponse:
    return send(raw, method, path, json.dumps(body).encode(), headers)


def error_values(response: RawResponse) -> dict[str, str]:
    return {item["key"]: item["value"] for item in response.json().get("values", [])}


def assert_refused(response: RawResponse, code: str, property_name: str | None = None) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == code, body
    if property_name is None:
        return
    values = error_values(response)
    if code == "InvalidRequestBody":
        assert f"'{property_name}'" in values["Reason"], values
    else:
        assert values["PropertyName"] == property_name, values


def wire(model: Any) -> dict[str, Any]:
    """The JSON body the SDK sends for a model."""
    return json.loads(json.dumps(model.as_dict()))


# ---- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def raw(local_batch: LocalBatch) -> RawBatch:
    return RawBatch(local_batch, api_version=API_VERSION)


@pytest.fixture(scope="module")
def pool_id(local_batch: LocalBatch) -> str:
    """A pool without nodes: tasks added to its jobs stay active, so nothing changes behind the test's back."""
    pool_id = unique("validation-pool")
    local_batch.batch_client().create_pool(m.BatchPoolCreateOptions(id=pool_id, vm_size="standard_d2s_v3"))
    return pool_id


@pytest.fixture(scope="module")
def job_id(local_batch: LocalBatch, pool_id: str) -> str:
    job_id = unique("validation-job")
    local_batch.batch_client().create_job(
        m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id), uses_task_dependencies=True)
    )
    return job_id


def ids(raw: RawBatch, path: str) -> set[str]:
    response = send(raw, "GET", path)
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["value"]}


def etag(raw: RawBatch, path: str) -> str:
    response = send(raw, "GET", path)
    assert response.status_code == 200, response.text
    return response.headers["etag"]


class State:
    """What the requests under test could change: the pools, jobs and the test job's tasks, and ETags."""

    def __init__(self, raw: RawBatch, job_id: str, pool_id: str) -> None:
        self.raw, self.job_id, self.pool_id = raw, job_id, pool_id
        self.before = self._take()

    def _take(self) -> tuple[set[str], set[str], set[str], str, str]:
        return (
            ids(self.raw, "/pools"),
            ids(self.raw, "/jobs"),
            ids(self.raw, f"/jobs/{self.job_id}/tasks"),
            etag(self.raw, f"/jobs/{self.job_id}"),
            etag(self.raw, f"/pools/{self.pool_id}"),
        )

    def assert_unchanged(self) -> None:
        pools, jobs, tasks, job_etag, pool_etag = self._take()
        # Other tests' entities may finish deleting meanwhile: nothing may appear, nothing of ours may change.
        assert pools - self.before[0] == set()
        assert jobs - self.before[1] == set()
        assert tasks == self.before[2]
        assert (job_etag, pool_etag) == self.before[3:]


@pytest.fixture
def state(raw: RawBatch, job_id: str, pool_id: str) -> State:
    return State(raw, job_id, pool_id)


# ---- the examples, one test each -----------------------------------------------------------


def job_body(pool_id: str, **changes: Any) -> dict[str, Any]:
    return {"id": unique("job"), "poolInfo": {"poolId": pool_id}, **changes}


def test_job_constraints_as_a_string_is_invalid_request_body(raw: RawBatch, pool_id: str, state: State) -> None:
    response = send_json(raw, "POST", "/jobs", job_body(pool_id, constraints="abc"))
    assert_refused(response, "InvalidRequestBody", "constraints")
    state.assert_unchanged()


def test_job_priority_as_a_string_is_invalid_request_body(raw: RawBatch, pool_id: str, state: State) -> None:
    response = send_json(raw, "POST", "/jobs", job_body(pool_id, priority="high"))
    assert_refused(response, "InvalidRequestBody", "priority")
    state.assert_unchanged()


def test_job_max_parallel_tasks_as_an_object_is_invalid_request_body(raw: RawBatch, pool_id: str, state: State) -> None:
    response = send_json(raw, "POST", "/jobs", job_body(pool_id, maxParallelTasks={}))
    assert_refused(response, "InvalidRequestBody", "maxParallelTasks")
    state.assert_unchanged()


def test_task_resource_files_as_a_string_is_invalid_request_body(raw: RawBatch, job_id: str, state: State) -> None:
    body = {"id": unique("task"), "commandLine": "/bin/true", "resourceFiles": "abc"}
    response = send_json(raw, "POST", f"/jobs/{job_id}/tasks", body)
    assert_refused(response, "InvalidRequestBody", "resourceFiles")
    state.assert_unchanged()


def test_task_command_line_as_a_list_is_invalid_request_body(raw: RawBatch, job_id: str, state: State) -> None:
    response = send_json(raw, "POST", f"/jobs/{job_id}/tasks", {"id": unique("task"), "commandLine": ["a"]})
    assert_refused(response, "InvalidRequestBody", "commandLine")
    state.assert_unchanged()


def test_100k_deep_json_is_invalid_request_body_without_recursion_error(
    local_batch: LocalBatch, raw: RawBatch, pool_id: str, job_id: str, state: State
) -> None:
    deep_array = b"[" * 100_000 + b"]" * 100_000
    deep_object = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    prefix = json.dumps(job_body(pool_id))[:-1].encode()
    deep_metadata = prefix + b', "metadata": ' + deep_array + b"}"
    for path, data in (
        ("/jobs", deep_array),
        ("/jobs", deep_object),
        ("/jobs", deep_metadata),
        (f"/jobs/{job_id}/tasks", deep_object),
        (f"/jobs/{job_id}/addtaskcollection", b'{"value": ' + deep_array + b"}"),
    ):
        response = send(raw, "POST", path, data)
        assert_refused(response, "InvalidRequestBody")
        assert str(MAX_JSON_DEPTH) in error_values(response)["Reason"]
    state.assert_unchanged()
    assert "RecursionError" not in local_batch.log_tail(200_000)


def test_json_depth_is_measured_outside_strings() -> None:
    assert not json_depth_exceeds(json.dumps({"a": "[" * 10_000, "b": [[1]]}).encode())
    assert not json_depth_exceeds(json.dumps({"a": '\\"[' * 10_000}).encode())
    assert json_depth_exceeds(b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1))
    assert not json_depth_exceeds(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH)
    assert not json_depth_exceeds(b"[]" * 10_000)


def test_if_modified_since_garbage_is_invalid_header_value(
    raw: RawBatch, job_id: str, pool_id: str, state: State
) -> None:
    for method, path, body in (
        ("GET", f"/pools/{pool_id}", None),
        ("GET", f"/jobs/{job_id}", None),
        ("PATCH", f"/jobs/{job_id}", {"priority": 7}),
    ):
        for header in ("If-Modified-Since", "If-Unmodified-Since"):
            data = json.dumps(body).encode() if body is not None else b""
            response = send(raw, method, path, data, {header: "garbage"})
            assert response.status_code == 400, response.text
            assert response.json()["code"] == "InvalidHeaderValue"
            assert error_values(response)["HeaderName"] == header.lower()
    state.assert_unchanged()
    # A well-formed date still works (and the zone-less `-0000` form is read as UTC).
    response = send(raw, "GET", f"/jobs/{job_id}", headers={"If-Modified-Since": "Mon, 01 Jan 2024 00:00:00 -0000"})
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def node(local_batch: LocalBatch) -> tuple[str, str]:
    client = local_batch.batch_client()
    pool_id = unique("validation-node-pool")
    client.create_pool(m.BatchPoolCreateOptions(id=pool_id, vm_size="standard_d2s_v3", target_dedicated_nodes=1))
    nodes = wait_for_idle_nodes(client, pool_id, 1)
    return pool_id, nodes[0].id


def test_a_nul_in_a_file_path_is_refused(local_batch: LocalBatch, raw: RawBatch, node: tuple[str, str]) -> None:
    pool_id, node_id = node
    files = f"/pools/{pool_id}/nodes/{node_id}/files"
    before = sorted(Path(local_batch.nodes_dir).rglob("*"))
    for method in ("GET", "HEAD", "DELETE"):
        for name in ("a%00b", "%00", "startup%00/x", "wd%0A"):
            response = send(raw, method, f"{files}/{name}")
            assert response.status_code == 400, (method, name, response.text)
            if method != "HEAD":
                assert response.json()["code"] == "InvalidUri"
    assert sorted(Path(local_batch.nodes_dir).rglob("*")) == before
    assert send(raw, "GET", files).status_code == 200


def test_add_collection_with_one_bad_task_reports_it_and_adds_the_others(raw: RawBatch, job_id: str) -> None:
    good = [unique("good"), unique("good")]
    bad = {
        unique("bad-cmd"): {"commandLine": ["a"]},
        unique("bad-files"): {"commandLine": "/bin/true", "resourceFiles": "abc"},
        unique("bad-slots"): {"commandLine": "/bin/true", "requiredSlots": 0},
        unique("bad-missing"): {},
    }
    tasks = [
        {"id": good[0], "commandLine": "/bin/true"},
        *({"id": task_id, **body} for task_id, body in bad.items()),
        {"id": good[1], "commandLine": "/bin/true"},
        "not a task",
    ]
    response = send_json(raw, "POST", f"/jobs/{job_id}/addtaskcollection", {"value": tasks})
    assert response.status_code == 200, response.text
    results = response.json()["value"]
    assert len(results) == len(tasks)
    by_id = {result["taskId"]: result for result in results}
    assert {by_id[task_id]["status"] for task_id in good} == {"success"}
    expected = ["InvalidRequestBody", "InvalidRequestBody", "InvalidPropertyValue", "MissingRequiredProperty"]
    assert [by_id[task_id]["error"]["code"] for task_id in bad] == expected
    assert {by_id[task_id]["status"] for task_id in bad} == {"clienterror"}
    assert results[-1]["status"] == "clienterror" and results[-1]["error"]["code"] == "InvalidRequestBody"
    present = ids(raw, f"/jobs/{job_id}/tasks")
    assert set(good) <= present
    assert not set(bad) & present


# ---- the bodies azure-batch 15.x sends, and their mutations -----------------------------------------


def sdk_job(pool_id: str) -> dict[str, Any]:
    env = [m.EnvironmentSetting(name="STAGE", value="test")]
    return wire(
        m.BatchJobCreateOptions(
            id=unique("sdk-job"),
            display_name="validation job",
            priority=10,
            max_parallel_tasks=4,
            allow_task_preemption=False,
            uses_task_dependencies=True,
            constraints=m.BatchJobConstraints(max_wall_clock_time=timedelta(hours=2), max_task_retry_count=1),
            pool_info=m.BatchPoolInfo(pool_id=pool_id),
            job_preparation_task=m.BatchJobPreparationTask(
                command_line="/bin/true",
                environment_settings=env,
                resource_files=[m.ResourceFile(http_url="http://127.0.0.1:1/prep.sh", file_path="prep.sh")],
                constraints=m.BatchTaskConstraints(max_wall_clock_time=timedelta(minutes=5)),
                wait_for_success=True,
                rerun_on_node_reboot_after_success=False,
            ),
            job_release_task=m.BatchJobReleaseTask(
                command_line="/bin/true", max_wall_clock_time=timedelta(minutes=5), retention_time=timedelta(days=1)
            ),
            common_environment_settings=env,
            all_tasks_complete_mode="terminatejob",
            task_failure_mode="performexitoptionsjobaction",
            metadata=[m.BatchMetadataItem(name="owner", value="tests")],
        )
    )


def sdk_task() -> dict[str, Any]:
    exit_options = m.ExitOptions(job_action="none", dependency_action="satisfy")
    return wire(
        m.BatchTaskCreateOptions(
            id=unique("sdk-task"),
            display_name="validation task",
            command_line="/bin/sh -c 'echo hi'",
            resource_files=[
                m.ResourceFile(http_url="http://127.0.0.1:1/in.txt", file_path="in/in.txt", file_mode="0644"),
                m.ResourceFile(auto_storage_container_name="inputs", blob_prefix="data/", file_path="data"),
            ],
            output_files=[
                m.OutputFile(
                    file_pattern="*.txt",
                    destination=m.OutputFileDestination(
                        container=m.OutputFileBlobContainerDestination(
                            container_url="http://127.0.0.1:1/out?sv=x", path="results"
                        )
                    ),
                    upload_options=m.OutputFileUploadConfiguration(upload_condition="taskcompletion"),
                )
            ],
            environment_settings=[m.EnvironmentSetting(name="MODE", value="fast")],
            constraints=m.BatchTaskConstraints(
                max_wall_clock_time=timedelta(hours=1), retention_time=timedelta(days=2), max_task_retry_count=2
            ),
            required_slots=1,
            user_identity=m.UserIdentity(auto_user=m.AutoUserSpecification(scope="task", elevation_level="nonadmin")),
            exit_conditions=m.ExitConditions(
                exit_codes=[m.ExitCodeMapping(code=3, exit_options=exit_options)],
                exit_code_ranges=[m.ExitCodeRangeMapping(start=10, end=20, exit_options=exit_options)],
                default=m.ExitOptions(job_action="terminate"),
            ),
            depends_on=m.BatchTaskDependencies(
                task_ids=["upstream"], task_id_ranges=[m.BatchTaskIdRange(start=1, end=5)]
            ),
            affinity_info=m.BatchAffinityInfo(affinity_id="node-0"),
        )
    )


def sdk_pool() -> dict[str, Any]:
    return wire(
        m.BatchPoolCreateOptions(
            id=unique("sdk-pool"),
            display_name="validation pool",
            vm_size="standard_d2s_v3",
            virtual_machine_configuration=m.VirtualMachineConfiguration(
                image_reference=m.BatchVmImageReference(
                    publisher="canonical", offer="ubuntu-24_04-lts", sku="server", version="latest"
                ),
                node_agent_sku_id="batch.node.ubuntu 24.04",
            ),
            resize_timeout=timedelta(minutes=15),
            target_dedicated_nodes=0,
            target_low_priority_nodes=0,
            enable_inter_node_communication=False,
            task_slots_per_node=2,
            task_scheduling_policy=m.BatchTaskSchedulingPolicy(node_fill_type="pack"),
            start_task=m.BatchStartTask(
                command_line="/bin/true",
                environment_settings=[m.EnvironmentSetting(name="A", value="1")],
                max_task_retry_count=1,
                wait_for_success=True,
            ),
            user_accounts=[m.UserAccount(name="worker", password="pw-123456", elevation_level="admin")],
            metadata=[m.BatchMetadataItem(name="owner", value="tests")],
        )
    )


Path_ = tuple[str | int, ...]
WRONG_TYPES: dict[type, tuple[object, ...]] = {
    dict: ("abc", 5, [1]),
    list: ("abc", {"a": 1}, 5),
    str: (5, {}, ["a"], True),
    bool: ("true", 1, {}),
    int: ("high", {}, 1.5, True, 2**40),
}
DELETE = object()


def nodes(value: object, path: Path_ = ()) -> Iterator[tuple[Path_, object]]:
    """Every property and array item below the body, with its path."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*path, key), item
            yield from nodes(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*path, index), item
            yield from nodes(item, (*path, index))


def replaced(body: dict[str, Any], path: Path_, value: object) -> dict[str, Any]:
    out = copy.deepcopy(body)
    target: Any = out
    for step in path[:-1]:
        target = target[step]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return out


def dotted(path: Path_) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text


def wrong_type_cases(body: dict[str, Any], *, skip: tuple[str, ...] = ()) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, value in nodes(body):
        if dotted(path) in skip:
            continue
        for wrong in WRONG_TYPES[type(value)]:
            yield dotted(path), replaced(body, path, wrong)


def parse_path(text: str) -> Path_:
    steps: list[str | int] = []
    for part in text.replace("[", ".[").split("."):
        steps.append(int(part[1:-1]) if part.startswith("[") else part)
    return tuple(steps)


# (property path, value or DELETE, expected code)
JOB_VALUES = [
    ("priority", 1001, "InvalidPropertyValue"),
    ("priority", -1001, "InvalidPropertyValue"),
    ("maxParallelTasks", 0, "InvalidPropertyValue"),
    ("maxParallelTasks", -2, "InvalidPropertyValue"),
    ("constraints.maxTaskRetryCount", -2, "InvalidPropertyValue"),
    ("constraints.maxWallClockTime", "two hours", "InvalidPropertyValue"),
    ("constraints.maxWallClockTime", "P99999999999999D", "InvalidPropertyValue"),
    ("onAllTasksComplete", "sometimes", "InvalidPropertyValue"),
    ("onTaskFailure", "retry", "InvalidPropertyValue"),
    ("displayName", "x" * 1025, "InvalidPropertyValue"),
    ("id", "has space", "InvalidPropertyValue"),
    ("id", DELETE, "MissingRequiredProperty"),
    ("poolInfo", DELETE, "MissingRequiredProperty"),
    ("jobPreparationTask.commandLine", DELETE, "MissingRequiredProperty"),
    ("jobPreparationTask.commandLine", "/bin/echo a\x00b", "InvalidPropertyValue"),
    ("jobPreparationTask.resourceFiles[0].filePath", "../outside.sh", "InvalidPropertyValue"),
    ("jobReleaseTask.retentionTime", "P1Y", "InvalidPropertyValue"),
    ("metadata[0].value", DELETE, "MissingRequiredProperty"),
    ("commonEnvironmentSettings[0].name", DELETE, "MissingRequiredProperty"),
]
TASK_VALUES = [
    ("commandLine", DELETE, "MissingRequiredProperty"),
    ("commandLine", "/bin/echo a\x00b", "InvalidPropertyValue"),
    ("requiredSlots", 0, "InvalidPropertyValue"),
    ("resourceFiles[0].filePath", "../../escape.txt", "InvalidPropertyValue"),
    ("resourceFiles[0].filePath", "/etc/passwd", "InvalidPropertyValue"),
    ("resourceFiles[0].filePath", "C:\\Windows\\x", "InvalidPropertyValue"),
    ("resourceFiles[1].filePath", "data/../../up", "InvalidPropertyValue"),
    ("resourceFiles[0].httpUrl", DELETE, "MissingRequiredProperty"),
    ("resourceFiles[1].httpUrl", "http://127.0.0.1:1/x", "InvalidPropertyValue"),
    ("environmentSettings[0].name", DELETE, "MissingRequiredProperty"),
    ("constraints.retentionTime", "forever", "InvalidPropertyValue"),
    ("constraints.maxTaskRetryCount", -5, "InvalidPropertyValue"),
    ("dependsOn.taskIdRanges[0].start", 9, "InvalidPropertyValue"),
    ("dependsOn.taskIdRanges[0].end", DELETE, "MissingRequiredProperty"),
    ("exitConditions.exitCodeRanges[0].start", 30, "InvalidPropertyValue"),
    ("exitConditions.default.jobAction", "explode", "InvalidPropertyValue"),
    ("outputFiles[0].uploadOptions.uploadCondition", "always", "InvalidPropertyValue"),
    ("outputFiles[0].destination.container.containerUrl", DELETE, "MissingRequiredProperty"),
    ("outputFiles[0].filePattern", DELETE, "MissingRequiredProperty"),
    ("userIdentity.autoUser.scope", "everywhere", "InvalidPropertyValue"),
    ("userIdentity.username", "someone", "InvalidPropertyValue"),
    ("affinityInfo.affinityId", DELETE, "MissingRequiredProperty"),
    ("displayName", "y" * 1025, "InvalidPropertyValue"),
]
POOL_VALUES = [
    ("vmSize", DELETE, "MissingRequiredProperty"),
    ("id", DELETE, "MissingRequiredProperty"),
    ("taskSlotsPerNode", 0, "InvalidPropertyValue"),
    ("taskSlotsPerNode", 257, "InvalidPropertyValue"),
    ("targetDedicatedNodes", -1, "InvalidPropertyValue"),
    ("targetLowPriorityNodes", -3, "InvalidPropertyValue"),
    ("resizeTimeout", "15 minutes", "InvalidPropertyValue"),
    ("taskSchedulingPolicy.nodeFillType", "random", "InvalidPropertyValue"),
    ("taskSchedulingPolicy.nodeFillType", DELETE, "MissingRequiredProperty"),
    ("startTask.commandLine", DELETE, "MissingRequiredProperty"),
    ("startTask.maxTaskRetryCount", -2, "InvalidPropertyValue"),
    ("userAccounts[0].password", DELETE, "MissingRequiredProperty"),
    ("userAccounts[0].elevationLevel", "root", "InvalidPropertyValue"),
    ("virtualMachineConfiguration.nodeAgentSKUId", DELETE, "MissingRequiredProperty"),
    ("metadata[0].name", DELETE, "MissingRequiredProperty"),
]


def run_cases(
    raw: RawBatch,
    path: str,
    body: dict[str, Any],
    value_cases: list[tuple[str, object, str]],
    *,
    skip: tuple[str, ...] = (),
) -> int:
    count = 0
    for property_name, mutated in wrong_type_cases(body, skip=skip):
        assert_refused(send_json(raw, "POST", path, mutated), "InvalidRequestBody", property_name)
        count += 1
    for property_name, value, code in value_cases:
        mutated = replaced(body, parse_path(property_name), value)
        assert_refused(send_json(raw, "POST", path, mutated), code, property_name)
        count += 1
    return count


def test_mutated_job_add_bodies_are_refused_and_change_nothing(raw: RawBatch, pool_id: str, state: State) -> None:
    body = sdk_job(pool_id)
    count = run_cases(raw, "/jobs", body, JOB_VALUES)
    assert count > 100
    state.assert_unchanged()
    # The body itself is accepted: only the mutations were wrong.
    assert send_json(raw, "POST", "/jobs", body).status_code == 201


def test_mutated_task_add_bodies_are_refused_and_change_nothing(raw: RawBatch, job_id: str, state: State) -> None:
    body = sdk_task()
    count = run_cases(raw, f"/jobs/{job_id}/tasks", body, TASK_VALUES)
    assert count > 150
    state.assert_unchanged()
    assert send_json(raw, "POST", f"/jobs/{job_id}/tasks", body).status_code == 201


def test_mutated_pool_add_bodies_are_refused_and_change_nothing(raw: RawBatch, state: State) -> None:
    body = sdk_pool()
    count = run_cases(raw, "/pools", body, POOL_VALUES)
    assert count > 100
    state.assert_unchanged()
    response = send_json(raw, "POST", "/pools", body)
    assert response.status_code == 201, response.text


def test_mutated_tasks_in_a_collection_are_reported_each_and_the_others_added(raw: RawBatch, job_id: str) -> None:
    base = sdk_task()
    cases = [(name, mutated) for name, mutated in wrong_type_cases(base, skip=("id",))]
    cases += [
        (name, replaced(base, parse_path(name), value)) for name, value, _ in TASK_VALUES if not name.startswith("id")
    ]
    path = f"/jobs/{job_id}/addtaskcollection"
    bad_ids: list[str] = []
    good_ids: list[str] = []
    for start in range(0, len(cases), 49):
        chunk = cases[start : start + 49]
        tasks: list[dict[str, Any]] = []
        for _, mutated in chunk:
            mutated["id"] = unique("bad")
            bad_ids.append(mutated["id"])
            good = {**copy.deepcopy(base), "id": unique("good")}
            good_ids.append(good["id"])
            tasks += [mutated, good]
        response = send_json(raw, "POST", path, {"value": tasks})
        assert response.status_code == 200, response.text
        by_id = {result["taskId"]: result for result in response.json()["value"]}
        for (name, _), task in zip(chunk, tasks[::2], strict=True):
            result = by_id[task["id"]]
            assert result["status"] == "clienterror", (name, result)
            assert result["error"]["code"] in REFUSED_BODY_CODES, (name, result)
        assert all(by_id[task["id"]]["status"] == "success" for task in tasks[1::2])
    present = ids(raw, f"/jobs/{job_id}/tasks")
    assert set(good_ids) <= present
    assert not set(bad_ids) & present


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"{", "not valid JSON"),
        (b'{"id": "j", "priority": NaN}', "not valid JSON"),
        (b'{"id": "j", "priority": Infinity}', "not valid JSON"),
        (b'{"id": "j", "priority": ' + b"9" * 5000 + b"}", "not valid JSON"),
        (b"\xff\xfe\x00{", "not valid JSON"),
        (b"[]", "JSON object"),
        (b'"job"', "JSON object"),
        (b'{"id": "j", "poolInfo": {"poolId": "p"}, "priority": 1e400}', "32-bit integer"),
        (b'{"id": "j", "poolInfo": {"poolId": "p"}, "priority": 3000000000}', "32-bit integer"),
    ],
)
def test_unparseable_bodies_are_invalid_request_body(raw: RawBatch, state: State, data: bytes, reason: str) -> None:
    response = send(raw, "POST", "/jobs", data)
    assert_refused(response, "InvalidRequestBody")
    assert reason in error_values(response)["Reason"]
    state.assert_unchanged()


@pytest.mark.parametrize(
    ("method", "suffix", "body", "code", "property_name"),
    [
        ("PATCH", "", {"priority": "high"}, "InvalidRequestBody", "priority"),
        ("PATCH", "", {"constraints": "abc"}, "InvalidRequestBody", "constraints"),
        ("PATCH", "", {"maxParallelTasks": 0}, "InvalidPropertyValue", "maxParallelTasks"),
        ("PUT", "", {"poolInfo": {"poolId": 5}}, "InvalidRequestBody", "poolInfo.poolId"),
        ("POST", "/disable", {"disableTasks": ["requeue"]}, "InvalidRequestBody", "disableTasks"),
        ("POST", "/terminate", {"terminateReason": {}}, "InvalidRequestBody", "terminateReason"),
    ],
)
def test_job_updates_are_validated_before_anything_changes(
    raw: RawBatch, job_id: str, state: State, method: str, suffix: str, body: object, code: str, property_name: str
) -> None:
    assert_refused(send_json(raw, method, f"/jobs/{job_id}{suffix}", body), code, property_name)
    state.assert_unchanged()


@pytest.mark.parametrize(
    ("suffix", "body", "code", "property_name"),
    [
        ("/resize", {"targetDedicatedNodes": "2"}, "InvalidRequestBody", "targetDedicatedNodes"),
        ("/resize", {"targetDedicatedNodes": -1}, "InvalidPropertyValue", "targetDedicatedNodes"),
        ("/resize", {"nodeDeallocationOption": "whenever"}, "InvalidPropertyValue", "nodeDeallocationOption"),
        (
            "/updateproperties",
            {"metadata": "abc", "applicationPackageReferences": []},
            "InvalidRequestBody",
            "metadata",
        ),
        ("/removenodes", {"nodeList": "node-1"}, "InvalidRequestBody", "nodeList"),
    ],
)
def test_pool_operations_are_validated_before_anything_changes(
    raw: RawBatch, pool_id: str, state: State, suffix: str, body: object, code: str, property_name: str
) -> None:
    assert_refused(send_json(raw, "POST", f"/pools/{pool_id}{suffix}", body), code, property_name)
    state.assert_unchanged()


def test_pool_patch_and_task_update_are_validated(raw: RawBatch, pool_id: str, job_id: str, state: State) -> None:
    assert_refused(
        send_json(raw, "PATCH", f"/pools/{pool_id}", {"startTask": "abc"}), "InvalidRequestBody", "startTask"
    )
    task_id = unique("update-task")
    assert (
        send_json(raw, "POST", f"/jobs/{job_id}/tasks", {"id": task_id, "commandLine": "/bin/true"}).status_code == 201
    )
    state = State(raw, job_id, pool_id)
    task_path = f"/jobs/{job_id}/tasks/{task_id}"
    before = etag(raw, task_path)
    for body, code in (
        ({"constraints": "abc"}, "InvalidRequestBody"),
        ({"constraints": {"maxWallClockTime": "x"}}, "InvalidPropertyValue"),
    ):
        assert_refused(send_json(raw, "PUT", task_path, body), code)
    assert etag(raw, task_path) == before
    state.assert_unchanged()


# ---- private files -------------------------------------------------------------------------------------


def test_the_data_directory_and_its_files_are_private(
    tmp_path: Path, local_batch_factory: Callable[[], LocalBatch]
) -> None:
    data_dir = tmp_path / "localbatch-0"  # where the factory's first service lives
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)  # as an older version left it
    batch = local_batch_factory()
    assert batch.data_dir == data_dir.resolve()
    batch.batch_client().create_pool(m.BatchPoolCreateOptions(id=unique("private"), vm_size="standard_d2s_v3"))

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    assert mode(data_dir) == 0o700
    files = ["localbatch.json", "service.json", "state.sqlite", "state.sqlite-wal", "service.log", "requests.log"]
    files.append("azurite/azurite.log")
    for name in files:
        assert (data_dir / name).exists(), name
        assert mode(data_dir / name) == 0o600, (name, oct(mode(data_dir / name)))
    assert mode(data_dir / "azurite") == 0o700
