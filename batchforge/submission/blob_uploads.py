"""Uploading a planned job's local input files to the resources container, skipping blobs already there."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import ContainerClient

from batchforge.assets.uploads import BlobUpload
from batchforge.submission.errors import SubmissionError
from batchforge.submission.result import UploadResult

# Blob metadata key holding the sha256 of the blob's content, so a re-run can skip it without downloading.
SHA256_METADATA_KEY = "sha256"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def _upload_one(container: ContainerClient, upload: BlobUpload) -> bool:
    """Uploads one file unless a blob with the same content hash exists; True when it uploaded."""
    blob = container.get_blob_client(upload.blob_name)
    try:
        existing = blob.get_blob_properties()
    except ResourceNotFoundError:
        existing = None
    if existing is not None and (existing.metadata or {}).get(SHA256_METADATA_KEY) == upload.sha256:
        return False
    # The plan names blobs by content; a file edited between planning and upload would break that promise.
    actual = file_sha256(upload.local_path)
    if actual != upload.sha256:
        raise SubmissionError(
            f"{upload.local_path}: changed since the workload was planned (sha256 {actual}, expected {upload.sha256})"
        )
    with upload.local_path.open("rb") as stream:
        blob.upload_blob(stream, overwrite=True, metadata={SHA256_METADATA_KEY: upload.sha256})
    return True


def upload_inputs(uploads: Sequence[BlobUpload], container: ContainerClient, *, concurrency: int = 8) -> UploadResult:
    """Makes every planned upload present in the container; blobs with the same content hash are left alone."""
    unique = list({upload.blob_name: upload for upload in uploads}.values())
    if not unique:
        return UploadResult()
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(unique)))) as pool:
        outcomes = list(pool.map(lambda upload: _upload_one(container, upload), unique))
    uploaded = sum(outcomes)
    return UploadResult(uploaded=uploaded, already_present=len(unique) - uploaded)
