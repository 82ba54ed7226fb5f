"""Clients and credentials for a BatchTarget, and input uploads to the resources container (Azurite)."""

from __future__ import annotations

from pathlib import Path

import pytest
from azure.core.credentials import AzureNamedKeyCredential
from azure.identity import DefaultAzureCredential

from batchforge.assets.uploads import BlobUpload
from batchforge.localbatch.testing import LocalBatch
from batchforge.submission.blob_uploads import file_sha256, upload_inputs
from batchforge.submission.client import credential_for, make_batch_client, make_resources_container_client
from batchforge.submission.errors import SubmissionError
from batchforge.submission.target import BatchTarget, EntraIdAuth, SharedKeyAuth

KEY = "a2V5LW1hdGVyaWFs"


def _target(auth: SharedKeyAuth | EntraIdAuth) -> BatchTarget:
    return BatchTarget(
        account_endpoint="https://acct.westeurope.batch.azure.com",
        auth=auth,
        pool_ids={},
        resources_container_url="https://st.blob.core.windows.net/resources",
        outputs_container_url="https://st.blob.core.windows.net/outputs",
    )


def test_entra_id_uses_default_azure_credential_and_shared_key_a_named_key():
    assert isinstance(credential_for(EntraIdAuth()), DefaultAzureCredential)
    named = credential_for(SharedKeyAuth(account_name="local", account_key=KEY))
    assert isinstance(named, AzureNamedKeyCredential) and named.named_key == ("local", KEY)


def test_the_batch_client_points_at_the_account_and_the_key_stays_out_of_reprs():
    target = _target(SharedKeyAuth(account_name="local", account_key=KEY))

    client = make_batch_client(target)

    assert client._config.endpoint == "https://acct.westeurope.batch.azure.com"
    assert KEY not in repr(target) and KEY not in str(target.model_dump())


def test_inputs_upload_once_and_a_file_changed_since_planning_is_refused(local_batch: LocalBatch, tmp_path: Path):
    target = local_batch.target({}, resources_container="subm-uploads")
    container = make_resources_container_client(target)
    script = tmp_path / "run.sh"
    script.write_text("echo hi\n")
    upload = BlobUpload(local_path=script, blob_name=f"assets/{file_sha256(script)}/run.sh", sha256=file_sha256(script))

    first = upload_inputs([upload, upload], container)
    second = upload_inputs([upload], container)

    assert (first.uploaded, first.already_present) == (1, 0)
    assert (second.uploaded, second.already_present) == (0, 1)
    assert container.download_blob(upload.blob_name).readall() == b"echo hi\n"

    script.write_text("echo changed\n")
    stale = BlobUpload(local_path=script, blob_name="assets/other/run.sh", sha256=upload.sha256)
    with pytest.raises(SubmissionError, match="changed since the workload was planned"):
        upload_inputs([stale], container)
