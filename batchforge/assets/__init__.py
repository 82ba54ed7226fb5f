"""Content-addressed blob names for local files and folders (no Pulumi, no Azure calls)."""

from batchforge.assets.confinement import OutsideRepository, outside_repository, source_escape
from batchforge.assets.content_addressed import (
    LocalAsset,
    content_blob_name,
    expand_source,
    expand_sources,
    sha256_file,
)

__all__ = [
    "LocalAsset",
    "OutsideRepository",
    "content_blob_name",
    "expand_source",
    "expand_sources",
    "outside_repository",
    "sha256_file",
    "source_escape",
]
