"""Per-second load windows and the load SLIs computed from them. Pure: no Locust here.

A :class:`LoadWindow` holds every request that *completed* in one unix second, as
counts and a latency histogram. Histograms are exact enough to merge without loss of
meaning: each latency is kept in integer microseconds rounded to three significant
digits (HDR-style), so a bucket is never more than 0.5 % (half a unit of the third
digit) away from the latency it stands for, and latencies under 1 ms are kept to the
microsecond. Merging windows (across seconds, or across Locust workers) just adds
counts, so a percentile over a merged window is the percentile over every request in
it, not an average of per-second percentiles.

The histogram covers failed requests too, as Locust's own statistics do.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from chaos.spec.steady import LoadMetric

MAX_ERROR_KINDS = 20
OTHER_ERRORS = "other"


def bucket_us(response_time_ms: float) -> int:
    """Latency in integer µs, rounded to 3 significant digits (exact µs below 1000 µs).

    1.2345 ms → 1230, 56.789 ms → 56800, 0.4567 ms → 457. Negative (and NaN) → 0.
    """
    us = response_time_ms * 1000.0
    if not us >= 0.0:  # also catches NaN
        return 0
    if us < 1000.0:
        return int(us + 0.5)
    scale = 10
    limit = 10_000.0
    while us >= limit:
        scale *= 10
        limit *= 10.0
    return int(us / scale + 0.5) * scale


def cap_errors(errors: Mapping[str, int]) -> dict[str, int]:
    """At most :data:`MAX_ERROR_KINDS` messages: the most frequent ones, the rest as "other".

    A window must stay small whatever the failures look like (a message with a
    request id in it would otherwise make every failure a new key).
    """
    named = sorted(
        ((message, count) for message, count in errors.items() if message != OTHER_ERRORS),
        key=lambda item: (-item[1], item[0]),
    )
    kept = dict(named[:MAX_ERROR_KINDS])
    other = errors.get(OTHER_ERRORS, 0) + sum(count for _, count in named[MAX_ERROR_KINDS:])
    if other:
        kept[OTHER_ERRORS] = other
    return kept


@dataclass(frozen=True)
class LoadWindow:
    """Every request that completed in one unix second (``second``), as counts."""

    second: int
    requests: int
    failures: int
    histogram: Mapping[int, int] = field(default_factory=dict)  # bucket µs → requests
    errors: Mapping[str, int] = field(default_factory=dict)  # failure message → count
    users: int | None = None  # users running at the end of the second, when known

    def __post_init__(self) -> None:
        object.__setattr__(self, "histogram", MappingProxyType(dict(self.histogram)))
        object.__setattr__(self, "errors", MappingProxyType(cap_errors(self.errors)))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; histogram keys become strings (JSON object keys)."""
        return {
            "second": self.second,
            "requests": self.requests,
            "failures": self.failures,
            "histogram": {str(bucket): count for bucket, count in self.histogram.items()},
            "errors": dict(self.errors),
            "users": self.users,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LoadWindow:
        """The inverse of :meth:`to_json` (extra keys, such as a line's "type", are ignored)."""
        users = data.get("users")
        return cls(
            second=int(data["second"]),
            requests=int(data["requests"]),
            failures=int(data["failures"]),
            histogram={int(bucket): int(count) for bucket, count in data["histogram"].items()},
            errors={str(message): int(count) for message, count in data["errors"].items()},
            users=None if users is None else int(users),
        )


def merge_windows(windows: Iterable[LoadWindow]) -> LoadWindow:
    """One window holding every request of ``windows``.

    ``second`` is the latest second; ``users`` the last known user count (in the
    order given), because users are a level, not a sum. Raises ValueError when empty.
    """
    histogram: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    requests = failures = 0
    second: int | None = None
    users: int | None = None
    for window in windows:
        requests += window.requests
        failures += window.failures
        histogram.update(window.histogram)
        errors.update(window.errors)
        second = window.second if second is None else max(second, window.second)
        if window.users is not None:
            users = window.users
    if second is None:
        raise ValueError("no load windows to merge")
    return LoadWindow(second, requests, failures, dict(histogram), dict(errors), users)


def percentile_ms(histogram: Mapping[int, int], q: float) -> float:
    """Nearest-rank percentile ``q`` (0..100) of a histogram, in ms; NaN when empty.

    Nearest rank: the smallest bucket with at least ``ceil(q/100 * n)`` requests at or
    below it (rank at least 1), so the answer is always a latency that was observed
    (to bucket precision), never an interpolation. ``q=100`` is the maximum.
    """
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    total = sum(histogram.values())
    if total <= 0:
        return math.nan
    # q in millionths of a percent keeps ceil() exact: 0.99 * 100 must not become 99.000…01.
    rank = max(1, -(-round(q * 1_000_000) * total // 100_000_000))
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return bucket / 1000.0
    return max(histogram) / 1000.0  # unreachable with positive counts; keeps the type


def _percentile(q: float) -> Callable[[LoadWindow, int], float]:
    return lambda window, seconds: percentile_ms(window.histogram, q)


def _throughput(window: LoadWindow, seconds: int) -> float:
    return window.requests / seconds


def _error_ratio(window: LoadWindow, seconds: int) -> float:
    return window.failures / window.requests if window.requests else math.nan


def _latency_max(window: LoadWindow, seconds: int) -> float:
    buckets = [bucket for bucket, count in window.histogram.items() if count > 0]
    return max(buckets) / 1000.0 if buckets else math.nan


METRICS: dict[LoadMetric, Callable[[LoadWindow, int], float]] = {
    LoadMetric.THROUGHPUT: _throughput,
    LoadMetric.ERROR_RATIO: _error_ratio,
    LoadMetric.LATENCY_P50: _percentile(50),
    LoadMetric.LATENCY_P90: _percentile(90),
    LoadMetric.LATENCY_P95: _percentile(95),
    LoadMetric.LATENCY_P99: _percentile(99),
    LoadMetric.LATENCY_MAX: _latency_max,
}


def load_metric(windows: Sequence[LoadWindow], metric: LoadMetric, *, seconds: int) -> float:
    """The value of ``metric`` over every request in ``windows``.

    ``seconds`` is the length of the span the windows cover, counting seconds in which
    no request completed (they have no window, or an empty one): throughput is
    requests per second of that span. Ratios and latencies without requests are NaN.
    """
    if seconds < 1:
        raise ValueError(f"a load metric covers at least one second, got {seconds}")
    merged = merge_windows(windows) if windows else LoadWindow(0, 0, 0)
    return METRICS[metric](merged, seconds)
