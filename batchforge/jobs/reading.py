"""Reads of job state that survive throttling: the engine's retry loop, applied to the CLI's readers.

Every list the readers make goes page by page through :meth:`Retrier.iter_all`, so a 429/503 (with its
Retry-After) on page 40 of a 100,000-task listing retries that page, not the listing. Single reads
(a job, its task counts) go through :meth:`Retrier.run`. Each read gets its own deadline: ``wait``
reads again on every poll, and one slow read must not use up the next one's time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from batchforge.submission.retrying import Deadline, Retrier, RetryPolicy

T = TypeVar("T")

READ_POLICY = RetryPolicy()
READ_DEADLINE_S = 120.0


def _retrier() -> Retrier:
    return Retrier(READ_POLICY, Deadline(READ_DEADLINE_S))


def listed(list_call: Callable[..., Any], *args: Any, **kwargs: Any) -> Iterator[Any]:
    """The items of a paged SDK listing (``client.list_tasks``, ...), each page retried on its own."""
    return _retrier().iter_all(list_call, *args, **kwargs)


def read(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """One SDK read (``client.get_job``, ...) retried on throttling and transient faults."""
    return _retrier().run(call, *args, **kwargs)
