"""An upload of a repository file to the resources container, named by its content (see content_addressed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BlobUpload:
    """A local file that must exist as a blob in the resources container before tasks run."""

    local_path: Path
    blob_name: str
    sha256: str
