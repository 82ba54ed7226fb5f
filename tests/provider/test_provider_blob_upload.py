"""The start-task upload provider: content-addressed replace semantics, upload and delete calls."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from batchforge.providers import blob_upload


class FakeBlobClient:
    def __init__(self, fail_first: int = 0) -> None:
        self.uploads: list[tuple[bytes, dict[str, Any]]] = []
        self.deleted = 0
        self.fail_first = fail_first
        self.url = "https://acct.blob.core.windows.net/resources/start-tasks/cpu/abc/x.sh"

    def upload_blob(self, data, **kwargs):
        if self.fail_first:
            self.fail_first -= 1
            error = HttpResponseError(message="AuthorizationPermissionMismatch")
            error.status_code = 403
            raise error
        self.uploads.append((data.read(), kwargs))

    def delete_blob(self):
        self.deleted += 1
        raise ResourceNotFoundError("gone already")


def _props(tmp_path, **changes) -> dict[str, Any]:
    script = tmp_path / "x.sh"
    script.write_text("echo hi\n")
    return {
        "account_url": "https://acct.blob.core.windows.net/",
        "container_name": "resources",
        "blob_name": "start-tasks/cpu/abc/x.sh",
        "local_path": str(script),
        "sha256": "abc",
        **changes,
    }


def test_create_uploads_the_file_with_its_hash(tmp_path, monkeypatch):
    client = FakeBlobClient()
    monkeypatch.setattr(blob_upload, "_blob_client", lambda props: client)
    result = blob_upload._ContentAddressedBlobProvider().create(_props(tmp_path))
    assert result.id == client.url and result.outs["url"] == client.url
    ((data, kwargs),) = client.uploads
    assert data == b"echo hi\n"
    assert kwargs["metadata"] == {"sha256": "abc"} and kwargs["overwrite"] is True


def test_create_waits_for_role_assignments_to_propagate(tmp_path, monkeypatch):
    client = FakeBlobClient(fail_first=2)
    monkeypatch.setattr(blob_upload, "_blob_client", lambda props: client)
    monkeypatch.setattr(blob_upload.time, "sleep", lambda seconds: None)
    blob_upload._ContentAddressedBlobProvider().create(_props(tmp_path))
    assert len(client.uploads) == 1


def test_create_gives_up_after_the_propagation_window(tmp_path, monkeypatch):
    client = FakeBlobClient(fail_first=1000)
    monkeypatch.setattr(blob_upload, "_blob_client", lambda props: client)
    monkeypatch.setattr(blob_upload, "_RBAC_PROPAGATION_SECONDS", 0)
    with pytest.raises(HttpResponseError):
        blob_upload._ContentAddressedBlobProvider().create(_props(tmp_path))


def test_any_content_change_is_a_replacement_and_a_moved_checkout_is_not(tmp_path):
    provider = blob_upload._ContentAddressedBlobProvider()
    old = _props(tmp_path)
    assert provider.diff("id", old, {**old, "local_path": "/elsewhere/x.sh"}).changes is False
    diff = provider.diff("id", old, {**old, "blob_name": "start-tasks/cpu/def/x.sh", "sha256": "def"})
    assert diff.changes is True and set(diff.replaces) == {"blob_name", "sha256"}
    assert diff.delete_before_replace is False


def test_delete_tolerates_a_missing_blob(tmp_path, monkeypatch):
    client = FakeBlobClient()
    monkeypatch.setattr(blob_upload, "_blob_client", lambda props: client)
    blob_upload._ContentAddressedBlobProvider().delete("id", _props(tmp_path))
    assert client.deleted == 1


def test_shared_key_mode_reads_the_key_from_the_environment_at_run_time(tmp_path, monkeypatch):
    from azure.core.credentials import AzureNamedKeyCredential

    monkeypatch.setenv(blob_upload.LOCAL_STORAGE_KEY_ENV, "a2V5LW1hdGVyaWFs")
    props = _props(
        tmp_path, account_url="http://127.0.0.1:1/acct", blobAuthKind="shared-key", storageAccountName="acct"
    )

    credential = blob_upload._shared_key_credential(props)
    client = blob_upload._blob_client(props)

    assert isinstance(credential, AzureNamedKeyCredential)
    assert (credential.named_key.name, credential.named_key.key) == ("acct", "a2V5LW1hdGVyaWFs")
    assert client.account_name == "acct" and client.url.endswith("/resources/start-tasks/cpu/abc/x.sh")


def test_shared_key_mode_without_the_key_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv(blob_upload.LOCAL_STORAGE_KEY_ENV, raising=False)
    props = _props(tmp_path, blobAuthKind="shared-key", storageAccountName="acct")

    with pytest.raises(RuntimeError, match="BATCHFORGE_LOCAL_STORAGE_KEY"):
        blob_upload._blob_client(props)


def test_how_the_provider_authenticates_is_not_a_change_of_the_blob(tmp_path):
    # State written before the shared-key mode existed has no blobAuthKind: that must not replace every blob.
    provider = blob_upload._ContentAddressedBlobProvider()
    old = _props(tmp_path)
    local = {**old, "blobAuthKind": "shared-key", "storageAccountName": "acct"}

    assert provider.diff("id", old, local).changes is False


def test_check_rejects_an_unknown_auth_kind_and_a_shared_key_without_account(tmp_path):
    from pulumi.output import Unknown

    provider = blob_upload._ContentAddressedBlobProvider()

    assert [
        (f.property, f.reason) for f in provider.check({}, {**_props(tmp_path), "blobAuthKind": "sas"}).failures
    ] == [("blobAuthKind", "must be entra-id or shared-key")]
    missing = provider.check({}, {**_props(tmp_path), "blobAuthKind": "shared-key"})
    assert [(f.property, f.reason) for f in missing.failures] == [("storageAccountName", "is required for shared-key")]
    assert provider.check({}, {**_props(tmp_path), "blobAuthKind": Unknown()}).failures == []
    assert provider.check({}, _props(tmp_path)).failures == []


def test_a_refused_shared_key_fails_at_once_instead_of_waiting_for_role_propagation(tmp_path, monkeypatch):
    client = FakeBlobClient(fail_first=1)
    slept: list[float] = []
    monkeypatch.setattr(blob_upload, "_blob_client", lambda props: client)
    props = _props(tmp_path, blobAuthKind="shared-key", storageAccountName="devstoreaccount1")
    with pytest.raises(HttpResponseError):
        blob_upload._upload(props, sleep=slept.append)
    assert slept == [] and client.uploads == []
