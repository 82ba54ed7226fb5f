"""Shared fixtures: the local Batch service (with Azurite) for end-to-end tests.

- `local_batch`: one service for the whole session (pools/jobs there are shared: use unique ids).
- `local_batch_factory`: start a private service (own data dir), e.g. for restart or fault tests;
  everything it started is stopped at the end of the test.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from batchforge.localbatch.testing import LocalBatch

# Property tests check properties, not speed: on a loaded machine (CI's 2 cores, parallel workers) hypothesis's
# default 200 ms per-example deadline and its too-slow health check fail them for reasons that are not theirs.
settings.register_profile("batchforge", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("batchforge")


@pytest.fixture(scope="session")
def local_batch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBatch]:
    with LocalBatch.start(tmp_path_factory.mktemp("localbatch")) as batch:
        # The whole suite shares this account and many tests leave jobs active (tasks queued on pools that
        # do not exist): Batch's default quota of 100 active jobs would fail unrelated tests late in a run.
        # The quota's own tests use a private service (local_batch_factory) with their own limit.
        batch.set_active_job_quota(100_000)
        yield batch


@pytest.fixture
def local_batch_factory(tmp_path: Path) -> Iterator[Callable[[], LocalBatch]]:
    started: list[LocalBatch] = []
    numbers = itertools.count()

    def start() -> LocalBatch:
        batch = LocalBatch(tmp_path / f"localbatch-{next(numbers)}")
        batch.launch()
        started.append(batch)
        return batch

    yield start
    for batch in started:
        batch.shutdown()


@pytest.fixture(autouse=True)
def _main_thread_event_loop() -> None:
    """Gives each test a current event loop in the main thread.

    Pulumi's mock runtime creates futures through ``asyncio.get_event_loop()``; an earlier test's
    ``asyncio.run()`` leaves the main thread with none set, which only shows when areas run together.
    """
    try:
        asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())
