"""The Azurite launcher: a private account with a generated key, durable data, a clean stop."""

from __future__ import annotations

import base64
import os
import socket
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobServiceClient

from batchforge.localbatch.azurite import Azurite, PortTaken, generate_account_key


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


def test_azurite_restarts_on_its_port_while_a_client_still_holds_a_connection_to_the_old_one(tmp_path: Path) -> None:
    """The cause of the moving port: the old Azurite's side of an idle keep-alive stays in FIN-WAIT-2."""
    first = Azurite(tmp_path / "azurite", account_name="teststore")
    first.start()
    # An idle keep-alive connection, as a pooled HTTP client leaves it after one answered request.
    client = socket.create_connection(("127.0.0.1", first.port))
    client.sendall(b"GET /teststore?comp=list HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n")
    assert client.recv(65536).startswith(b"HTTP/1.1 ")
    try:
        first.stop()
        # A bind without SO_REUSEADDR is refused for a minute or more (what the old port probe did).
        with socket.socket() as plain_probe, pytest.raises(OSError):
            plain_probe.bind(("127.0.0.1", first.port))
        with Azurite(tmp_path / "azurite", port=first.port, account_name="teststore", account_key=first.account_key):
            assert _port_open(first.port)
    finally:
        client.close()


def test_a_port_held_by_another_process_is_refused_with_the_holder_named(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(PortTaken) as refused:
            Azurite(tmp_path / "azurite", port=port).start()
    message = str(refused.value)
    assert f"Port {port} is held by pid {os.getpid()} (" in message
    assert f"kill {os.getpid()}" in message and "--data-dir" in message
