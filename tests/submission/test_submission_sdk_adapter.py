"""The azure-batch internals batchforge relies on, and the request bodies it hands the SDK: fail on an SDK change."""

from __future__ import annotations

import io
import json
import threading
from datetime import timedelta
from typing import Any

import pytest
import requests
import urllib3
from azure.batch import BatchClient
from azure.batch import models as bm
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.pipeline.transport import RequestsTransport
from requests.adapters import HTTPAdapter

from batchforge.submission.chunking import body_size, serialized_size, wire_json
from batchforge.submission.engine import terminate_job
from batchforge.submission.sdk_adapter import broken_assumptions, model_from_wire


def test_the_installed_sdk_still_has_what_the_adapter_relies_on():
    assert broken_assumptions() == []


IDENTITY = bm.BatchNodeIdentityReference(resource_id="/subscriptions/0/identity")

# Every class building.py makes from wire JSON: the public constructor and the wire JSON of the same model.
FROM_WIRE: list[tuple[Any, dict[str, Any]]] = [
    (bm.EnvironmentSetting(name="A", value="b"), {"name": "A", "value": "b"}),
    (
        bm.ResourceFile(http_url="https://x/y", file_path="y", file_mode="0755", identity_reference=IDENTITY),
        {"httpUrl": "https://x/y", "filePath": "y", "fileMode": "0755", "identityReference": IDENTITY},
    ),
    (bm.BatchTaskDependencies(task_ids=["a"]), {"taskIds": ["a"]}),
    (
        bm.MultiInstanceSettings(number_of_instances=2, coordination_command_line="c"),
        {"numberOfInstances": 2, "coordinationCommandLine": "c"},
    ),
    (
        bm.OutputFileBlobContainerDestination(container_url="https://x/o", path="j/t", identity_reference=IDENTITY),
        {"containerUrl": "https://x/o", "path": "j/t", "identityReference": IDENTITY},
    ),
    (
        bm.OutputFile(
            file_pattern="*.txt",
            destination=bm.OutputFileDestination(
                container=bm.OutputFileBlobContainerDestination(container_url="https://x/o", path="p")
            ),
            upload_options=bm.OutputFileUploadConfiguration(upload_condition="tasksuccess"),
        ),
        {
            "filePattern": "*.txt",
            "destination": bm.OutputFileDestination(
                container=bm.OutputFileBlobContainerDestination(container_url="https://x/o", path="p")
            ),
            "uploadOptions": bm.OutputFileUploadConfiguration(upload_condition="tasksuccess"),
        },
    ),
    (
        bm.BatchTaskCreateOptions(
            id="t-1",
            command_line="run 1",
            constraints=bm.BatchTaskConstraints(max_wall_clock_time=timedelta(minutes=5)),
            environment_settings=[bm.EnvironmentSetting(name="A", value="b")],
        ),
        {
            "id": "t-1",
            "commandLine": "run 1",
            "constraints": bm.BatchTaskConstraints(max_wall_clock_time=timedelta(minutes=5)),
            "environmentSettings": [bm.EnvironmentSetting(name="A", value="b")],
        },
    ),
]


@pytest.mark.parametrize(("public", "wire"), FROM_WIRE, ids=[type(model).__name__ for model, _ in FROM_WIRE])
def test_models_from_wire_json_are_the_public_constructors_models(public, wire):
    fast = model_from_wire(type(public), dict(wire))
    assert fast == public
    assert fast.as_dict() == public.as_dict()
    assert wire_json(fast) == wire_json(public)
    for name in ("id", "command_line", "http_url", "name", "task_ids", "file_pattern", "container_url"):
        if hasattr(public, name):
            assert getattr(fast, name) == getattr(public, name), name


def test_models_from_wire_json_can_still_be_changed_through_attributes():
    task = model_from_wire(bm.BatchTaskCreateOptions, {"id": "t", "commandLine": "c"})
    task.display_name = "shown"
    task.constraints = bm.BatchTaskConstraints(retention_time=timedelta(days=1))
    assert task.as_dict() == {
        "id": "t",
        "commandLine": "c",
        "displayName": "shown",
        "constraints": {"retentionTime": "P1D"},
    }


def test_the_measured_body_is_the_public_as_dict_form():
    task = FROM_WIRE[-1][0]
    group = bm.BatchTaskGroup(task_values=[task, task])
    assert json.loads(wire_json(group)) == group.as_dict(exclude_readonly=True)
    assert serialized_size(task) == len(json.dumps(task.as_dict()).encode())
    assert body_size([task, task]) == len(json.dumps(group.as_dict()).encode())


def test_a_value_that_is_not_json_is_refused_like_json_dumps_does():
    with pytest.raises(TypeError, match="Object of type object is not JSON serializable"):
        wire_json({"x": object()})


class _RecordingAdapter(HTTPAdapter):
    """Answers like the Batch service for a job being terminated, and keeps every request."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[requests.PreparedRequest] = []
        self._lock = threading.Lock()

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        with self._lock:
            self.requests.append(request)
        if request.method == "POST":
            status, body, headers = 202, b"", {}
        else:
            status, headers = 200, {"Content-Type": "application/json"}
            body = json.dumps({"id": "job-1", "state": "completed"}).encode()
        raw = urllib3.HTTPResponse(
            body=io.BytesIO(body), status=status, headers=headers, preload_content=False, decode_content=False
        )
        return self.build_response(request, raw)


def test_terminate_sends_the_reason_as_the_request_body():
    adapter = _RecordingAdapter()
    session = requests.Session()
    session.mount("https://", adapter)
    client = BatchClient(
        endpoint="https://account.region.batch.azure.com",
        credential=AzureNamedKeyCredential("account", "a2V5"),
        transport=RequestsTransport(session=session, session_owner=False),
    )

    assert terminate_job(client, "job-1", reason="r" * 80, wait=True, timeout_s=30) is True

    posted = [request for request in adapter.requests if request.method == "POST"]
    assert [request.path_url.split("?")[0] for request in posted] == ["/jobs/job-1/terminate"]
    assert json.loads(posted[0].body or b"") == {"terminateReason": "r" * 64}
