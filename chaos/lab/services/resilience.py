"""The resilience patterns of the lab's resilient variant, one small piece each.

- Timeout: never wait longer than the caller can afford (the constants below).
- Retry with exponential backoff and full jitter: ``retry_with_backoff``.
- Circuit breaker: ``CircuitBreaker``.
- Fallback to the last good answer (graceful degradation): ``LastGood``.
- Failover across replicas: ``RoundRobin`` feeds the retries a different replica each time.

The fragile variant uses none of these; compare ``api.py`` and ``web.py`` side by side.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Generic, TypeVar

T = TypeVar("T")

# Pattern: Timeout. Each hop waits less than the hop above it, so a slow store is turned
# into a fast error (and a fallback) before the web's own caller gives up.
API_TO_STORE_TIMEOUT_S = 0.25
WEB_TO_API_TIMEOUT_S = 0.6
# The web's whole answer must fit in this budget, retries and backoff included.
WEB_BUDGET_S = 0.7
WEB_ATTEMPTS = 3
BACKOFF_BASE_S = 0.02


def retry_with_backoff(
    call: Callable[[float], T],
    *,
    attempts: int,
    base_s: float,
    budget_s: float,
    retry_on: tuple[type[Exception], ...],
) -> T:
    """Pattern: Retry with exponential backoff and full jitter.

    ``call(timeout_s)`` is tried up to ``attempts`` times. Between tries we sleep a random
    time in [0, base * 2**n] ("full jitter", so retrying clients do not stampede in step),
    and we never exceed ``budget_s`` overall: each try gets only the time that is left.
    """
    deadline = time.monotonic() + budget_s
    for attempt in range(attempts):
        remaining = deadline - time.monotonic()
        try:
            return call(remaining)
        except retry_on:
            if attempt == attempts - 1:
                raise
        pause = random.uniform(0, base_s * 2**attempt)
        if deadline - time.monotonic() - pause < 0.05:  # no time left for a useful try
            break
        time.sleep(pause)
    raise TimeoutError(f"retry budget of {budget_s}s exhausted")


class BreakerState(StrEnum):
    CLOSED = "closed"  # calls flow
    OPEN = "open"  # calls fail at once, the dependency gets time to recover
    HALF_OPEN = "half-open"  # one trial call decides between closed and open


class CircuitOpenError(Exception):
    """The breaker is open: the call was not even attempted."""


class CircuitBreaker:
    """Pattern: Circuit breaker.

    After ``failure_threshold`` consecutive failures the circuit opens and calls fail
    immediately, instead of each one waiting for a timeout on a dependency that is down.
    After ``reset_timeout_s`` one trial call is let through (half-open): success closes
    the circuit, failure opens it again.
    """

    def __init__(self, *, failure_threshold: int = 3, reset_timeout_s: float = 2.0) -> None:
        self._threshold = failure_threshold
        self._reset_timeout_s = reset_timeout_s
        self._failures = 0
        self._opened_at = 0.0
        self._state = BreakerState.CLOSED
        self._lock = threading.Lock()  # requests arrive on many threads

    @property
    def state(self) -> BreakerState:
        return self._state

    def call(self, fn: Callable[[], T]) -> T:
        with self._lock:
            if self._state is BreakerState.HALF_OPEN:
                raise CircuitOpenError("a trial call is already in flight")
            if self._state is BreakerState.OPEN:
                if time.monotonic() - self._opened_at < self._reset_timeout_s:
                    raise CircuitOpenError("circuit open")
                self._state = BreakerState.HALF_OPEN
        try:
            result = fn()
        except Exception:
            self._record_failure()
            raise
        with self._lock:
            self._failures, self._state = 0, BreakerState.CLOSED
        return result

    def _record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._state is BreakerState.HALF_OPEN or self._failures >= self._threshold:
                self._state, self._opened_at = BreakerState.OPEN, time.monotonic()


class LastGood(Generic[T]):
    """Pattern: Fallback (graceful degradation) to the last good answer.

    Slightly stale data, clearly flagged ``"degraded": true``, is better for a shop page
    than an error. Nothing cached yet means there is nothing honest to fall back on.
    """

    def __init__(self) -> None:
        self._value: T | None = None
        self._lock = threading.Lock()

    def remember(self, value: T) -> None:
        with self._lock:
            self._value = value

    def recall(self) -> T | None:
        with self._lock:
            return self._value


class RoundRobin(Generic[T]):
    """Pattern: Failover. Each call starts at the next replica, and each retry moves on,
    so a dead replica costs one fast failure rather than the whole request."""

    def __init__(self, items: Sequence[T]) -> None:
        self._items = list(items)
        self._counter = itertools.count()
        self._lock = threading.Lock()

    def next(self) -> T:
        with self._lock:
            return self._items[next(self._counter) % len(self._items)]
