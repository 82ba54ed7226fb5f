"""The local service's own settings, kept in `<data dir>/localbatch.json`.

The account key is generated on first start and never leaves the data directory except through this
file (mode 0600), which is how tests and clients find it.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

CONFIG_FILE = "localbatch.json"
SERVICE_FILE = "service.json"
DEFAULT_ACCOUNT_NAME = "localbatch"


class FaultSettings(BaseModel):
    """Fractions of requests that misbehave, drawn from a seeded generator so runs repeat exactly."""

    model_config = ConfigDict(extra="forbid")
    seed: int = 0
    server_busy_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="503 ServerBusy before processing")
    throttle_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="429 with Retry-After before processing")
    retry_after_seconds: int = Field(default=1, ge=0)
    delay_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="requests delayed before processing")
    delay_seconds: float = Field(default=0.5, ge=0.0)
    drop_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="connection dropped after processing")
    path_pattern: str = Field(default="", description="regex on the request path; empty matches every path")
    methods: list[str] = Field(default_factory=list, description="HTTP methods affected; empty means all")
    max_faults: int | None = Field(default=None, ge=0, description="stop injecting after this many faults")


class StorageSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_name: str
    account_key: str
    blob_endpoint: str


class ServiceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_name: str = DEFAULT_ACCOUNT_NAME
    account_key: str
    storage: StorageSettings | None = None
    faults: FaultSettings = Field(default_factory=FaultSettings)
    node_heartbeat_seconds: float = 1.0


def generate_key() -> str:
    return base64.b64encode(secrets.token_bytes(64)).decode("ascii")


def config_path(data_dir: Path) -> Path:
    return data_dir / CONFIG_FILE


def load_or_create(data_dir: Path, account_name: str | None = None) -> ServiceConfig:
    """Read the data dir's config, creating it (with a fresh key) on first start."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = config_path(data_dir)
    if path.exists():
        return ServiceConfig.model_validate_json(path.read_text())
    config = ServiceConfig(account_name=account_name or DEFAULT_ACCOUNT_NAME, account_key=generate_key())
    save(data_dir, config)
    return config


def save(data_dir: Path, config: ServiceConfig) -> None:
    path = config_path(data_dir)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(config.model_dump_json(indent=2))
    tmp.replace(path)


def write_service_file(data_dir: Path, info: dict[str, object]) -> None:
    (data_dir / SERVICE_FILE).write_text(json.dumps(info, indent=2))


def read_service_file(data_dir: Path) -> dict[str, object] | None:
    path = data_dir / SERVICE_FILE
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
