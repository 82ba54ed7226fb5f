"""Fixtures for the node-execution tests: one Azurite for the session, and a fresh node per test."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from batchforge.localbatch.azurite import Azurite
from batchforge.localbatch.execution import NodeContext, StorageAccess


@pytest.fixture(scope="session")
def azurite_execution(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    with Azurite(tmp_path_factory.mktemp("azurite-execution")) as azurite:
        yield azurite


@pytest.fixture
def execution_storage(azurite_execution: Azurite) -> StorageAccess:
    return StorageAccess(
        account_name=azurite_execution.account_name,
        account_key=azurite_execution.account_key,
        blob_endpoint=azurite_execution.blob_endpoint,
    )


@pytest.fixture
def execution_blob_service(azurite_execution: Azurite) -> BlobServiceClient:
    return BlobServiceClient(
        azurite_execution.blob_endpoint,
        credential={"account_name": azurite_execution.account_name, "account_key": azurite_execution.account_key},
    )


@pytest.fixture
def execution_offline_storage() -> StorageAccess:
    """Storage for tests that touch no blobs: nothing listens there."""
    return StorageAccess(
        account_name="nostorage", account_key="bm90LWEta2V5", blob_endpoint="http://127.0.0.1:9/nostorage"
    )


def _make_node(
    root: Path, storage: StorageAccess, *, node_id: str = "tvm-1_1-local", ip_address: str = "127.0.0.1"
) -> NodeContext:
    return NodeContext(
        account_name="localaccount",
        pool_id="pool-a",
        node_id=node_id,
        node_root=root / node_id,
        storage=storage,
        account_url="http://127.0.0.1:8123",
        ip_address=ip_address,
    )


@pytest.fixture
def execution_make_node(tmp_path: Path, execution_offline_storage: StorageAccess) -> Callable[..., NodeContext]:
    """Builds nodes under this test's tmp_path: ``execution_make_node(node_id=..., ip_address=...)``."""
    return functools.partial(_make_node, tmp_path, execution_offline_storage)


@pytest.fixture
def execution_node(tmp_path: Path, execution_offline_storage: StorageAccess) -> NodeContext:
    return _make_node(tmp_path, execution_offline_storage)


@pytest.fixture
def execution_storage_node(tmp_path: Path, execution_storage: StorageAccess) -> NodeContext:
    return _make_node(tmp_path, execution_storage)
