"""Uploads one local file to a blob with Entra ID, as a Pulumi resource.

The storage account has shared-key access disabled, and azure-native's ``storage.Blob`` reads the
account keys to upload (pulumi/pulumi-azure-native#2015), so it cannot write to it. This dynamic
resource uploads with Entra ID (``submission.credentials``) instead: the identity running ``pulumi up`` needs
Storage Blob Data Contributor on the container, which ``BatchPlatform`` grants to the deployer.

Blob names are content-addressed (``blob_assets``): a new content hash is a new blob name, hence a
new resource; the old blob is deleted once nothing references it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi.dynamic

_INPUT_KEYS = ("account_url", "container_name", "blob_name", "local_path", "sha256")
# Role assignments take a few minutes to reach the storage data plane after they are created.
_RBAC_PROPAGATION_SECONDS = 300


def _blob_client(props: dict[str, Any]) -> Any:
    from azure.storage.blob import BlobClient

    from batchforge.submission.credentials import azure_credential

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
            if forbidden is not None and now() < deadline:
                wait(15)
                continue
            raise


class _ContentAddressedBlobProvider(pulumi.dynamic.ResourceProvider):
    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        url = _upload(props)
        return pulumi.dynamic.CreateResult(id_=url, outs={**props, "url": url})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        # Names are content-addressed: any change is a different blob, never an in-place update.
        changed = [key for key in _INPUT_KEYS if key != "local_path" and olds.get(key) != news.get(key)]
        return pulumi.dynamic.DiffResult(changes=bool(changed), replaces=changed, delete_before_replace=False)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        with contextlib.suppress(ResourceNotFoundError):
            _blob_client(props).delete_blob()


class ContentAddressedBlob(pulumi.dynamic.Resource, module="storage", name="ContentAddressedBlob"):
    """A blob in ``container_name`` holding the bytes of ``local_path`` (whose hash is ``sha256``)."""

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
                "url": None,
            },
            opts,
        )
