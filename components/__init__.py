"""Pulumi ComponentResources for Azure Batch: the shared platform and the pools."""

from components.platform import BatchPlatform, BatchPlatformArgs
from components.pool import BatchPool, BatchPoolArgs
from components.stack import build_stack

__all__ = ["BatchPlatform", "BatchPlatformArgs", "BatchPool", "BatchPoolArgs", "build_stack"]
