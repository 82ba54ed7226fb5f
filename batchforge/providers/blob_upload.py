"""Uploads one local file to a blob with Entra ID (or, locally, Shared Key), as a Pulumi resource.

The storage account has shared-key access disabled, and azure-native's ``storage.Blob`` reads the
account keys to upload (pulumi/pulumi-azure-native#2015), so it cannot write to it. This dynamic
resource uploads with Entra ID (``submission.credentials``) instead: the identity running ``pulumi up`` needs
Storage Blob Data Contributor on the container, which ``BatchPlatform`` grants to the deployer.

Blob names are content-addressed (``blob_assets``): a new content hash is a new blob name, hence a
new resource; the old blob is deleted once nothing references it.

Against Azurite (the local Batch service's storage) the inputs say ``blobAuthKind: shared-key`` and carry the
account name (``storageAccountName``); the key is read when the provider runs, from the environment variable
``BATCHFORGE_LOCAL_STORAGE_KEY``, so it is never in the inputs, the state or the pickled provider. Without
``blobAuthKind`` the upload uses Entra ID, and an Azure stack's inputs are what they always were.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi.dynamic
from pulumi.output import Unknown

from batchforge.providers.workload_submission import LOCAL_STORAGE_KEY_ENV

_INPUT_KEYS = ("account_url", "container_name", "blob_name", "local_path", "sha256")
# Role assignments take a few minutes to reach the storage data plane after they are created.
_RBAC_PROPAGATION_SECONDS = 300
BLOB_AUTH_KINDS = ("entra-id", "shared-key")


def _shared_key_credential(props: dict[str, Any]) -> Any:
    from azure.core.credentials import AzureNamedKeyCredential

    key = os.environ.get(LOCAL_STORAGE_KEY_ENV)
    account_name = props.get("storageAccountName")
    if not key or not account_name:
        raise RuntimeError(
            f"shared-key uploads (Azurite only) need storageAccountName in the inputs and the key in the "
            f"environment variable {LOCAL_STORAGE_KEY_ENV} of the process running pulumi"
        )
    return AzureNamedKeyCredential(account_name, key)


def _blob_client(props: dict[str, Any]) -> Any:
    from azure.storage.blob import BlobClient

    from batchforge.submission.credentials import azure_credential

    if props.get("blobAuthKind") == "shared-key":
        return BlobClient(
            account_url=props["account_url"],
            container_name=props["container_name"],
            blob_name=props["blob_name"],
            credential=_shared_key_credential(props),
        )
    return BlobClient(
        account_url=props["account_url"],
        container_name=props["container_name"],
        blob_name=props["blob_name"],
        credential=azure_credential(),
    )


def _upload(
    props: dict[str, Any],
    *,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> str:
    from azure.core.exceptions import HttpResponseError
    from azure.storage.blob import ContentSettings

    from batchforge.submission.client import forbidden_kind, private_network_error

    now = clock or time.monotonic
    wait = sleep or time.sleep
    client = _blob_client(props)
    deadline = now() + _RBAC_PROPAGATION_SECONDS
    while True:
        try:
            with open(props["local_path"], "rb") as handle:
                client.upload_blob(
                    handle,
                    overwrite=True,
                    metadata={"sha256": props["sha256"]},
                    content_settings=ContentSettings(content_type="application/octet-stream"),
                )
            return str(client.url)
        except HttpResponseError as exc:
            forbidden = forbidden_kind(exc)
            if forbidden is not None and forbidden.kind == "network":
                # Outside the account's network: waiting for role propagation would only delay the same answer.
                raise private_network_error(exc, forbidden) from exc
            # Role assignments propagate; a shared key (Azurite) is right or wrong at once.
            propagating = props.get("blobAuthKind") != "shared-key"
            if forbidden is not None and propagating and now() < deadline:
                wait(15)
                continue
            raise


class _ContentAddressedBlobProvider(pulumi.dynamic.ResourceProvider):
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        # In a preview, values from resources not created yet are unknown: nothing to check in them yet.
        kind = news.get("blobAuthKind")
        failures = []
        if not isinstance(kind, Unknown) and kind not in (None, *BLOB_AUTH_KINDS):
            failures.append(pulumi.dynamic.CheckFailure("blobAuthKind", "must be entra-id or shared-key"))
        if kind == "shared-key" and news.get("storageAccountName") in (None, ""):
            failures.append(pulumi.dynamic.CheckFailure("storageAccountName", "is required for shared-key"))
        return pulumi.dynamic.CheckResult(news, failures)

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        url = _upload(props)
        return pulumi.dynamic.CreateResult(id_=url, outs={**props, "url": url})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        # Names are content-addressed: any change is a different blob, never an in-place update. How the
        # provider authenticates is not the blob, so blobAuthKind and storageAccountName are not compared.
        changed = [key for key in _INPUT_KEYS if key != "local_path" and olds.get(key) != news.get(key)]
        return pulumi.dynamic.DiffResult(changes=bool(changed), replaces=changed, delete_before_replace=False)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        with contextlib.suppress(ResourceNotFoundError):
            _blob_client(props).delete_blob()


class ContentAddressedBlob(pulumi.dynamic.Resource, module="storage", name="ContentAddressedBlob"):
    """A blob in ``container_name`` holding the bytes of ``local_path`` (whose hash is ``sha256``).

    ``blob_auth_kind="shared-key"`` with ``storage_account_name`` uploads with the key from
    ``BATCHFORGE_LOCAL_STORAGE_KEY`` (Azurite); the default is Entra ID.
    """

    url: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        account_url: pulumi.Input[str],
        container_name: pulumi.Input[str],
        blob_name: str,
        local_path: str,
        sha256: str,
        blob_auth_kind: str | None = None,
        storage_account_name: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            _ContentAddressedBlobProvider(),
            resource_name,
            {
                "account_url": account_url,
                "container_name": container_name,
                "blob_name": blob_name,
                "local_path": local_path,
                "sha256": sha256,
                # None (Entra ID) is left out of the inputs, so Azure stacks see no change from this option.
                "blobAuthKind": blob_auth_kind,
                "storageAccountName": storage_account_name,
                "url": None,
            },
            opts,
        )
