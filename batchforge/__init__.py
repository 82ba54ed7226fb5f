"""batchforge: Azure Batch as code - Pulumi components, workload submission and a local Batch service."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("batchforge")
except PackageNotFoundError:  # imported from a checkout that was never installed
    __version__ = "0.0.0+unknown"
