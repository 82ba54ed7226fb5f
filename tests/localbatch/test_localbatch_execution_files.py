"""Resource files in and output files out, against a real Azurite, as the node agent moves them."""

from __future__ import annotations

import asyncio
import http.server
import stat
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.storage.blob import (
    BlobSasPermissions,
    BlobServiceClient,
    ContainerSasPermissions,
    generate_blob_sas,
    generate_container_sas,
)

from batchforge.localbatch.azurite import Azurite
from batchforge.localbatch.execution import NodeContext, TaskRun, run_task


def run(node: NodeContext, task: TaskRun):
    return asyncio.run(run_task(node, task))


@pytest.fixture
def container(execution_blob_service: BlobServiceClient):
    client = execution_blob_service.create_container(f"c{uuid.uuid4().hex[:12]}")
    yield client
    client.delete_container()


def _sas_expiry() -> datetime:
    return datetime.now(UTC) + timedelta(hours=1)


def blob_sas_url(azurite: Azurite, container_name: str, blob_name: str) -> str:
    sas = generate_blob_sas(
        azurite.account_name,
        container_name,
        blob_name,
        account_key=azurite.account_key,
        permission=BlobSasPermissions(read=True),
        expiry=_sas_expiry(),
    )
    return f"{azurite.blob_endpoint}/{container_name}/{blob_name}?{sas}"


def container_sas_url(azurite: Azurite, container_name: str, **permissions: bool) -> str:
    sas = generate_container_sas(
        azurite.account_name,
        container_name,
        account_key=azurite.account_key,
        permission=ContainerSasPermissions(**permissions),
        expiry=_sas_expiry(),
    )
    return f"{azurite.blob_endpoint}/{container_name}?{sas}"


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_http_url_with_sas_is_downloaded_with_file_mode_and_runs(
    execution_storage_node, azurite_execution, container
) -> None:
    container.upload_blob("tools/run.sh", b"#!/bin/sh\necho ran from a resource file\n")
    spec = {
        "commandLine": "./bin/run.sh",
        "resourceFiles": [
            {
                "httpUrl": blob_sas_url(azurite_execution, container.container_name, "tools/run.sh"),
                "filePath": "bin/run.sh",
                "fileMode": "0755",
            }
        ],
    }
    outcome = run(execution_storage_node, TaskRun(kind="task", job_id="j", task_id="t", spec=spec))
    assert outcome.result == "success", outcome.failure_info
    assert mode_of(outcome.task_dir / "wd" / "bin" / "run.sh") == 0o755
    assert (outcome.task_dir / "stdout.txt").read_text() == "ran from a resource file\n"


def test_storage_container_url_with_prefix_keeps_blob_paths_under_file_path(
    execution_storage_node, azurite_execution, container
) -> None:
    for name in ("inputs/a.txt", "inputs/sub/b.txt", "other/c.txt"):
        container.upload_blob(name, name.encode())
    spec = {
        "commandLine": "/bin/true",
        "resourceFiles": [
            {
                "storageContainerUrl": container_sas_url(
                    azurite_execution, container.container_name, read=True, list=True
                ),
                "blobPrefix": "inputs/",
                "filePath": "data",
            }
        ],
    }
    outcome = run(execution_storage_node, TaskRun(kind="task", job_id="j", task_id="t", spec=spec))
    assert outcome.result == "success", outcome.failure_info
    wd = outcome.task_dir / "wd"
    downloaded = sorted(p.relative_to(wd).as_posix() for p in wd.rglob("*") if p.is_file())
    assert downloaded == ["data/inputs/a.txt", "data/inputs/sub/b.txt"]
    assert (wd / "data" / "inputs" / "sub" / "b.txt").read_text() == "inputs/sub/b.txt"
    assert mode_of(wd / "data" / "inputs" / "a.txt") == 0o770  # Batch's default fileMode


def test_auto_storage_container_and_identity_reference_use_the_linked_account(
    execution_storage_node, azurite_execution, container
) -> None:
    container.upload_blob("model/weights.bin", b"\x00\x01")
    container.upload_blob("config.json", b"{}")
    no_sas_container_url = f"{azurite_execution.blob_endpoint}/{container.container_name}"
    spec = {
        "commandLine": "/bin/true",
        "resourceFiles": [
            {"autoStorageContainerName": container.container_name, "blobPrefix": "model/"},
            {
                "storageContainerUrl": no_sas_container_url,
                "blobPrefix": "config",
                "filePath": "cfg",
                "identityReference": {"resourceId": "/subscriptions/x/userAssignedIdentities/pool-identity"},
            },
            {"httpUrl": f"{no_sas_container_url}/config.json", "filePath": "direct/config.json", "fileMode": "0600"},
        ],
    }
    outcome = run(execution_storage_node, TaskRun(kind="task", job_id="j", task_id="t", spec=spec))
    assert outcome.result == "success", outcome.failure_info
    wd = outcome.task_dir / "wd"
    assert (wd / "model" / "weights.bin").read_bytes() == b"\x00\x01"
    assert (wd / "cfg" / "config.json").read_text() == "{}"
    assert mode_of(wd / "direct" / "config.json") == 0o600


@pytest.fixture
def plain_http_server(tmp_path: Path) -> Iterator[str]:
    served = tmp_path / "served"
    served.mkdir()
    (served / "plain.txt").write_text("plain http content")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, directory=str(served), **kwargs)

        def log_message(self, format: str, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_plain_http_url_is_downloaded(execution_storage_node, plain_http_server: str) -> None:
    spec = {
        "commandLine": "/bin/cat plain.txt",
        "resourceFiles": [{"httpUrl": f"{plain_http_server}/plain.txt", "filePath": "plain.txt"}],
    }
    outcome = run(execution_storage_node, TaskRun(kind="task", job_id="j", task_id="t", spec=spec))
    assert outcome.result == "success", outcome.failure_info
    assert (outcome.task_dir / "stdout.txt").read_text() == "plain http content"

    spec["resourceFiles"] = [{"httpUrl": f"{plain_http_server}/missing.txt", "filePath": "missing.txt"}]
    outcome = run(execution_storage_node, TaskRun(kind="task", job_id="j", task_id="t2", spec=spec))
    assert outcome.failure_info["code"] == "BlobNotFound"


def test_missing_blob_fails_before_the_command_runs(execution_storage_node, azurite_execution, container) -> None:
    spec = {
        "commandLine": "/bin/sh -c 'touch ran'",
        "resourceFiles": [
            {"httpUrl": blob_sas_url(azurite_execution, container.container_name, "absent.txt"), "filePath": "x"}
        ],
    }
    outcome = run(execution_storage_node, TaskRun(kind="task", job_id="j", task_id="t", spec=spec))
    assert (outcome.result, outcome.exit_code) == ("failure", None)
    assert outcome.failure_info["category"] == "usererror"
    assert outcome.failure_info["code"] == "BlobNotFound"
    assert "sig=" not in str(outcome.failure_info)  # SAS tokens never end up in task state
    assert not (outcome.task_dir / "wd" / "ran").exists()
    # The file a user opens first says why the command never ran (Batch says it only in failureInfo).
    stderr = (outcome.task_dir / "stderr.txt").read_text()
    assert stderr.startswith("localbatch: BlobNotFound: ") and "sig=" not in stderr


def test_a_start_task_that_cannot_download_its_files_says_so_in_its_stderr(
    execution_storage_node, azurite_execution, container
) -> None:
    spec = {
        "commandLine": "/bin/sh -c 'echo prepared'",
        "resourceFiles": [
            {"httpUrl": blob_sas_url(azurite_execution, container.container_name, "gone/setup.sh"), "filePath": "s"}
        ],
    }
    outcome = run(execution_storage_node, TaskRun(kind="start", job_id=None, task_id="starttask", spec=spec))
    assert outcome.failure_info is not None and outcome.failure_info["code"] == "BlobNotFound"
    assert "localbatch: BlobNotFound: " in (outcome.task_dir / "stderr.txt").read_text()


def test_forged_sas_is_access_denied(execution_storage_node, azurite_execution, container) -> None:
    container.upload_blob("secret.txt", b"s")
    url = blob_sas_url(azurite_execution, container.container_name, "secret.txt")
    forged = url.replace("sig=", "sig=AAAA")
    spec = {"commandLine": "/bin/true", "resourceFiles": [{"httpUrl": forged, "filePath": "secret.txt"}]}
    outcome = run(execution_storage_node, TaskRun(kind="task", job_id="j", task_id="t", spec=spec))
    assert outcome.failure_info["code"] == "BlobAccessDenied"


def test_resource_file_path_cannot_leave_the_working_dir(execution_storage_node, azurite_execution, container) -> None:
    container.upload_blob("a.txt", b"a")
    url = blob_sas_url(azurite_execution, container.container_name, "a.txt")
    spec = {"commandLine": "/bin/true", "resourceFiles": [{"httpUrl": url, "filePath": "../../escape.txt"}]}
    outcome = run(execution_storage_node, TaskRun(kind="task", job_id="j", task_id="t", spec=spec))
    assert outcome.failure_info["code"] == "ResourceFileCreateFailed"
    assert not (outcome.task_dir.parent / "escape.txt").exists()


def _output(pattern: str, container_url: str, condition: str, path: str | None = None, **extra) -> dict:
    destination: dict = {"containerUrl": container_url, **extra}
    if path is not None:
        destination["path"] = path
    return {
        "filePattern": pattern,
        "destination": {"container": destination},
        "uploadOptions": {"uploadCondition": condition},
    }


PRODUCE = (
    "/bin/sh -c 'mkdir -p out/sub; echo a > out/a.txt; echo b > out/sub/b.txt; echo x > out/.hidden.txt;"
    " echo r > result.csv; echo log; exit {code}'"
)


@pytest.mark.parametrize("exit_code", [0, 1])
def test_output_files_follow_upload_conditions_and_patterns(
    execution_storage_node, azurite_execution, container, exit_code: int
) -> None:
    url = container_sas_url(azurite_execution, container.container_name, write=True, create=True)
    spec = {
        "commandLine": PRODUCE.format(code=exit_code),
        "outputFiles": [
            _output("out/**/*.txt", url, "taskCompletion", path="tree"),
            _output("result.csv", url, "taskSuccess", path="results/$AZ_BATCH_TASK_ID.csv"),
            _output("$AZ_BATCH_TASK_DIR/std*.txt", url, "taskFailure", path="logs"),
            _output("../std*.txt", url, "taskCompletion", path="alllogs"),
            _output(
                "result.csv",
                url,
                "taskcompletion",
                path="typed.csv",
                uploadHeaders=[{"name": "Content-Type", "value": "text/csv"}],
            ),
        ],
    }
    outcome = run(execution_storage_node, TaskRun(kind="task", job_id="j", task_id="t9", spec=spec))
    assert outcome.exit_code == exit_code
    assert outcome.result == ("success" if exit_code == 0 else "failure")
    names = sorted(blob.name for blob in container.list_blobs())
    expected = ["alllogs/stderr.txt", "alllogs/stdout.txt", "tree/a.txt", "tree/sub/b.txt", "typed.csv"]
    if exit_code == 0:
        # Variables in path are not expanded: only filePattern gets environment variables.
        expected.append("results/$AZ_BATCH_TASK_ID.csv")
    else:
        expected += ["logs/stderr.txt", "logs/stdout.txt"]
    assert names == sorted(expected)
    assert container.download_blob("alllogs/stdout.txt").readall() == b"log\n"
    assert container.get_blob_client("typed.csv").get_blob_properties().content_settings.content_type == "text/csv"
    log = (outcome.task_dir / "fileuploadout.txt").read_text()
    assert "tree/sub/b.txt" in log and "sig=" not in log


def test_single_file_without_path_uploads_under_its_name_and_no_match_is_not_an_error(
    execution_storage_node, azurite_execution, container
) -> None:
    url = container_sas_url(azurite_execution, container.container_name, write=True, create=True)
    spec = {
        "commandLine": "/bin/sh -c 'mkdir -p deep; echo d > deep/report.txt'",
        "outputFiles": [
            _output("deep/report.txt", url, "taskSuccess"),
            _output("nothing-*.bin", url, "taskSuccess"),
        ],
    }
    outcome = run(execution_storage_node, TaskRun(kind="task", job_id="j", task_id="t", spec=spec))
    assert outcome.result == "success", outcome.failure_info
    assert [blob.name for blob in container.list_blobs()] == ["report.txt"]


def test_output_upload_with_identity_reference_uses_the_linked_account(
    execution_storage_node, azurite_execution, container
) -> None:
    url = f"{azurite_execution.blob_endpoint}/{container.container_name}"
    output = _output("*.txt", url, "taskSuccess", identityReference={"resourceId": "/x/identities/pool"})
    spec = {"commandLine": "/bin/sh -c 'echo v > v.txt'", "outputFiles": [output]}
    outcome = run(execution_storage_node, TaskRun(kind="task", job_id="j", task_id="t", spec=spec))
    assert outcome.result == "success", outcome.failure_info
    assert [blob.name for blob in container.list_blobs()] == ["v.txt"]


def test_upload_to_a_missing_container_fails_the_task(execution_storage_node, azurite_execution) -> None:
    url = f"{azurite_execution.blob_endpoint}/no-such-container-{uuid.uuid4().hex[:8]}"
    spec = {"commandLine": "/bin/sh -c 'echo v > v.txt'", "outputFiles": [_output("v.txt", url, "taskSuccess")]}
    outcome = run(execution_storage_node, TaskRun(kind="task", job_id="j", task_id="t", spec=spec))
    assert (outcome.exit_code, outcome.result) == (0, "failure")
    assert outcome.failure_info["code"] == "FileUploadContainerNotFound"
    assert "FileUploadContainerNotFound" in (outcome.task_dir / "fileuploaderr.txt").read_text()


def test_upload_with_a_read_only_sas_is_access_denied(execution_storage_node, azurite_execution, container) -> None:
    url = container_sas_url(azurite_execution, container.container_name, read=True)
    spec = {"commandLine": "/bin/sh -c 'echo v > v.txt'", "outputFiles": [_output("v.txt", url, "taskSuccess")]}
    outcome = run(execution_storage_node, TaskRun(kind="task", job_id="j", task_id="t", spec=spec))
    assert outcome.failure_info["code"] == "FileUploadAccessDenied"


def test_missing_auto_storage_container_fails_before_the_command_runs(execution_storage_node) -> None:
    spec = {
        "commandLine": "/bin/sh -c 'touch ran'",
        "resourceFiles": [{"autoStorageContainerName": f"absent-{uuid.uuid4().hex[:8]}"}],
    }
    outcome = run(execution_storage_node, TaskRun(kind="task", job_id="j", task_id="t", spec=spec))
    assert (outcome.exit_code, outcome.failure_info["code"]) == (None, "BlobNotFound")
    assert not (outcome.task_dir / "wd" / "ran").exists()


def test_output_files_of_a_task_killed_at_its_wall_clock_limit_upload_on_failure(
    execution_storage_node, azurite_execution, container
) -> None:
    url = container_sas_url(azurite_execution, container.container_name, write=True, create=True)
    spec = {
        "commandLine": "/bin/sh -c 'echo partial > partial.txt; echo started; sleep 60'",
        "outputFiles": [
            _output("partial.txt", url, "taskFailure", path="failed/partial.txt"),
            _output("partial.txt", url, "taskSuccess", path="succeeded/partial.txt"),
            _output("../stdout.txt", url, "taskCompletion", path="stdout.txt"),
        ],
    }
    outcome = asyncio.run(
        run_task(
            execution_storage_node,
            TaskRun(kind="task", job_id="j", task_id="t", spec=spec),
            max_wall_clock=timedelta(seconds=1),
        )
    )
    assert outcome.timed_out and outcome.failure_info["code"] == "TaskEnded"
    assert sorted(blob.name for blob in container.list_blobs()) == ["failed/partial.txt", "stdout.txt"]
    assert container.download_blob("stdout.txt").readall() == b"started\n"
