"""The typed stack config: model, loading from ``Pulumi.<stack>.yaml`` / Pulumi config, naming rules."""

from batchforge.config.loading import (
    NAMESPACE,
    from_pulumi_config,
    load_stack_file,
    stack_file_name,
    to_pulumi_config,
    validate_stack_data,
)
from batchforge.config.model import (
    BatchAccountConfig,
    ContainerConfig,
    ImageConfig,
    MountConfig,
    NetworkConfig,
    PoolConfig,
    ResourceFileConfig,
    ResourceGroupConfig,
    ScaleConfig,
    StackConfig,
    StartTaskConfig,
    StorageConfig,
    iso_duration,
)
from batchforge.config.naming import pool_name

__all__ = [
    "NAMESPACE",
    "BatchAccountConfig",
    "ContainerConfig",
    "ImageConfig",
    "MountConfig",
    "NetworkConfig",
    "PoolConfig",
    "ResourceFileConfig",
    "ResourceGroupConfig",
    "ScaleConfig",
    "StackConfig",
    "StartTaskConfig",
    "StorageConfig",
    "from_pulumi_config",
    "iso_duration",
    "load_stack_file",
    "pool_name",
    "stack_file_name",
    "to_pulumi_config",
    "validate_stack_data",
]
