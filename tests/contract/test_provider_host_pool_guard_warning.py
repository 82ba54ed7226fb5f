"""A pool replacement warns in the preview: the guard's diff, in the real provider host (``python -m pulumi.dynamic``).

The program cannot see prior state; the guard's provider can: its Diff gets the old pool id (state) and the new
one (inputs), in ``pulumi preview`` as in ``up``. The host runs providers without an engine connection (its
``Settings`` name no engine), so ``pulumi.log.warn`` writes ``warning: ...`` to the host's stderr, and the engine
shows every line a plugin writes there in the run's diagnostics (``plugin.go``, ``runtrace``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pulumi
import pytest
from provider_host import (
    PROVIDER_KEY,
    REPO_ROOT,
    NotYetCreated,
    ProviderHost,
    Registration,
    host_environment,
    register_under_mocks,
)
from pulumi.runtime.proto import provider_pb2

from batchforge.providers.pool_guard import INPUT_KEYS, PoolGuard

ENDPOINT = "https://acct.westeurope.batch.azure.com"


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderHost]:
    elsewhere = tmp_path_factory.mktemp("guard-warning-host")
    assert not elsewhere.resolve().is_relative_to(REPO_ROOT)
    with ProviderHost(elsewhere, host_environment({}), elsewhere / "host.log") as h:
        h.configure()
        yield h


def declare_guard(pool_id: str, *, drain_s: float = 3600.0, preview: bool) -> Registration:
    def declare(platform: NotYetCreated) -> None:
        PoolGuard(
            "pool-cpu-guard",
            {
                "poolId": pool_id,
                "accountEndpoint": ENDPOINT,
                "authKind": "entra-id",
                "accountName": None,
                "drainTimeoutSeconds": drain_s,
                "readyTimeoutSeconds": 1500.0,
            },
            pulumi.ResourceOptions(depends_on=[platform]),
        )

    (registration,) = register_under_mocks(declare, preview=preview)
    return registration


def deployed_state(host: ProviderHost, registration: Registration) -> dict[str, object]:
    """The guard's state after its create: the inputs it keeps (create itself waits on Batch, not needed here)."""
    checked = host.check(registration, {}, registration.inputs)
    assert checked.failures == []
    return {**{key: checked.inputs.get(key) for key in INPUT_KEYS}, PROVIDER_KEY: checked.inputs[PROVIDER_KEY]}


def preview_diff(
    host: ProviderHost, old: Registration, state: dict[str, object], new: Registration
) -> provider_pb2.DiffResponse:
    checked = host.check(new, old.inputs, new.inputs)
    assert checked.failures == []
    return host.diff(new, str(state["poolId"]), old.inputs, state, checked.inputs)


def host_stderr_after(host: ProviderHost, offset: int) -> str:
    time.sleep(0.2)  # the host writes unbuffered (-u); give the pipe to the log file a moment
    return Path(host.log_path).read_text(errors="replace")[offset:]


def log_size(host: ProviderHost) -> int:
    path = Path(host.log_path)
    return len(path.read_text(errors="replace")) if path.exists() else 0


def test_preview_of_a_pool_replacement_warns_that_both_pools_need_their_cores(host: ProviderHost) -> None:
    old = declare_guard("bforge-dev-cpu-1a2b3c4d", drain_s=5400.0, preview=False)
    state = deployed_state(host, old)
    new = declare_guard("bforge-dev-cpu-9f8e7d6c", preview=True)
    before = log_size(host)

    diff = preview_diff(host, old, state, new)

    assert diff.changes == provider_pb2.DiffResponse.DIFF_SOME
    assert list(diff.replaces) == ["poolId"] and not diff.deleteBeforeReplace
    written = host_stderr_after(host, before)
    warnings = [line for line in written.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1, written
    (warning,) = warnings
    assert "pool bforge-dev-cpu-1a2b3c4d will be replaced by bforge-dev-cpu-9f8e7d6c" in warning
    assert "cores of both pools" in warning
    assert "drainTimeout of 5400s" in warning
    # Nothing was sent to the engine's Log service: the host has no engine connection; stderr is the channel.
    assert host.engine is not None and host.engine.logs == []


def test_preview_of_an_unchanged_pool_or_a_new_drain_timeout_warns_nothing(host: ProviderHost) -> None:
    old = declare_guard("bforge-dev-cpu-1a2b3c4d", preview=False)
    state = deployed_state(host, old)
    before = log_size(host)

    same = preview_diff(host, old, state, declare_guard("bforge-dev-cpu-1a2b3c4d", preview=True))
    longer_drain = preview_diff(host, old, state, declare_guard("bforge-dev-cpu-1a2b3c4d", drain_s=9000, preview=True))

    assert same.changes == provider_pb2.DiffResponse.DIFF_NONE and list(same.replaces) == []
    assert longer_drain.changes == provider_pb2.DiffResponse.DIFF_SOME and list(longer_drain.replaces) == []
    assert "warning: " not in host_stderr_after(host, before)
