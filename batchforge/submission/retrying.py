"""Bounded retries for Batch calls: which failures are worth retrying, how long to wait, and when to give up.

The engine turns off azure-core's own retry policy per call (``retry_total=0``) and retries here instead,
so there is exactly one retry loop, it is bounded by attempts *and* by the submission's overall deadline,
and it honours Retry-After on 429/503.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from azure.core.exceptions import (
    DecodeError,
    HttpResponseError,
    IncompleteReadError,
    ServiceRequestError,
    ServiceResponseError,
)

from batchforge.submission.errors import SubmissionError

T = TypeVar("T")
RetryDecision = Literal["retry", "out-of-attempts", "out-of-time"]

# Statuses the Batch service uses for "try again later": throttling, timeouts and transient server faults.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class DeadlineExceeded(SubmissionError):
    """The submission's overall deadline passed before the call could succeed."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one request: attempts and exponential backoff with full jitter."""

    max_attempts: int = 6
    base_delay_s: float = 0.2
    max_delay_s: float = 20.0
    request_timeout_s: float = 60.0
    connect_timeout_s: float = 10.0

    def backoff_s(self, attempt: int, retry_after_s: float | None, rng: random.Random) -> float:
        """Delay before retry number ``attempt`` (1-based); never shorter than the service's Retry-After."""
        ceiling = min(self.max_delay_s, self.base_delay_s * (2 ** (attempt - 1)))
        jittered = rng.uniform(0.0, ceiling)
        if retry_after_s is not None:
            # The service said when; add a little jitter so many workers do not return in lockstep.
            return retry_after_s + jittered * 0.1
        return jittered


class Deadline:
    """An absolute point in monotonic time that every request and backoff sleep is clipped to."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._ends_at = clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self._ends_at - self._clock())

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0.0


@dataclass(frozen=True)
class FailureKind:
    """How the engine should treat one failed request."""

    retryable: bool
    retry_after_s: float | None
    code: str
    message: str


def error_code(error: HttpResponseError) -> str:
    """The Batch error code (``JobExists``, ``TaskExists``, ``ServerBusy``, ...) or the HTTP status as text."""
    odata = getattr(error, "error", None)
    code = getattr(odata, "code", None) if odata is not None else None
    if code:
        return str(code)
    model = getattr(error, "model", None)
    code = getattr(model, "code", None) if model is not None else None
    if code:
        return str(code)
    return str(error.status_code or type(error).__name__)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def parse_retry_after(headers: Any) -> float | None:
    """Seconds to wait from ``retry-after-ms`` / ``Retry-After`` (seconds or an HTTP date); None when absent."""
    if headers is None:
        return None
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        value = headers.get(name)
        if value:
            try:
                return max(0.0, float(value) / 1000.0)
            except ValueError:
                pass
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def classify(error: BaseException) -> FailureKind:
    """Retryable: throttling, 5xx, timeouts, dropped connections and truncated bodies; everything else is final."""
    if isinstance(error, IncompleteReadError | DecodeError):
        # A response cut off mid-body: the request may have been applied; retrying is safe because the
        # engine treats TaskExists/JobExists for the same content as success.
        return FailureKind(True, None, "IncompleteResponse", _first_line(str(error)))
    if isinstance(error, HttpResponseError):
        status = error.status_code or 0
        code = error_code(error)
        message = _first_line(str(getattr(getattr(error, "error", None), "message", None) or error.message or ""))
        response = getattr(error, "response", None)
        retry_after = parse_retry_after(getattr(response, "headers", None))
        return FailureKind(status in RETRYABLE_STATUSES or status >= 500, retry_after, code, message)
    if isinstance(error, ServiceRequestError | ServiceResponseError):
        # Connection refused/reset, timeouts, and responses that never arrived.
        return FailureKind(True, None, type(error).__name__, _first_line(str(error)))
    return FailureKind(False, None, type(error).__name__, _first_line(str(error)))


class Retrier:
    """Runs calls with the policy, the deadline and per-request timeouts; counts requests and retries."""

    def __init__(self, policy: RetryPolicy, deadline: Deadline, rng: random.Random | None = None) -> None:
        self.policy = policy
        self.deadline = deadline
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self.requests = 0
        self.retries = 0

    def count_request(self) -> None:
        with self._lock:
            self.requests += 1

    def call_options(self) -> dict[str, Any]:
        """Keyword arguments for one SDK call: no azure-core retries, timeouts clipped to the deadline."""
        remaining = self.deadline.remaining()
        return {
            "retry_total": 0,
            "connection_timeout": max(0.1, min(self.policy.connect_timeout_s, remaining)),
            "read_timeout": max(0.1, min(self.policy.request_timeout_s, remaining)),
        }

    def wait_before_retry(self, attempt: int, kind: FailureKind) -> RetryDecision:
        """Sleeps before retrying after failed attempt number ``attempt`` unless attempts or time run out."""
        if attempt >= self.policy.max_attempts:
            return "out-of-attempts"
        delay = self.policy.backoff_s(attempt, kind.retry_after_s, self._rng)
        if delay >= self.deadline.remaining():
            return "out-of-time"
        with self._lock:
            self.retries += 1
        time.sleep(delay)
        return "retry"

    def list_all(self, list_call: Callable[..., Any], *args: Any, **kwargs: Any) -> list[Any]:
        """Every item of a paged listing (``ItemPaged``), each page its own request with its own retries.

        Retrying the listing as one unit would start it over on any fault, so a listing of many pages could
        run out of attempts although every single request succeeds within them. Each page here is fetched from
        the continuation token of the page before, with the policy's attempts, within the shared deadline.
        """
        return list(self.iter_all(list_call, *args, **kwargs))

    def iter_all(self, list_call: Callable[..., Any], *args: Any, **kwargs: Any) -> Iterator[Any]:
        """:meth:`list_all` one page at a time: a reader that stops early requests no further pages."""
        token: str | None = None

        def fetch_page(continuation: str | None, **options: Any) -> tuple[list[Any], str | None]:
            pages = list_call(*args, **kwargs, **options).by_page(continuation_token=continuation)
            page = list(next(pages, []))
            return page, pages.continuation_token

        fetch_page.__name__ = f"{getattr(list_call, '__name__', 'list')} (paged)"
        while True:
            page, token = self.run(fetch_page, token)
            yield from page
            if not token:
                return

    def run(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Calls ``call(*args, **kwargs, **call_options())`` until it succeeds, fails for good, or time is up."""
        attempt = 1
        while True:
            if self.deadline.expired:
                raise DeadlineExceeded(f"deadline passed before {getattr(call, '__name__', 'call')} could run")
            self.count_request()
            try:
                return call(*args, **kwargs, **self.call_options())
            except Exception as error:
                kind = classify(error)
                if not kind.retryable:
                    raise
                decision = self.wait_before_retry(attempt, kind)
                if decision == "out-of-time":
                    raise DeadlineExceeded(f"deadline passed while retrying: {kind.code}: {kind.message}") from error
                if decision == "out-of-attempts":
                    raise
                attempt += 1
