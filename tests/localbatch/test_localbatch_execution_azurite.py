"""The Azurite launcher: a private account with a generated key, durable data, a clean stop."""

from __future__ import annotations

import base64
import socket
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobServiceClient

from batchforge.localbatch.azurite import Azurite, generate_account_key


def _service(azurite: Azurite, key: str | None = None) -> BlobServiceClient:
    return BlobServiceClient(
        azurite.blob_endpoint,
        credential={"account_name": azurite.account_name, "account_key": key or azurite.account_key},
        retry_total=0,
    )


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_generated_keys_are_random_storage_keys() -> None:
    first, second = generate_account_key(), generate_account_key()
    assert first != second
    assert len(base64.b64decode(first)) == 64


def test_azurite_keeps_blobs_across_restarts_and_rejects_other_keys(tmp_path: Path) -> None:
    data_dir = tmp_path / "azurite"
    first = Azurite(data_dir, account_name="teststore")
    with first:
        assert first.blob_endpoint == f"http://127.0.0.1:{first.port}/teststore"
        assert first.pid is not None
        assert first.account_key and first.account_key != Azurite(data_dir).account_key
        _service(first).create_container("kept").upload_blob("note.txt", b"survives restarts")
        with pytest.raises(HttpResponseError):
            list(_service(first, key=generate_account_key()).list_containers())
    assert not _port_open(first.port)
    assert not first.running

    with Azurite(data_dir, account_name="teststore", account_key=first.account_key) as second:
        blob = _service(second).get_blob_client("kept", "note.txt")
        assert blob.download_blob().readall() == b"survives restarts"
