"""The local service's own settings, kept in `<data dir>/localbatch.json`.

The account key is generated on first start and never leaves the data directory except through this
file (mode 0600), which is how tests and clients find it. The data directory is 0700 and every file the
service writes there (this one, `service.json`, `state.sqlite`, the logs) is 0600.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import BinaryIO

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
    # Batch's default is 100-300 per account (completed jobs and schedules do not count); `serve --active-job-quota`.
    active_job_and_schedule_quota: int = Field(default=100, ge=0)


PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) if needed; the folder itself is made owner-only (0700), also when an
    older version left it 0755."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    os.chmod(path, PRIVATE_DIR_MODE)
    return path


def make_private(path: Path) -> None:
    """Owner read/write only (0600), if the file exists."""
    with contextlib.suppress(FileNotFoundError):
        os.chmod(path, PRIVATE_FILE_MODE)


def open_private_log(path: Path) -> BinaryIO:
    """Append to a log that only the owner can read (0600, also when it existed with a wider mode)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE_MODE)
    os.fchmod(fd, PRIVATE_FILE_MODE)
    return os.fdopen(fd, "ab")


def write_private(path: Path, text: str) -> None:
    """Replace `path` with `text` atomically; the file is 0600 from the start."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    os.fchmod(fd, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    tmp.replace(path)


def generate_key() -> str:
    return base64.b64encode(secrets.token_bytes(64)).decode("ascii")


def config_path(data_dir: Path) -> Path:
    return data_dir / CONFIG_FILE


def load_or_create(data_dir: Path, account_name: str | None = None) -> ServiceConfig:
    """Read the data dir's config, creating it (with a fresh key) on first start."""
    private_dir(data_dir)
    path = config_path(data_dir)
    if path.exists():
        make_private(path)
        return ServiceConfig.model_validate_json(path.read_text())
    config = ServiceConfig(account_name=account_name or DEFAULT_ACCOUNT_NAME, account_key=generate_key())
    save(data_dir, config)
    return config


def save(data_dir: Path, config: ServiceConfig) -> None:
    write_private(config_path(data_dir), config.model_dump_json(indent=2))


def write_service_file(data_dir: Path, info: dict[str, object]) -> None:
    write_private(data_dir / SERVICE_FILE, json.dumps(info, indent=2))


def read_service_file(data_dir: Path) -> dict[str, object] | None:
    path = data_dir / SERVICE_FILE
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
